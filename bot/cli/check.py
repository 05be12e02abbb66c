"""`amabot check`: load the content exactly as the bot does and print what is wrong.

Compiler-style lines (`path:line: error: message [code]`, the code a stable name for the
kind of problem, e.g. `yaml-syntax`) sorted by file and line,
then a `note: held:` line for each recap that will go out later (a date-only date goes out
when its day begins somewhere on Earth, a date and time at that moment), then a summary;
exit 0 when there are no errors (warnings allowed), 1 when there are, 2 when PATH is
unusable. Every series' content is checked (each diagnostic then names its series after
its severity: `path:line: error: talk-tuesdays: message`). With GITHUB_ACTIONS=true it
also prints workflow annotations so problems show up on the pull request's diff.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.content.identity import identity_problems
from bot.content.index import ContentIndex, problem_sort_key
from bot.content.models import Problem, Recap


def printable(text: str) -> str:
    """Control and format characters shown as escapes: a file name or a YAML key can hold
    ESC sequences, a carriage return or a right-to-left override, and printed raw they would
    repaint the terminal or forge a `path:line: error:` line of their own."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(problem: Problem, shown_path: str) -> str:
    """One GitHub Actions workflow command for a problem."""
    props = [f"file={_escape_property(printable(shown_path))}"]
    if problem.line:
        props.append(f"line={problem.line}")
    if problem.code:
        props.append(f"title={_escape_property(problem.code)}")
    return f"::{problem.severity} {','.join(props)}::{_escape_data(printable(problem.message))}"


@dataclass
class _Checked:
    """One series' content read as the bot reads it: its problems and held recaps."""

    series: Settings
    root: Path
    files: frozenset[str]
    episodes: int
    recaps: int
    problems: list[Problem]
    held: list[Recap]


def _check_one(target: Path, settings: Settings, now: datetime) -> _Checked:
    shown_root = target.parent if target.is_file() else target
    index = ContentIndex(shown_root, settings, only=target if target.is_file() else None)
    report = index.reload()
    # Recaps that share an identity (episode + day) could be mistaken for each other on a
    # rename: the bot keys announcements by it when a recap has no `id:`.
    shared = identity_problems(index.recaps(include_drafts=True))
    records = index.ama_problems() if index.is_content_root else []
    return _Checked(
        series=settings,
        root=shown_root,
        files=index.files,
        episodes=len(index.episodes()),
        recaps=len(index.recaps(include_drafts=True)),
        problems=sorted([*report.problems, *shared, *records], key=problem_sort_key),
        held=[r for r in index.recaps() if not r.is_published(now)],
    )


def _targets(path: Path | None, settings: Settings) -> list[tuple[Path, Settings]]:
    """What to check, with which series' settings: every series' content by default; a
    file with the series whose folders hold it (its zone and defaults), else the first."""
    shows = settings.shows()
    if path is None:
        return [(view.content.path, view) for view in shows]
    target = Path(path)
    if len(shows) > 1:
        try:
            resolved = target.resolve()
            for view in shows:
                root = view.content.path.resolve()
                if target.is_dir() and resolved == root:
                    return [(target, v) for v in shows if v.content.path.resolve() == root]
                for folder in (view.content.episodes, view.content.recaps, view.content.ama):
                    if resolved.is_relative_to(root / folder):
                        return [(target, view)]
        except (OSError, ValueError):
            pass
    return [(target, shows[0])]


def run_check(
    path: Path | None,
    *,
    settings: Settings,
    fmt: str = "text",
    out: TextIO = sys.stdout,
    environ: Mapping[str, str] = os.environ,
    clock: Clock = system_clock,
) -> int:
    """Check the content at `path` (a file or folder; default every series' configured
    content) and print the problems, and the recaps held until a later moment; exit 0, 1
    or 2. With several series, each diagnostic names its series after its severity."""
    targets = _targets(path, settings)
    for target, _view in targets:
        unusable = _unusable(target)
        if unusable:
            print(f"amabot check: {unusable}", file=sys.stderr)
            return 2
    now = clock()
    checked = [_check_one(target, view, now) for target, view in targets]
    several = len(settings.shows()) > 1
    shown_root = checked[0].root

    def shown_in(root: Path) -> Callable[[str], str]:
        def shown(path: str) -> str:
            if path in (".", ""):
                return str(root)
            return (root / path).as_posix() if str(root) not in ("", ".") else path

        return shown

    # (series id or "", the path as shown, the problem); a file two series share (an
    # authors file) is told once, under the first series.
    problems: list[tuple[str, str, Problem]] = []
    seen: set[tuple[str, int | None, str, str]] = set()
    held: list[tuple[str, str, Recap, ZoneInfo]] = []
    files: set[str] = set()
    for one in checked:
        shown = shown_in(one.root)
        label = one.series.series.id if several else ""
        for problem in one.problems:
            where = shown(problem.path)
            mark = (where, problem.line, problem.message, problem.code)
            if mark not in seen:
                seen.add(mark)
                problems.append((label, where, problem))
        zone = _series_zone(one.series)
        held += [(label, shown(r.path), r, zone) for r in one.held]
        files |= {shown(f) for f in one.files}
    if several:
        problems.sort(key=lambda lwp: (lwp[1], problem_sort_key(lwp[2])))
    errors = sum(1 for _s, _w, p in problems if p.severity == "error")
    counts = {"files": len(files), "errors": errors, "warnings": len(problems) - errors}
    if fmt == "json":
        doc: dict[str, object] = {
            "root": str(shown_root),
            "files_checked": counts["files"],
            "episodes": sum(c.episodes for c in checked),
            "recaps": sum(c.recaps for c in checked),
            "errors": errors,
            "warnings": counts["warnings"],
            "problems": [
                _problem_json(p, where) | ({"series": label} if label else {})
                for label, where, p in problems
            ],
            "held": [
                {"path": where, "goes_out": r.release_at.isoformat()}
                | ({"series": label} if label else {})
                for label, where, r, _zone in held
            ],
        }
        if several:
            doc["series"] = [
                {
                    "id": c.series.series.id,
                    "name": c.series.series.name,
                    "root": str(c.root),
                    "episodes": c.episodes,
                    "recaps": c.recaps,
                }
                for c in checked
            ]
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        _write_text(out, problems, held, counts)
    if environ.get("GITHUB_ACTIONS") == "true":
        for label, where, p in problems:
            out.write(annotation(_labelled(p, label), where) + "\n")
        for label, where, r, zone in held:
            at = f"file={_escape_property(printable(where))},line={r.line}"
            note = _series_said(label, held_note(r, zone))
            out.write(f"::notice {at}::{_escape_data(note)}\n")
    out.flush()
    return 1 if errors else 0


def _series_said(label: str, message: str) -> str:
    return f"{label}: {message}" if label else message


def _labelled(problem: Problem, label: str) -> Problem:
    return replace(problem, message=_series_said(label, problem.message)) if label else problem


def _unusable(target: Path) -> str | None:
    """Why `target` cannot be checked, or None."""
    if not target.exists() and not target.is_symlink():
        return f"{target}: no such file or folder"
    if target.exists() and not target.is_file() and not target.is_dir():
        return f"{printable(str(target))}: not a regular file (a pipe, socket or device)"
    return None


def _series_zone(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.series.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def held_note(recap: Recap, zone: ZoneInfo) -> str:
    """When a held recap will go out, and why it waits."""
    when = recap.release_at
    at = f"{when:%Y-%m-%d %H:%M} UTC ({when.astimezone(zone):%Y-%m-%d %H:%M} {zone.key})"
    if recap.release is not None:
        why = (
            f"its date {recap.published.astimezone(zone):%Y-%m-%d} has not begun anywhere "
            "on Earth yet (a date-only date goes out when its day begins in UTC+14)"
        )
    else:
        why = "its date and time are still ahead"
    return f"held: the recap goes out at {at}: {why}"


def _problem_json(p: Problem, path: str) -> dict[str, object]:
    return {
        "path": path,
        "line": p.line,
        "severity": p.severity,
        "message": p.message,
        "code": p.code,
    }


def _write_text(
    out: TextIO,
    problems: list[tuple[str, str, Problem]],
    held: list[tuple[str, str, Recap, ZoneInfo]],
    counts: Mapping[str, int],
) -> None:
    for label, shown, p in problems:
        where = printable(shown)
        where = f"{where}:{p.line}" if p.line else where
        code = f" [{p.code}]" if p.code else ""
        message = printable(_series_said(label, p.message))
        out.write(f"{where}: {p.severity}: {message}{code}\n")
    for label, shown, r, zone in held:
        note = _series_said(label, held_note(r, zone))
        out.write(f"{printable(shown)}:{r.line}: note: {note}\n")
    files, errors, warnings = counts["files"], counts["errors"], counts["warnings"]
    noun = "file" if files == 1 else "files"
    out.write(
        f"{files} {noun} checked: {errors} error{'s' if errors != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''}\n"
    )
