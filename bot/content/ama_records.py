"""The AMA records the bot writes back (``[content] ama``, one ``<episode>.md`` each), read
back once merged: `/episode` and `/recap` show how many questions the AMA answered, and
`amabot check` tells an author who edited a record by hand exactly what is wrong with it.

A record is Markdown with frontmatter (bot/render/ama_record.py writes it): ``kind:
ama-record``, ``episode``, ``counts`` (asked, answered, not_reached, ...), ``generated_by``.
Reading it uses the same defences and ``path:line:`` diagnostics as episodes and recaps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.content.frontmatter import Refused, decode, read_frontmatter
from bot.content.models import Problem

RECORD_KIND = "ama-record"
COUNTS = ("asked", "askers", "answered", "not_reached", "merged")


@dataclass(frozen=True, slots=True)
class AmaRecord:
    """A merged AMA record: which episode, and what it counts."""

    episode_id: str
    path: str  # relative to the content root
    answered: int
    asked: int
    not_reached: int
    series: str = ""


def parse_record(raw: bytes, rel: str) -> tuple[AmaRecord | None, list[Problem]]:
    """One record file -> the record, or None with the problems that stop it."""
    problems: list[Problem] = []
    text = decode(raw, rel, problems)
    if text is None:
        return None, problems
    try:
        fm = read_frontmatter(text)
    except Refused as exc:
        return None, [exc.problem(rel)]
    data = fm.data

    def line_of(key: str) -> int:
        for n, row in enumerate(fm.fm.splitlines(), start=2):
            if row.startswith(f"{key}:"):
                return n
        return 1

    def error(key: str, message: str, code: str) -> None:
        problems.append(Problem(rel, line_of(key), "error", message, code))

    if data.get("kind") != RECORD_KIND:
        error("kind", f"an AMA record needs `kind: {RECORD_KIND}`", "ama-kind")
    episode = data.get("episode")
    if not isinstance(episode, str | int) or not str(episode).strip():
        error("episode", "an AMA record needs `episode:` (the episode's id)", "ama-episode")
    counts = data.get("counts")
    numbers: dict[str, int] = {}
    if not isinstance(counts, dict):
        error(
            "counts",
            "`counts:` must be a mapping (asked, answered, not_reached, ...)",
            "ama-counts",
        )
    else:
        for key, value in counts.items():
            if key not in COUNTS:
                error("counts", f"unknown count `{key}` (known: {', '.join(COUNTS)})", "ama-counts")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                error("counts", f"`counts.{key}` must be a whole number of 0 or more", "ama-counts")
            else:
                numbers[key] = value
    if problems:
        return None, problems
    series = data.get("series")
    return (
        AmaRecord(
            episode_id=str(episode).strip(),
            path=rel,
            answered=numbers.get("answered", 0),
            asked=numbers.get("asked", 0),
            not_reached=numbers.get("not_reached", 0),
            series=str(series) if isinstance(series, str) else "",
        ),
        [],
    )


def load_records(
    root: Path, folder: str, episode_ids: Iterable[str]
) -> tuple[dict[str, AmaRecord], list[Problem]]:
    """Every record under ``root/folder``; a record of an unknown episode, or a second record
    of one, is a problem (the first by path wins)."""
    known = set(episode_ids)
    records: dict[str, AmaRecord] = {}
    problems: list[Problem] = []
    base = root / folder
    if not base.is_dir():
        return records, problems
    for path in sorted(base.rglob("*.md")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(Problem(rel, None, "error", f"cannot read: {exc.strerror}", "io"))
            continue
        record, found = parse_record(raw, rel)
        problems.extend(found)
        if record is None:
            continue
        if record.episode_id not in known:
            problems.append(
                Problem(
                    rel,
                    1,
                    "warning",
                    f"no episode `{record.episode_id}` for this AMA record",
                    "ama-orphan",
                )
            )
        if record.episode_id in records:
            first = records[record.episode_id].path
            problems.append(
                Problem(
                    rel,
                    1,
                    "error",
                    f"a second AMA record of `{record.episode_id}` (the first is {first})",
                    "ama-duplicate",
                )
            )
            continue
        records[record.episode_id] = record
    return records, problems
