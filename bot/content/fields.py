"""What every content file shares: the diagnostics context (`Ctx`, a problem at the line
of the field it is about), readers for text, lists and times that report what they cannot
use, and the check for broken image Markdown in any body."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.content.models import Problem

MAX_LIST_ITEMS = 100  # tags, guests, hosts, authors, categories
MAX_TITLE = 256  # Discord's embed title limit: a longer title is cut when shown
# Years a show can happen in; outside them datetime arithmetic overflows (year 1 in Tokyo,
# 9999 in New York) and Discord timestamps stop meaning anything.
MIN_YEAR, MAX_YEAR = 1970, 2999

URL = re.compile(r"https?://\S+$")
TBD_WORDS = frozenset(("tbd", "tba", "tbc", "?", "unknown", "none", ""))


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return None


def _row_key(row: str) -> str | None:
    """`key: value` -> "key" (a top-level row; the colon must end or be followed by space).
    String scanning, not a regex: a 1 MiB row makes a lazy pattern backtrack quadratically."""
    if not row or row[0].isspace() or row[0] in "#:":
        return None
    colon = row.find(":")
    if colon < 0 or (colon + 1 < len(row) and not row[colon + 1].isspace()):
        return None
    return row[:colon].rstrip().strip("'\"")


class Ctx:
    """Where we are in one file: for problems with the right line, computed only when needed."""

    __slots__ = ("_keys", "first_line", "fm", "problems", "rel")

    def __init__(self, rel: str, fm: str, first_line: int, problems: list[Problem]):
        self.rel = rel
        self.fm = fm
        self.first_line = first_line
        self.problems = problems
        self._keys: dict[str, int] | None = None

    def line_of(self, key: str | None, child: str | None = None) -> int:
        if key is None:
            return max(1, self.first_line - 1)
        if self._keys is None:
            self._keys = {}
            for i, row in enumerate(self.fm.split("\n")):
                key_text = _row_key(row)
                if key_text is not None:
                    self._keys.setdefault(key_text, i)
        base = self._keys.get(key)
        if base is None:
            return max(1, self.first_line - 1)
        if child is not None:
            rows = self.fm.split("\n")
            for i in range(base + 1, len(rows)):
                row = rows[i]
                if row and not row[0].isspace() and not row.startswith("#"):
                    break
                if re.match(rf"\s+{re.escape(child)}\s*:", row):
                    return self.first_line + i
        return self.first_line + base

    def add(
        self,
        severity: str,
        message: str,
        code: str,
        key: str | None = None,
        child: str | None = None,
    ) -> None:
        self.problems.append(Problem(self.rel, self.line_of(key, child), severity, message, code))  # type: ignore[arg-type]

    def error(
        self, message: str, code: str, key: str | None = None, child: str | None = None
    ) -> None:
        self.add("error", message, code, key, child)

    def warn(
        self, message: str, code: str, key: str | None = None, child: str | None = None
    ) -> None:
        self.add("warning", message, code, key, child)


def did_you_mean(word: str, known: frozenset[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.7)
    return f"; did you mean `{close[0]}`?" if close else ""


def check_fields(
    ctx: Ctx, data: Mapping[str, Any], known: frozenset[str], what: str, parent: str | None = None
) -> None:
    if data.keys() <= known:
        return
    for key in data:
        if not isinstance(key, str):
            ctx.error(f"field names must be text, not {key!r}", "bad-field", parent)
        elif key not in known:
            where = f"{parent}.{key}" if parent else key
            ctx.warn(
                f"unknown field `{where}` in {what}{did_you_mean(key, known)}",
                "unknown-field",
                parent or key,
                key if parent else None,
            )


# From the colon: a pattern that starts with a literal is scanned for at C speed, while
# one anchored at `^` is tried at every character. The key is checked after.
_NEXT_LINE_VALUE = re.compile(r":[ \t]*\n[ \t]+(?![-#])([^\s:][^:\n]*)$", re.MULTILINE)
_KEY_NAME = re.compile(r"[A-Za-z_][\w-]*")


def check_next_line_values(ctx: Ctx) -> None:
    """`draft:` with `true` on the next line is valid YAML but easy to break; say so."""
    fm = ctx.fm
    for m in _NEXT_LINE_VALUE.finditer(fm):
        key = fm[fm.rfind("\n", 0, m.start()) + 1 : m.start()]
        if not _KEY_NAME.fullmatch(key):
            continue
        value = m.group(1).strip()
        if value.startswith(("'", '"')) or value in ("|", ">"):
            continue
        ctx.warn(
            f"`{key}:` has its value `{value}` on the next line; "
            f"write `{key}: {value}` on one line",
            "value-next-line",
            key,
        )


def text_field(
    ctx: Ctx, data: Mapping[str, Any], key: str, *, required: bool = False, what: str = ""
) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            ctx.error(
                f"missing required field `{key}`{what}",
                "missing-field",
                key if key in data else None,
            )
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        ctx.error(f"`{key}` must be text, not {type(value).__name__}", "bad-type", key)
        return ""
    return str(value).strip()


_COMMA_LISTS = frozenset(("tags", "categories", "guests", "hosts", "authors"))


def text_list(ctx: Ctx, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if type(value) is list and len(value) <= MAX_LIST_ITEMS:
        # The usual list of short texts: nothing to report, so no per-item checks.
        items = [item.strip() for item in value if type(item) is str]
        if len(items) == len(value) and all(items) and "," not in "".join(items):
            return tuple(dict.fromkeys(items))
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        ctx.error(f"`{key}` must be a list", "bad-type", key)
        return ()
    if len(items) > MAX_LIST_ITEMS:
        ctx.warn(
            f"`{key}` has {len(items)} entries; only the first {MAX_LIST_ITEMS} are used",
            "too-many-items",
            key,
        )
        items = items[:MAX_LIST_ITEMS]
    out: list[str] = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            ctx.error(f"`{key}` items must be text, not {type(item).__name__}", "bad-type", key)
            continue
        text = str(item).strip()
        if "," in text and key in _COMMA_LISTS:
            parts = [p.strip() for p in text.split(",") if p.strip()]
            ctx.warn(
                f"`{key}` has one entry with commas ({text!r}); write one item per line: "
                + ", ".join(f"`- {p}`" for p in parts[:4]),
                "comma-list",
                key,
            )
            out.extend(parts)
        elif text:
            out.append(text)
    return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------- times


def to_utc(
    ctx: Ctx, value: Any, tz: ZoneInfo, default_time: time, key: str, child: str | None
) -> tuple[datetime | None, bool]:
    """-> (aware UTC or None, ok). Wall-clock values are read in `tz`, so DST is honoured."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, default_time)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in TBD_WORDS:
            return None, True
        try:
            if len(text) == 10:
                dt = datetime.combine(date.fromisoformat(text), default_time)
            else:
                dt = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            ctx.error(
                f"bad date/time {text!r}: write it like 2025-07-14T10:30 "
                "(wall-clock in the episode's zone) "
                "or 2025-07-14T10:30-07:00",
                "bad-time",
                key,
                child,
            )
            return None, False
    else:
        ctx.error(f"bad date/time {value!r}", "bad-time", key, child)
        return None, False
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        ctx.error(
            f"year {dt.year} is out of range ({MIN_YEAR}-{MAX_YEAR}): is {value!s:.40} a typo?",
            "bad-time",
            key,
            child,
        )
        return None, False
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC), True


# --------------------------------------------------------------------------- Markdown bodies


def body_image_problems(body: str, rel: str, body_line: int) -> list[Problem]:
    """`![alt(path)`, `![alt(path]`...: an image whose `](` is missing is shown as text.
    Each `![` is looked at on its own, so a broken image after a good one on the same line
    is found too."""
    problems: list[Problem] = []
    start = body.find("![")
    line, counted = body_line, 0
    while start != -1:
        end = body.find("\n", start)
        frag = body[start : end if end != -1 else len(body)]
        nxt = frag.find("![", 2)
        if nxt != -1:
            frag = frag[:nxt].rstrip()
        close, paren = frag.find("]"), frag.find("(")
        if paren != -1 and (close == -1 or paren < close):
            alt = frag[2:paren].strip()
            target = frag[paren + 1 :].split(")", 1)[0].rstrip("]").strip()
            fix = f"![{alt}]({target})" if alt and target else "![alt text](path)"
            line += body.count("\n", counted, start)
            counted = start
            problems.append(
                Problem(
                    rel,
                    line,
                    "warning",
                    f"broken image Markdown {frag[:60]!r}: the `](` between the alt text and "
                    f"the path is missing, so the image is shown as text; write {fix[:80]}",
                    "broken-image",
                )
            )
        start = body.find("![", start + 2)
    return problems


def long_title(title: str) -> str:
    return f"title is {len(title)} characters; Discord shows at most {MAX_TITLE}, so it will be cut"
