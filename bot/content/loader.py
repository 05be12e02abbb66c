"""Files -> episodes, recaps, authors and problems. One bad file never stops the others.

The entry point of loading (`parse_bytes`, `parse_text`); every function here returns what
it could load plus a list of `Problem`s and none raises on bad input. The rooms behind it:

- `frontmatter`: bytes -> text -> frontmatter data (python-frontmatter with PyYAML's C safe
  loader, and our limits on size, encoding, depth and aliases);
- `fields`: the diagnostics context and the field readers every kind of file shares;
- `episodes`, `recaps`, `authors`, `pages`: one kind of file each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.config import SeriesSettings
from bot.content.authors import load_speakers, parse_authors
from bot.content.episodes import parse_hub_episode, parse_native_episode
from bot.content.fields import Ctx, body_image_problems
from bot.content.frontmatter import (
    MAX_FILE_BYTES,
    NO_FRONTMATTER,
    Refused,
    decode,
    has_frontmatter,
    load_yaml,
    read_frontmatter,
)
from bot.content.models import Author, Episode, Problem, Recap
from bot.content.pages import check_schedule_page
from bot.content.recaps import parse_recap
from bot.content.text import parse_code

MAX_PROBLEMS_PER_FILE = 50

Kind = Literal["episode", "recap", "authors", "page", "ignored"]


@dataclass(slots=True)
class Parsed:
    """The outcome of loading one file."""

    kind: Kind
    item: Episode | Recap | Mapping[str, Author] | None = None
    problems: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- one file


def looks_like(data: Mapping[str, Any]) -> Kind:
    """Guess what a frontmatter mapping describes, for folders that are not a content root."""
    if "publishDate" in data or "segmentType" in data:
        return "episode"
    if "authors" in data and isinstance(data.get("authors"), dict):
        return "authors"
    if "episode" in data and ("season" in data or "livestream" in data):
        return "episode"
    if {"livestream", "ama", "guests", "hosts"} & data.keys():
        return "episode"
    if {"date", "draft", "authors", "categories", "episode"} & data.keys():
        return "recap"
    return "page"


def parse_text(
    text: str,
    rel: str,
    kind: Kind | Literal["auto"],
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None] = lambda _sid: None,
    *,
    pages: bool = False,
) -> Parsed:
    """Decoded text of one file -> Parsed. `kind` "auto" guesses from the fields."""
    return _capped(_parse_text(text, rel, kind, series, speaker, pages=pages))


def _parse_text(
    text: str,
    rel: str,
    kind: Kind | Literal["auto"],
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None] = lambda _sid: None,
    *,
    pages: bool = False,
) -> Parsed:
    """Decoded text of one file -> Parsed. `kind` "auto" guesses from the fields."""
    problems: list[Problem] = []
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    is_yaml = rel.endswith((".yaml", ".yml"))
    body, body_line = "", 1
    try:
        if is_yaml:
            fm, first_line = text, 1
            data = load_yaml(text, first_line)
        elif pages and not has_frontmatter(text):
            problems = check_schedule_page(text, rel) + body_image_problems(text, rel, 1)
            return Parsed("page", None, problems)
        else:
            read = read_frontmatter(text)
            fm, first_line, data = read.fm, 2, read.data
            body, body_line = read.body, read.body_line
    except Refused as refused:
        return Parsed("ignored", None, [refused.problem(rel)])
    ctx = Ctx(rel, fm, first_line, problems)
    if kind == "auto":
        kind = looks_like(data)
        if kind == "page":
            return Parsed("page", None, body_image_problems(body, rel, body_line))
    if kind == "authors":
        return Parsed("authors", parse_authors(data, ctx), problems)
    if kind == "episode":
        hub = is_yaml and ("publishDate" in data or "segmentType" in data or "episode" not in data)
        if hub:
            item: Episode | Recap | None = parse_hub_episode(data, ctx, stem, series, speaker)
        else:
            item = parse_native_episode(data, body, body_line, ctx, stem, series)
        return Parsed("episode", item, problems)
    return Parsed("recap", parse_recap(data, body, body_line, ctx, stem, series), problems)


def parse_bytes(
    raw: bytes,
    rel: str,
    kind: Kind | Literal["auto"],
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None] = lambda _sid: None,
    *,
    pages: bool = False,
) -> Parsed:
    problems: list[Problem] = []
    text = decode(raw, rel, problems)
    if text is None:
        return Parsed("ignored", None, problems)
    try:
        return parse_text(text, rel, kind, series, speaker, pages=pages)
    except Exception as exc:
        return Parsed(
            "ignored",
            None,
            [
                Problem(
                    rel,
                    None,
                    "error",
                    f"could not load this file: {type(exc).__name__}: {exc}",
                    "internal",
                )
            ],
        )


def _capped(parsed: Parsed) -> Parsed:
    """At most MAX_PROBLEMS_PER_FILE problems a file: 10,000 unknown fields or broken
    images are one mistake repeated, and a flood would bury every other file's report."""
    problems = parsed.problems
    if len(problems) > MAX_PROBLEMS_PER_FILE:
        rest = len(problems) - MAX_PROBLEMS_PER_FILE
        worst = "error" if any(p.severity == "error" for p in problems) else "warning"
        parsed.problems = [
            *problems[:MAX_PROBLEMS_PER_FILE],
            Problem(
                problems[0].path,
                None,
                worst,  # type: ignore[arg-type]
                f"{rest} more problem{'s' if rest != 1 else ''} in this file not shown",
                "too-many-problems",
            ),
        ]
    return parsed


__all__ = [
    "MAX_FILE_BYTES",
    "NO_FRONTMATTER",
    "Parsed",
    "check_schedule_page",
    "decode",
    "load_speakers",
    "parse_bytes",
    "parse_code",
    "parse_text",
]
