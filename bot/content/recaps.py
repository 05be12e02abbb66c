"""Recap files (the blog-post format) -> `Recap`: fields from the frontmatter; title,
summary, key takeaway and banner from the Markdown body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import SeriesSettings
from bot.content.fields import (
    MAX_TITLE,
    URL,
    Ctx,
    body_image_problems,
    check_fields,
    check_next_line_values,
    long_title,
    text_field,
    text_list,
    to_utc,
    zone,
)
from bot.content.models import Problem, Recap
from bot.content.text import canonical_id, find_code

# Recaps are read for their title, summary and key takeaway; the rest is published on the
# blog and nothing in the bot shows it. Keeping bodies cost 75 MB with 10,000 recaps (UCS-2
# once an em dash appears), so none is kept; raise this if a feature ever needs them.
MAX_RECAP_BODY = 0


RECAP_FIELDS = frozenset(
    [
        "id",
        "date",
        "draft",
        "authors",
        "categories",
        "tags",
        "episode",
        "url",
        "title",
        "description",
        "image",
        "banner",
        "banner_alt",
        "pin",
        "slug",
        "links",
        "readtime",
        "comments",
        "hide",
        "search",
    ]
)

_QUOTE_MARK = re.compile(r"^>[ \t]?", re.MULTILINE)
_NEWLINE_WS = re.compile(r"[ \t]*\n[ \t]*")
_PARA_SPLIT = re.compile(r"\n[ \t]*\n")
_ANY_HEADING = re.compile(r"^#{1,6}[ \t]", re.MULTILINE)
_BR = re.compile(r"<br\s*/?>")


# No lazy `.+?` before a trailing `[ \t#]*$`: on a long line of spaces that backtracks
# quadratically. The closing hashes are stripped in code (`_heading_text`).
_HEADING = re.compile(r"^(#{1,6})[ \t]++([^\n]+)$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]+)")
_BLOCK_OR_ITALIC = re.compile(
    r"^(?:>[^\n]*(?:\n>[^\n]*)*|[_*](?![_*\s])[^\n]+(?:\n(?!\n)[^\n]+)*[_*][ \t]*$)", re.MULTILINE
)
_KEY_TAKEAWAY_HEADING = re.compile(
    r"^#{1,6}[ \t]+.*key[ \t-]*take[ \t-]?aways?\b.*$", re.MULTILINE | re.IGNORECASE
)
_KEY_TAKEAWAY_LABEL = re.compile(
    r"^\*\*key[ \t-]*take[ \t-]?aways?:?\*\*:?[ \t]*(.*)$", re.MULTILINE | re.IGNORECASE
)


def _search_lines(pattern: re.Pattern[str], body: str, prefix: str) -> re.Match[str] | None:
    """`pattern.search(body)` for a line pattern (`^` then `prefix`…): only the lines that
    start with `prefix` are tried. A case-insensitive pattern anchored at `^` is otherwise
    tried at every character of the recap."""
    at = 0 if body.startswith(prefix) else body.find("\n" + prefix)
    at = at if at <= 0 else at + 1
    while at >= 0:
        m = pattern.match(body, at)
        if m:
            return m
        at = body.find("\n" + prefix, at)
        at = at + 1 if at >= 0 else -1
    return None


def _heading_text(m: re.Match[str]) -> str:
    raw = m.group(2)
    return raw.rstrip(" \t#") or raw[:1]


def _quote_or_italic(intro: str) -> str | None:
    """The first blockquote, or italic paragraph (`_…_` / `*…*`, possibly over several
    lines), starting at a line start; what `_BLOCK_OR_ITALIC.search` finds, in linear time.
    The regex restarts at every line of a paragraph and rescans it to the end, which is
    quadratic: 20,000 lines of `*a` took 15 s."""
    lines = intro.split("\n")
    n = len(lines)
    italic_from = 0  # italic starts before this line are known to fail
    for i, line in enumerate(lines):
        if line.startswith(">"):
            j = i
            while j + 1 < n and lines[j + 1].startswith(">"):
                j += 1
            return "\n".join(lines[i : j + 1])
        if i < italic_from or len(line) < 2 or line[0] not in "_*":
            continue
        if line[1] in "_*" or line[1].isspace():
            continue
        j = i
        while j + 1 < n and lines[j + 1]:
            j += 1
        for k in range(j, i - 1, -1):
            end = lines[k].rstrip(" \t")
            if end and end[-1] in "_*" and len(end) >= (3 if k == i else 2):
                return "\n".join(lines[i : k + 1])
        # No line of this paragraph can close an italic, so no later start in it can either.
        italic_from = j + 1
    return None


def _clean_md(text: str) -> str:
    text = _QUOTE_MARK.sub("", text)
    text = text.strip()
    if len(text) >= 2 and text[0] in "_*" and text[-1] == text[0]:
        text = text[1:-1]
    return _NEWLINE_WS.sub(" ", text).strip()


def _next_heading(body: str, start: int) -> int:
    """Where the next heading line (`#` to `######`, then a space or tab) at or after
    `start` begins, else len(body): what `_ANY_HEADING.search` finds, with `str.find`
    doing the scanning (a pattern anchored at `^` is tried at every character)."""
    at = 0 if start == 0 else body.find("\n#", start - 1) + 1
    while at != -1 and (at > 0 or start == 0):
        end = at
        while end < len(body) and body[end] == "#" and end - at < 7:
            end += 1
        if 0 < end - at <= 6 and end < len(body) and body[end] in " \t":
            return at
        at = body.find("\n#", at)
        at = -1 if at == -1 else at + 1
    return len(body)


def _section_after(body: str, start: int) -> str:
    section = body[start : _next_heading(body, start)]
    section = _BR.sub("", section).strip()
    return section


def _summary(body: str, start: int) -> str:
    """The first blockquote or italic paragraph of the introduction (before the first
    section heading); else the introduction's first plain paragraph."""
    intro = body[start : _next_heading(body, start)]
    found = _quote_or_italic(intro)
    if found is not None:
        return _clean_md(found)
    for para in _PARA_SPLIT.split(intro):
        para = para.strip()
        if para and not para.startswith(("![", "<", "---", "**[", "[")):
            return _clean_md(para)
    return ""


def parse_recap(
    data: Mapping[str, Any], body: str, body_line: int, ctx: Ctx, stem: str, series: SeriesSettings
) -> Recap | None:
    check_fields(ctx, data, RECAP_FIELDS, "a recap")
    check_next_line_values(ctx)
    recap_id = text_field(ctx, data, "id") or stem
    tz = zone(series.timezone) or ZoneInfo("UTC")
    heading = None
    for m in _HEADING.finditer(body):
        if len(m.group(1)) == 1:
            heading = m
            break
    title = _title(data, body, body_line, ctx, stem, heading)
    published, release = _recap_date(data, ctx, tz)
    draft = _draft(data, ctx)
    episode_id = _episode_id(data, ctx, title)
    summary = _summary(body, heading.end() if heading else 0)
    key_takeaway = _key_takeaway(body)
    image = None
    im = _IMAGE.search(body)
    if im:
        image = im.group(2)
    elif isinstance(data.get("banner"), str):
        image = data["banner"]
    url = data.get("url")
    if url is not None and not (isinstance(url, str) and URL.match(url.strip())):
        ctx.error(f"`url` is not a web address: {url!r}", "bad-url", "url")
        url = None
    ctx.problems.extend(body_image_problems(body, ctx.rel, body_line))
    if published is None:
        return None
    return Recap(
        id=recap_id,
        path=ctx.rel,
        title=title,
        published=published,
        draft=draft,
        summary=summary,
        key_takeaway=key_takeaway,
        authors=text_list(ctx, data, "authors"),
        categories=text_list(ctx, data, "categories"),
        tags=text_list(ctx, data, "tags"),
        episode_id=episode_id,
        url=url.strip() if url else None,
        image=image,
        body=body[:MAX_RECAP_BODY],
        line=1,
        release=release,
    )


def _title(
    data: Mapping[str, Any],
    body: str,
    body_line: int,
    ctx: Ctx,
    stem: str,
    heading: re.Match[str] | None,
) -> str:
    """The body's first `# Title`, else the frontmatter `title`, else the file name."""
    title = _heading_text(heading).strip() if heading else text_field(ctx, data, "title")
    if not title:
        ctx.problems.append(
            Problem(
                ctx.rel,
                body_line,
                "error",
                "recap has no title: start the text with `# Title`",
                "missing-title",
            )
        )
        title = stem
    if len(title) > MAX_TITLE:
        if heading is not None:
            line = body_line + body.count("\n", 0, heading.start())
            ctx.problems.append(Problem(ctx.rel, line, "warning", long_title(title), "too-long"))
        else:
            ctx.warn(long_title(title), "too-long", "title")
    return title


# The easternmost zone on Earth (Kiribati's Line Islands): a day has begun somewhere once it
# has begun here.
EARLIEST_ZONE = timezone(timedelta(hours=14))


def day_begins_on_earth(day: date) -> datetime:
    """The first moment `day` is today somewhere on Earth (aware UTC)."""
    return datetime.combine(day, time(0, 0), tzinfo=EARLIEST_ZONE).astimezone(UTC)


def _written_day(value: Any) -> date | None:
    """The day of a date-only value (a YAML date or ``YYYY-MM-DD`` text); None for a date
    and time, or anything else."""
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _recap_date(
    data: Mapping[str, Any], ctx: Ctx, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """-> (published, release): `date.created` (or a flat `date`) in the series zone, and
    for a date-only date the moment that day begins somewhere on Earth (None otherwise).

    A recap is announced when it is merged on its day, wherever its author lives; only a
    later day, or an explicit date and time still ahead, holds it."""
    published = None
    raw_date = data.get("date")
    written: Any = None
    if isinstance(raw_date, dict):
        check_fields(ctx, raw_date, frozenset(("created", "updated")), "`date`", "date")
        if raw_date.get("created") is None:
            ctx.error("missing `date.created`", "missing-field", "date")
        else:
            written = raw_date["created"]
            published, _ = to_utc(ctx, written, tz, time(0, 0), "date", "created")
    elif raw_date is None:
        ctx.error(
            "missing required field `date` (write `date:` then `  created: 2025-07-14`)",
            "missing-field",
        )
    else:
        ctx.warn(
            "`date` is flat; the blog format nests it as `date:` / `  created: …` (accepted)",
            "flat-date",
            "date",
        )
        written = raw_date
        published, _ = to_utc(ctx, written, tz, time(0, 0), "date", None)
    if (
        published is None
        and raw_date is not None
        and not any(p.code == "bad-time" for p in ctx.problems)
    ):
        ctx.error(f"bad date {raw_date!r}", "bad-time", "date")
    day = _written_day(written) if published is not None else None
    return published, day_begins_on_earth(day) if day is not None else None


def _draft(data: Mapping[str, Any], ctx: Ctx) -> bool:
    """`draft:` as a bool; a missing or unreadable value counts as a draft."""
    draft = data.get("draft", False)
    if isinstance(draft, str) and draft.strip().lower() in ("true", "false", "yes", "no"):
        draft = draft.strip().lower() in ("true", "yes")
    if draft is None:
        ctx.error(
            "`draft:` has no value; write `draft: true` or `draft: false`", "bad-type", "draft"
        )
        draft = True
    if not isinstance(draft, bool):
        ctx.error(f"`draft` must be true or false, not {draft!r}", "bad-type", "draft")
        draft = True
    return draft


def _episode_id(data: Mapping[str, Any], ctx: Ctx, title: str) -> str | None:
    """An explicit `episode:`, else the episode code found in the title."""
    raw_episode = data.get("episode")
    if raw_episode is not None:
        if isinstance(raw_episode, str) and raw_episode.strip():
            return raw_episode.strip()
        ctx.error(
            f"`episode` must be an episode id or code such as s2-e05, not {raw_episode!r}",
            "bad-type",
            "episode",
        )
        return None
    if code := find_code(title):
        return canonical_id(*code)
    return None


def _key_takeaway(body: str) -> str | None:
    """A "Key takeaway" section, or a **Key takeaway:** line (and its paragraph)."""
    km = _search_lines(_KEY_TAKEAWAY_HEADING, body, "#")
    if km:
        return _section_after(body, km.end()) or None
    lm = _search_lines(_KEY_TAKEAWAY_LABEL, body, "**")
    if lm:
        rest = lm.group(1).strip() or body[lm.end() :].lstrip("\n").split("\n\n", 1)[0]
        return _clean_md(rest) or None
    return None
