"""Files -> episodes, recaps, authors and problems. One bad file never stops the others.

Every public function here returns what it could load plus a list of `Problem`s; none of
them raises on bad input. Frontmatter is split by hand and parsed with PyYAML's C safe
loader (never an unsafe one): it is several times faster than python-frontmatter's path and
lets us report YAML errors at the right line of the file, not of the frontmatter.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.config import SeriesSettings
from bot.content.models import Author, Episode, EpisodeStatus, Problem, Recap, ShowEvent
from bot.content.text import canonical_id, find_code, parse_code, parse_duration

MAX_FILE_BYTES = 1 << 20
MAX_YAML_NODES = 10_000
# libyaml's composer recurses in C: ~50,000 nested `[` overflow the C stack and kill the
# process (no Python exception), so nesting is measured on the event stream first.
MAX_YAML_DEPTH = 64
MAX_PROBLEMS_PER_FILE = 50
MAX_LIST_ITEMS = 100  # tags, guests, hosts, authors, categories
MAX_TITLE = 256  # Discord's embed title limit: a longer title is cut when shown
# Years a show can happen in; outside them datetime arithmetic overflows (year 1 in Tokyo,
# 9999 in New York) and Discord timestamps stop meaning anything.
MIN_YEAR, MAX_YEAR = 1970, 2999
# Recaps are read for their title, summary and key takeaway; the rest is published on the
# blog and nothing in the bot shows it. Keeping bodies cost 75 MB with 10,000 recaps (UCS-2
# once an em dash appears), so none is kept; raise this if a feature ever needs them.
MAX_RECAP_BODY = 0

Kind = Literal["episode", "recap", "authors", "page", "ignored"]

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader

NATIVE_EPISODE_FIELDS = frozenset(
    [
        "id",
        "season",
        "episode",
        "title",
        "summary",
        "description",
        "guests",
        "hosts",
        "tags",
        "status",
        "timezone",
        "livestream",
        "ama",
        "links",
        "image",
    ]
)
EVENT_FIELDS = frozenset(("start", "duration", "url"))
HUB_EPISODE_FIELDS = frozenset(
    [
        "id",
        "title",
        "description",
        "season",
        "publishDate",
        "status",
        "youtubeVideoId",
        "youtubeUrl",
        "segmentType",
        "speakers",
        "tags",
        "duration",
        "metrics",
        "transcriptPath",
        "chapters",
        "resources",
        "summary",
        "provenance",
    ]
)
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
_HUB_STATUS = {
    "published": EpisodeStatus.PUBLISHED,
    "scheduled": EpisodeStatus.SCHEDULED,
    "placeholder": EpisodeStatus.TBD,
}
_URL = re.compile(r"https?://\S+$")
_QUOTE_MARK = re.compile(r"^>[ \t]?", re.MULTILINE)
_NEWLINE_WS = re.compile(r"[ \t]*\n[ \t]*")
_PARA_SPLIT = re.compile(r"\n[ \t]*\n")
_IMAGE_START = re.compile(r"!\[[^\n]*")
_ANY_HEADING = re.compile(r"^#{1,6}[ \t]", re.MULTILINE)
_BR = re.compile(r"<br\s*/?>")
NO_FRONTMATTER = "no frontmatter: the file must start with a `---` line, its fields, then `---`"
_TBD_WORDS = frozenset(("tbd", "tba", "tbc", "?", "unknown", "none", ""))


@dataclass(slots=True)
class Parsed:
    """The outcome of loading one file."""

    kind: Kind
    item: Episode | Recap | Mapping[str, Author] | None = None
    problems: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def decode(raw: bytes, rel: str, problems: list[Problem]) -> str | None:
    """Bytes -> text with newlines normalised, or None with a problem saying why."""
    if len(raw) > MAX_FILE_BYTES:
        problems.append(
            Problem(
                rel,
                None,
                "error",
                f"file is larger than 1 MiB ({len(raw)} bytes); skipped",
                "too-large",
            )
        )
        return None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.append(
            Problem(rel, 1, "error", "file is saved as UTF-16; save it as UTF-8", "encoding")
        )
        return None
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        problems.append(
            Problem(rel, line, "error", "file contains NUL bytes; is it binary?", "binary")
        )
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.append(
            Problem(
                rel,
                line,
                "error",
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
                "encoding",
            )
        )
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        problems.append(Problem(rel, None, "error", "file is empty", "empty"))
        return None
    return text


_FM_OPEN = re.compile(r"---[ \t]*\n")
_FM_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)


def split_frontmatter(text: str) -> tuple[str | None, str, int, bool]:
    """-> (frontmatter text or None, body, line where the body starts, closed?)."""
    m = _FM_OPEN.match(text)
    if m is None:
        return None, text, 1, True
    start = m.end()
    close = _FM_CLOSE.search(text, start)
    if close is None:
        return text[start:], "", 1, False
    fm = text[start : close.start()]
    body_start = close.end() + 1
    body_line = text.count("\n", 0, min(body_start, len(text))) + 1
    return fm, text[body_start:], body_line, True


def _expanded_size(root: yaml.Node) -> int | None:
    """Nodes after alias expansion; None for a cycle. Memoised, so a bomb costs O(nodes)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            visiting.discard(key)
            if isinstance(node, yaml.SequenceNode):
                total = 1 + sum(sizes[id(c)] for c in node.value)
            elif isinstance(node, yaml.MappingNode):
                total = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
            else:
                total = 1
            sizes[key] = min(total, MAX_YAML_NODES + 1)
            continue
        if key in sizes:
            continue
        if key in visiting:
            return None
        visiting.add(key)
        stack.append((node, True))
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        else:
            children = []
        for child in children:
            if id(child) in visiting:
                return None
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


_STR_TAG = "tag:yaml.org,2002:str"
_SAFE = yaml.constructor.SafeConstructor()
_SCALARS = {
    "tag:yaml.org,2002:null": _SAFE.construct_yaml_null,
    "tag:yaml.org,2002:bool": _SAFE.construct_yaml_bool,
    "tag:yaml.org,2002:int": _SAFE.construct_yaml_int,
    "tag:yaml.org,2002:float": _SAFE.construct_yaml_float,
    "tag:yaml.org,2002:timestamp": _SAFE.construct_yaml_timestamp,
}
# PyYAML's own table of implicit types by first character ("" for the empty scalar).
_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    k: tuple(v) for k, v in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}

try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _CParser = None
_FAST = _CParser is not None and None not in _IMPLICIT


class _PlainComposer(_CParser or object):  # type: ignore[misc]
    """libyaml's composer, minus the three Python calls it makes per node to resolve its
    tag (a third of the cost of loading frontmatter). Builtins stand in: `slice` keeps
    (kind, value, implicit) as the node's tag, and `_construct` resolves plain scalars
    itself with PyYAML's table. Only for documents without explicit tags."""

    resolve = slice
    descend_resolver = slice
    ascend_resolver = tuple


def _plain_words() -> tuple[dict[str, str], frozenset[str]]:
    """-> (the words PyYAML reads as non-strings, e.g. "yes", "null", "~", "", with their
    tags; the first characters whose scalars need PyYAML's regexes, e.g. digits). Words
    are read off PyYAML's own alternations (`^(?:yes|Yes|...)$`) so the two cannot drift."""
    words: dict[str, str] = {}
    regex_starts = set()
    for first, resolvers in _IMPLICIT.items():
        for _tag, pattern in resolvers:
            compact = re.sub(r"\s", "", pattern.pattern)
            if (first.isalpha() or first in ("", "~")) and re.fullmatch(
                r"\^\(\?:[\w~|]*\)\$", compact
            ):
                for word in compact[4:-2].split("|"):
                    for tag, match in _IMPLICIT.get(word[:1], ()):
                        if match.match(word):
                            words.setdefault(word, tag)
                            break
            else:
                regex_starts.add(first)
    return words, frozenset(regex_starts)


_WORD_TAGS, _REGEX_STARTS = _plain_words()


def _implicit(node: yaml.ScalarNode) -> Any:
    """A plain scalar that may not be a string: what PyYAML makes of it."""
    value = node.value
    if value.isdigit() and value.isascii():
        if value[0] != "0" or len(value) == 1:
            return int(value)  # what construct_yaml_int makes of plain decimals
    elif (
        len(value) == 10
        and value[4] == value[7] == "-"
        and value.isascii()
        and value[:4].isdigit()
        and value[5:7].isdigit()
        and value[8:].isdigit()
    ):
        return date(int(value[:4]), int(value[5:7]), int(value[8:]))  # YYYY-MM-DD
    tag = _WORD_TAGS.get(value)
    if tag is None:
        for tag, pattern in _IMPLICIT.get(value[:1], ()):  # noqa: B007
            if pattern.match(value):
                break
        else:
            return value
    build = _SCALARS.get(tag)
    if build is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported value type {tag!r}", node.start_mark
        )
    return build(node)


_ScalarNode = yaml.ScalarNode
_MappingNode = yaml.MappingNode


def _construct(node: yaml.Node) -> Any:
    """Nodes from `_PlainComposer` -> plain data, like SafeConstructor but without its
    per-node bookkeeping (half of the cost of loading frontmatter). Scalars are handled
    inline: most are strings, told apart by their first character."""
    if type(node) is _MappingNode:
        out = {}
        for key_node, value_node in node.value:
            if type(key_node) is _ScalarNode:
                key = key_node.value
                if (key in _WORD_TAGS or key[:1] in _REGEX_STARTS) and key_node.tag.step[0]:
                    key = _implicit(key_node)
            else:
                key = _construct(key_node)
                if not isinstance(key, str | int | float | bool | date | None):
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        "found an unhashable key",
                        key_node.start_mark,
                    )
            if type(value_node) is _ScalarNode:
                value = value_node.value
                if (value in _WORD_TAGS or value[:1] in _REGEX_STARTS) and value_node.tag.step[0]:
                    value = _implicit(value_node)
                out[key] = value
            else:
                out[key] = _construct(value_node)
        return out
    if type(node) is _ScalarNode:
        value = node.value
        plain = node.tag.step[0]
        return (
            _implicit(node)
            if plain and (value in _WORD_TAGS or value[:1] in _REGEX_STARTS)
            else value
        )
    return [
        _construct(c)
        if type(c) is not _ScalarNode
        or ((c.value in _WORD_TAGS or c.value[:1] in _REGEX_STARTS) and c.tag.step[0])
        else c.value
        for c in node.value
    ]


def _load_plain(text: str) -> Any:
    """A document without anchors, aliases, merge keys or tags -> plain data."""
    simple = _load_simple(text)
    if simple is not None:
        return simple
    if not _FAST:  # pragma: no cover - PyYAML without libyaml
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a *safe* loader
    parser = _PlainComposer(text)
    try:
        node = parser.get_single_node()
    finally:
        parser.dispose()
    return None if node is None else _construct(node)


# --------------------------------------------------------------------------- simple YAML
#
# Most frontmatter is a few `key: value` lines, one-level blocks (`livestream:` then
# `  start: …`) and lists (`tags: [a, b]`, `  - a`). For that shape a line reader builds the
# same data as PyYAML in a third of the time: libyaml's composer calls back into Python for
# every node. Any line outside that shape (quotes with escapes, block scalars, comments,
# tabs, anchors, deeper nesting, a control character...) returns None and the document
# goes to PyYAML, which also reports every error; values are resolved by PyYAML's own
# rules (`_WORD_TAGS`, `_IMPLICIT`, SafeConstructor). tests/content/test_simple_yaml.py
# checks the two agree.

# Characters libyaml reads as plain content; anything else (tabs, controls, NBSP, the
# Unicode line separators, a BOM) is left to PyYAML.
_SIMPLE_UNSAFE = re.compile(
    "[^\n -~\u00a1-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
# A one-line plain scalar in block context: a first character that starts no other token;
# no `: ` or ` #` (they end it), no space at the end.
_PLAIN = r"[\w(./+~](?:[^\s:#]++|:(?=\S)|#|[ ](?=[^\s#]))*+"
_QUOTED = r"'[^'\n]*'|\"[^\"\\\n]*\""
_FLOW_ITEM = re.compile(r"[\w(./+~](?:[^\s,\[\]{}#:'\"]|[ ](?=[^\s,\[\]{}#:]))*")
# One line: indent, `- ` or `key:`, then a plain, quoted or `[flow]` value. Matched for the
# whole document in one `findall` (C speed); a line that does not fit is missing from the
# result, which the caller notices by counting.
_SIMPLE_LINE = re.compile(
    rf"^( *)(?:(- )|([A-Za-z_][\w-]*):(?= |$))? *"
    rf"(?:({_PLAIN})|({_QUOTED})|(\[[^\[\]{{}}\n]*\]))? *$",
    re.MULTILINE,
)


class _NotSimple(Exception):
    pass


def _simple_scalar(text: str) -> Any:
    if text in _WORD_TAGS or text[:1] in _REGEX_STARTS:
        return _implicit(yaml.ScalarNode("", text))
    return text


def _simple_value(plain: str, quoted: str, flow: str) -> Any:
    """The value of one line (exactly one of the three is non-empty)."""
    if plain:
        return _simple_scalar(plain)
    if quoted:
        return quoted[1:-1]
    inner = flow[1:-1]
    # Spaces only: str.strip() would also take Unicode spaces, which YAML keeps.
    if not inner.strip(" "):
        return []
    items = [item.strip(" ") for item in inner.split(",")]
    for item in items:
        if not _FLOW_ITEM.fullmatch(item):
            raise _NotSimple
    return [
        _simple_scalar(item) if item in _WORD_TAGS or item[:1] in _REGEX_STARTS else item
        for item in items
    ]


def _load_simple(text: str) -> dict[str, Any] | None:
    """`text` as PyYAML would load it, if it has the simple shape above; else None."""
    if _SIMPLE_UNSAFE.search(text):
        return None
    rows = _SIMPLE_LINE.findall(text)
    if len(rows) != text.count("\n") + 1:
        return None  # some line has another shape
    try:
        return _read_simple(rows)
    except _NotSimple:
        return None
    except (ValueError, OverflowError, yaml.YAMLError):
        return None  # e.g. a bad date: PyYAML reports it, with its line


_NO_VALUE = object()


def _read_simple(rows: list[tuple[str, ...]]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    # The open block of a top-level key: its container, indent, and whether it is a list.
    container: Any = None
    block_indent = -1
    block_list = False
    pending: str | None = None  # a top-level key whose value is on the next lines
    for indent, dash, key, plain, quoted, flow in rows:
        if plain:  # inline: most values are plain strings
            if plain in _WORD_TAGS or plain[:1] in _REGEX_STARTS:
                value = _simple_scalar(plain)
            else:
                value = plain
        elif quoted or flow:
            value = _simple_value("", quoted, flow)
        else:
            value = _NO_VALUE
        if not (dash or key):
            if value is not _NO_VALUE:
                raise _NotSimple  # a bare value, or a continuation line
            continue  # a blank line
        if not indent and key:
            if key in _WORD_TAGS:
                raise _NotSimple
            if pending is not None:
                out[pending] = None
            container = pending = None
            if value is _NO_VALUE:
                pending = key
            else:
                out[key] = value
            continue
        # Inside the block of a top-level key: `  sub: value` or `- item` lines.
        if pending is not None:
            if dash:
                container = []
            elif indent:
                container = {}
            else:
                raise _NotSimple
            out[pending] = container
            block_indent, block_list = len(indent), bool(dash)
            pending = None
        if (
            container is None
            or len(indent) != block_indent
            or bool(dash) != block_list
            or value is _NO_VALUE
        ):
            raise _NotSimple
        if dash:
            container.append(value)
        elif key in _WORD_TAGS:
            raise _NotSimple
        else:
            container[key] = value
    if pending is not None:
        out[pending] = None
    return out or None


_DATE_LIKE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NESTING_CHARS = "[{-?:"
_OPENS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSES = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _too_deep(text: str) -> int | None:
    """The line where nesting passes MAX_YAML_DEPTH, else None. Every level needs one of
    `[ { - ? :`, so ordinary frontmatter is cleared by counting; the rest is parsed to
    events (libyaml's parser keeps its own heap stack, so this part is safe)."""
    if sum(text.count(c) for c in _NESTING_CHARS) <= MAX_YAML_DEPTH:
        return None
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, _OPENS):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return event.start_mark.line if event.start_mark else 0
            elif isinstance(event, _CLOSES):
                depth -= 1
    except yaml.YAMLError:
        return None  # the real load reports the syntax error at its line
    return None


def load_yaml(text: str, rel: str, first_line: int, problems: list[Problem]) -> tuple[Any, bool]:
    """Safe-load one YAML document; (data, ok). Lines in problems are lines of the file."""
    deep = _too_deep(text)
    if deep is not None:
        problems.append(
            Problem(
                rel,
                first_line + deep,
                "error",
                f"YAML is nested more than {MAX_YAML_DEPTH} levels deep; refused",
                "yaml-depth",
            )
        )
        return None, False
    try:
        if "*" in text and "&" in text:
            node = yaml.compose(text, Loader=_Loader)
            size = None if node is None else _expanded_size(node)
            if node is not None and (size is None or size > MAX_YAML_NODES):
                problems.append(
                    Problem(
                        rel,
                        first_line,
                        "error",
                        "YAML uses too many aliases (or a cyclic one); refused",
                        "yaml-aliases",
                    )
                )
                return None, False
        if "&" in text or "<<" in text or "!" in text:
            return yaml.load(text, Loader=_Loader), True  # noqa: S506 - C *safe* loader
        return _load_plain(text), True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # An unclosed [ or " is noticed lines later; where it opened is what to fix.
        if (
            exc.context_mark is not None
            and exc.context
            and ("flow" in exc.context or "quoted" in exc.context)
        ):
            mark = exc.context_mark
        line = first_line + mark.line if mark is not None else first_line
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            what = f"{exc.problem} ({exc.context})"
        problems.append(Problem(rel, line, "error", f"YAML syntax error: {what}", "yaml-syntax"))
    except yaml.YAMLError as exc:
        problems.append(Problem(rel, first_line, "error", f"YAML error: {exc}", "yaml-syntax"))
    except (ValueError, OverflowError) as exc:
        # PyYAML builds dates itself: "2025-13-45" looks like a date and fails to construct.
        line = first_line
        for i, row in enumerate(text.split("\n")):
            for y, mo, d in _DATE_LIKE.findall(row):
                try:
                    date(int(y), int(mo), int(d))
                except ValueError:
                    line = first_line + i
                    break
            else:
                continue
            break
        problems.append(Problem(rel, line, "error", f"bad date: {exc}", "bad-date"))
    except RecursionError:
        problems.append(
            Problem(rel, first_line, "error", "YAML is nested too deeply", "yaml-syntax")
        )
    return None, False


# --------------------------------------------------------------------------- context


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


class _Ctx:
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


def _did_you_mean(word: str, known: frozenset[str] | list[str]) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.7)
    return f"; did you mean `{close[0]}`?" if close else ""


def _check_fields(
    ctx: _Ctx, data: Mapping[str, Any], known: frozenset[str], what: str, parent: str | None = None
) -> None:
    if data.keys() <= known:
        return
    for key in data:
        if not isinstance(key, str):
            ctx.error(f"field names must be text, not {key!r}", "bad-field", parent)
        elif key not in known:
            where = f"{parent}.{key}" if parent else key
            ctx.warn(
                f"unknown field `{where}` in {what}{_did_you_mean(key, known)}",
                "unknown-field",
                parent or key,
                key if parent else None,
            )


# From the colon: a pattern that starts with a literal is scanned for at C speed, while
# one anchored at `^` is tried at every character. The key is checked after.
_NEXT_LINE_VALUE = re.compile(r":[ \t]*\n[ \t]+(?![-#])([^\s:][^:\n]*)$", re.MULTILINE)
_KEY_NAME = re.compile(r"[A-Za-z_][\w-]*")


def _check_next_line_values(ctx: _Ctx) -> None:
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


def _text(
    ctx: _Ctx, data: Mapping[str, Any], key: str, *, required: bool = False, what: str = ""
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


def _text_list(ctx: _Ctx, data: Mapping[str, Any], key: str) -> tuple[str, ...]:
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


def _to_utc(
    ctx: _Ctx, value: Any, tz: ZoneInfo, default_time: time, key: str, child: str | None
) -> tuple[datetime | None, bool]:
    """-> (aware UTC or None, ok). Wall-clock values are read in `tz`, so DST is honoured."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, default_time)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in _TBD_WORDS:
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


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7 or 7)


def _zone_or_default(
    ctx: _Ctx, data: Mapping[str, Any], series: SeriesSettings
) -> tuple[str, ZoneInfo]:
    default = zone(series.timezone) or ZoneInfo("UTC")
    name = data.get("timezone")
    if name is None:
        return series.timezone if zone(series.timezone) else "UTC", default
    if not isinstance(name, str) or zone(name.strip()) is None:
        ctx.error(
            f"unknown time zone {name!r}: use an IANA name such as America/Los_Angeles",
            "bad-timezone",
            "timezone",
        )
        return series.timezone, default
    return name.strip(), zone(name.strip())  # type: ignore[return-value]


def _event(
    ctx: _Ctx,
    data: Mapping[str, Any],
    kind: Literal["livestream", "ama"],
    tz_name: str,
    tz: ZoneInfo,
    series: SeriesSettings,
) -> tuple[ShowEvent | None, bool]:
    """-> (event, given?). An event given as a bare value is its start time."""
    if kind not in data:
        return None, False
    raw = data[kind]
    if raw is None or raw is False:
        return None, True
    if not isinstance(raw, dict):
        raw = {"start": raw}
    else:
        _check_fields(ctx, raw, EVENT_FIELDS, "an event", kind)
    default_time = series.livestream_time if kind == "livestream" else series.ama_time
    default_duration = series.livestream_duration if kind == "livestream" else series.ama_duration
    raw_start = raw.get("start")
    start = None
    if raw_start is None or (
        isinstance(raw_start, str) and raw_start.strip().lower() in _TBD_WORDS
    ):
        ctx.warn(f"{kind} time is TBD", "tbd-time", kind, "start" if "start" in raw else None)
    else:
        start, _ = _to_utc(ctx, raw_start, tz, default_time, kind, "start")
    duration = default_duration
    if raw.get("duration") is not None:
        parsed = parse_duration(raw["duration"])
        if parsed is None or parsed <= timedelta(0) or parsed > timedelta(hours=24):
            ctx.error(
                f"bad duration {raw['duration']!r}: write it like 30m, 1h or 1h30m",
                "bad-duration",
                kind,
                "duration",
            )
        else:
            duration = parsed
    url = raw.get("url")
    if url is not None and not (isinstance(url, str) and _URL.match(url.strip())):
        ctx.error(f"{kind}.url is not a web address: {url!r}", "bad-url", kind, "url")
        url = None
    return ShowEvent(kind, start, duration, url.strip() if url else None, tz_name), True


def _check_event_order(
    ctx: _Ctx, livestream: ShowEvent | None, ama: ShowEvent | None, ama_key: str | None = "ama"
) -> None:
    if livestream and ama and livestream.start and ama.start and ama.start < livestream.start:
        ctx.error(
            f"the AMA ({ama.start:%Y-%m-%d %H:%M} UTC) is before the livestream "
            f"({livestream.start:%Y-%m-%d %H:%M} UTC)",
            "ama-before-livestream",
            ama_key,
            "start" if ama_key else None,
        )


def _int(ctx: _Ctx, data: Mapping[str, Any], key: str, *, required: bool) -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            ctx.error(
                f"missing required field `{key}`", "missing-field", key if key in data else None
            )
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1000:
        ctx.error(f"`{key}` must be a whole number, not {value!r}", "bad-type", key)
        return None
    return value


def _links(ctx: _Ctx, data: Mapping[str, Any]) -> Mapping[str, str]:
    raw = data.get("links")
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        ctx.error("`links` must be a mapping such as `replay: https://…`", "bad-type", "links")
        return MappingProxyType({})
    out: dict[str, str] = {}
    for name, url in raw.items():
        if isinstance(url, str) and _URL.match(url.strip()):
            out[str(name)] = url.strip()
        elif url is not None:
            ctx.error(f"links.{name} is not a web address: {url!r}", "bad-url", "links", str(name))
    return MappingProxyType(out)


# --------------------------------------------------------------------------- episodes


def parse_native_episode(
    data: Mapping[str, Any], body: str, ctx: _Ctx, stem: str, series: SeriesSettings
) -> Episode | None:
    _check_fields(ctx, data, NATIVE_EPISODE_FIELDS, "an episode")
    _check_next_line_values(ctx)
    episode_id = _text(ctx, data, "id")
    if any(c.isspace() for c in episode_id):
        ctx.error(f"`id` must not contain spaces: {episode_id!r}", "bad-id", "id")
        episode_id = ""
    if not episode_id:
        episode_id = "-".join(stem.split())
        if episode_id != stem:
            ctx.warn(
                f"the file name gives the id {stem!r}, which has spaces; it is used as "
                f"{episode_id!r}: rename the file or set `id:`",
                "bad-id",
            )
    season = _int(ctx, data, "season", required=True)
    number = _int(ctx, data, "episode", required=True)
    title = _text(ctx, data, "title", required=True)
    summary = _text(ctx, data, "summary") or _text(ctx, data, "description")
    tz_name, tz = _zone_or_default(ctx, data, series)
    livestream, _ = _event(ctx, data, "livestream", tz_name, tz, series)
    ama, ama_given = _event(ctx, data, "ama", tz_name, tz, series)
    if not ama_given and livestream is not None and livestream.start is not None:
        ama = _default_ama(livestream.start, tz, tz_name, series)
    _check_event_order(ctx, livestream, ama)
    status = _status(ctx, data, livestream, ama)
    image = _text(ctx, data, "image") or None
    if not title:
        return None
    if len(title) > MAX_TITLE:
        ctx.warn(_long_title(title), "too-long", "title")
    return Episode(
        id=episode_id,
        path=ctx.rel,
        season=season,
        number=number,
        title=title,
        summary=summary,
        body=body.strip(),
        guests=_text_list(ctx, data, "guests"),
        hosts=_text_list(ctx, data, "hosts"),
        tags=_text_list(ctx, data, "tags"),
        status=status,
        timezone=tz_name,
        livestream=livestream,
        ama=ama,
        links=_links(ctx, data),
        image=image,
        line=1,
    )


def _default_ama(
    livestream_start: datetime, tz: ZoneInfo, tz_name: str, series: SeriesSettings
) -> ShowEvent:
    local_day = livestream_start.astimezone(tz).date()
    day = _next_weekday(local_day, series.ama_weekday)
    start = datetime.combine(day, series.ama_time, tzinfo=tz).astimezone(UTC)
    return ShowEvent("ama", start, series.ama_duration, None, tz_name)


def _status(
    ctx: _Ctx, data: Mapping[str, Any], livestream: ShowEvent | None, ama: ShowEvent | None
) -> EpisodeStatus:
    raw = data.get("status")
    if raw is None:
        known = any(e is not None and e.start is not None for e in (livestream, ama))
        return EpisodeStatus.SCHEDULED if known else EpisodeStatus.TBD
    try:
        return EpisodeStatus(str(raw).strip().lower())
    except ValueError:
        names = [s.value for s in EpisodeStatus]
        ctx.error(
            f"unknown status {raw!r}: use one of {', '.join(names)}"
            + _did_you_mean(str(raw).lower(), names),
            "bad-status",
            "status",
        )
        return EpisodeStatus.TBD


_HUB_ID = re.compile(r"^s(\d+)-e(\d+)", re.IGNORECASE)


def parse_hub_episode(
    data: Mapping[str, Any],
    ctx: _Ctx,
    stem: str,
    series: SeriesSettings,
    speaker: Callable[[str], tuple[str, str] | None],
) -> Episode | None:
    """A model-mondays-hub `data/episodes/*.yaml` record: dates only, speakers by id."""
    _check_fields(ctx, data, HUB_EPISODE_FIELDS, "a hub episode")
    episode_id = _text(ctx, data, "id") or stem
    title = _text(ctx, data, "title", required=True)
    season = None
    raw_season = data.get("season")
    if isinstance(raw_season, int) and not isinstance(raw_season, bool):
        season = raw_season
    elif isinstance(raw_season, str) and (m := re.search(r"(\d+)", raw_season)):
        season = int(m.group(1))
    else:
        ctx.error(f"`season` must look like season-2, not {raw_season!r}", "bad-type", "season")
    number = None
    m = _HUB_ID.match(episode_id) or _HUB_ID.match(stem)
    if m:
        number = int(m.group(2))
        if season is None:
            season = int(m.group(1))
    else:
        ctx.error(
            f"cannot tell the episode number from id {episode_id!r} (expected s2-e05-…)",
            "bad-id",
            "id",
        )
    raw_status = str(data.get("status") or "placeholder").strip().lower()
    status = _HUB_STATUS.get(raw_status)
    if status is None:
        ctx.error(
            f"unknown status {raw_status!r}: use placeholder, scheduled or published",
            "bad-status",
            "status",
        )
        status = EpisodeStatus.TBD
    tz = zone(series.timezone) or ZoneInfo("UTC")
    livestream = ama = None
    raw_date = data.get("publishDate")
    if raw_status == "placeholder":
        ctx.warn(
            f"placeholder episode ({title or episode_id}): its times are TBD",
            "placeholder",
            "status",
        )
        livestream = ShowEvent(
            "livestream", None, series.livestream_duration, None, series.timezone
        )
        ama = ShowEvent("ama", None, series.ama_duration, None, series.timezone)
    elif raw_date is None:
        ctx.error("missing required field `publishDate`", "missing-field")
    else:
        start, _ok = _to_utc(ctx, raw_date, tz, series.livestream_time, "publishDate", None)
        if start is not None:
            livestream = ShowEvent(
                "livestream", start, series.livestream_duration, None, series.timezone
            )
            ama = _default_ama(start, tz, series.timezone, series)
    guests: list[str] = []
    hosts: list[str] = []
    for sid in _text_list(ctx, data, "speakers"):
        found = speaker(sid)
        if found is None:
            name, role = sid.replace("-", " ").title(), "guest"
        else:
            name, role = found
        (hosts if role == "host" else guests).append(name)
    links: dict[str, str] = {}
    url = data.get("youtubeUrl")
    if isinstance(url, str) and url.startswith("http"):
        links["replay"] = url
    description = _text(ctx, data, "description")
    return Episode(
        id=episode_id,
        path=ctx.rel,
        season=season,
        number=number,
        title=re.sub(r"^Model Mondays\s*[-:–]\s*", "", title) or title,
        summary=description,
        body="",
        guests=tuple(guests),
        hosts=tuple(hosts),
        tags=_text_list(ctx, data, "tags"),
        status=status,
        timezone=series.timezone,
        livestream=livestream,
        ama=ama,
        links=MappingProxyType(links),
        image=None,
        line=1,
    )


# --------------------------------------------------------------------------- recaps

# No lazy `.+?` before a trailing `[ \t#]*$`: on a long line of spaces that backtracks
# quadratically. The closing hashes are stripped in code (`_heading_text`).
_HEADING = re.compile(r"^(#{1,6})[ \t]++([^\n]+)$", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]+)")
_BROKEN_IMAGE = re.compile(r"!\[[^\]\n]*\((?:[^)\n]*)\)(?!\S*\])")
_BLOCK_OR_ITALIC = re.compile(
    r"^(?:>[^\n]*(?:\n>[^\n]*)*|[_*](?![_*\s])[^\n]+(?:\n(?!\n)[^\n]+)*[_*][ \t]*$)", re.MULTILINE
)
_KEY_TAKEAWAY_HEADING = re.compile(
    r"^#{1,6}[ \t]+.*key[ \t-]*take[ \t-]?aways?\b.*$", re.MULTILINE | re.IGNORECASE
)
_KEY_TAKEAWAY_LABEL = re.compile(
    r"^\*\*key[ \t-]*take[ \t-]?aways?:?\*\*:?[ \t]*(.*)$", re.MULTILINE | re.IGNORECASE
)


def _long_title(title: str) -> str:
    return f"title is {len(title)} characters; Discord shows at most {MAX_TITLE}, so it will be cut"


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


def _section_after(body: str, start: int) -> str:
    nxt = _ANY_HEADING.search(body, start)
    section = body[start : nxt.start() if nxt else len(body)]
    section = _BR.sub("", section).strip()
    return section


def _summary(body: str, start: int) -> str:
    """The first blockquote or italic paragraph of the introduction (before the first
    section heading); else the introduction's first plain paragraph."""
    nxt = _ANY_HEADING.search(body, start)
    intro = body[start : nxt.start() if nxt else len(body)]
    found = _quote_or_italic(intro)
    if found is not None:
        return _clean_md(found)
    for para in _PARA_SPLIT.split(intro):
        para = para.strip()
        if para and not para.startswith(("![", "<", "---", "**[", "[")):
            return _clean_md(para)
    return ""


def body_image_problems(body: str, rel: str, body_line: int) -> list[Problem]:
    problems: list[Problem] = []
    if "![" not in body:
        return problems
    for m in _IMAGE_START.finditer(body):
        frag = m.group(0)
        close = frag.find("]")
        paren = frag.find("(")
        if paren != -1 and (close == -1 or paren < close):
            line = body_line + body.count("\n", 0, m.start())
            problems.append(
                Problem(
                    rel,
                    line,
                    "error",
                    f"broken image Markdown {frag[:60]!r}: write it as ![alt text](path)",
                    "broken-image",
                )
            )
    return problems


def parse_recap(
    data: Mapping[str, Any], body: str, body_line: int, ctx: _Ctx, stem: str, series: SeriesSettings
) -> Recap | None:
    _check_fields(ctx, data, RECAP_FIELDS, "a recap")
    _check_next_line_values(ctx)
    recap_id = _text(ctx, data, "id") or stem
    tz = zone(series.timezone) or ZoneInfo("UTC")

    heading = None
    for m in _HEADING.finditer(body):
        if len(m.group(1)) == 1:
            heading = m
            break
    title = _heading_text(heading).strip() if heading else _text(ctx, data, "title")
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
            ctx.problems.append(Problem(ctx.rel, line, "warning", _long_title(title), "too-long"))
        else:
            ctx.warn(_long_title(title), "too-long", "title")

    published = None
    raw_date = data.get("date")
    if isinstance(raw_date, dict):
        _check_fields(ctx, raw_date, frozenset(("created", "updated")), "`date`", "date")
        if raw_date.get("created") is None:
            ctx.error("missing `date.created`", "missing-field", "date")
        else:
            published, _ = _to_utc(ctx, raw_date["created"], tz, time(0, 0), "date", "created")
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
        published, _ = _to_utc(ctx, raw_date, tz, time(0, 0), "date", None)
    if (
        published is None
        and raw_date is not None
        and not any(p.code == "bad-time" for p in ctx.problems)
    ):
        ctx.error(f"bad date {raw_date!r}", "bad-time", "date")

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

    episode_id = None
    raw_episode = data.get("episode")
    if raw_episode is not None:
        if isinstance(raw_episode, str) and raw_episode.strip():
            episode_id = raw_episode.strip()
        else:
            ctx.error(
                f"`episode` must be an episode id or code such as s2-e05, not {raw_episode!r}",
                "bad-type",
                "episode",
            )
    elif code := find_code(title):
        episode_id = canonical_id(*code)

    summary = _summary(body, heading.end() if heading else 0)

    key_takeaway = None
    km = _KEY_TAKEAWAY_HEADING.search(body)
    if km:
        key_takeaway = _section_after(body, km.end()) or None
    else:
        lm = _KEY_TAKEAWAY_LABEL.search(body)
        if lm:
            rest = lm.group(1).strip() or body[lm.end() :].lstrip("\n").split("\n\n", 1)[0]
            key_takeaway = _clean_md(rest) or None

    image = None
    im = _IMAGE.search(body)
    if im:
        image = im.group(2)
    elif isinstance(data.get("banner"), str):
        image = data["banner"]

    url = data.get("url")
    if url is not None and not (isinstance(url, str) and _URL.match(url.strip())):
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
        authors=_text_list(ctx, data, "authors"),
        categories=_text_list(ctx, data, "categories"),
        tags=_text_list(ctx, data, "tags"),
        episode_id=episode_id,
        url=url.strip() if url else None,
        image=image,
        body=body[:MAX_RECAP_BODY],
        line=1,
    )


# --------------------------------------------------------------------------- authors


def parse_authors(data: Any, ctx: _Ctx) -> Mapping[str, Author]:
    if not isinstance(data, dict) or not isinstance(data.get("authors"), dict):
        ctx.error("an authors file holds `authors:` then one entry per author key", "bad-authors")
        return MappingProxyType({})
    out: dict[str, Author] = {}
    for key, entry in data["authors"].items():
        if not isinstance(entry, dict):
            ctx.error(
                f"author {key!r} must be a mapping with `name:`", "bad-authors", "authors", str(key)
            )
            continue
        _check_fields(
            ctx,
            entry,
            frozenset(("name", "description", "avatar", "slug", "url")),
            f"author {key!r}",
            str(key),
        )
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            ctx.warn(f"author {key!r} has no `name`", "missing-field", str(key))
            name = str(key)
        avatar = entry.get("avatar")
        out[str(key)] = Author(
            key=str(key),
            name=name.strip(),
            description=str(entry.get("description") or "").strip(),
            avatar=avatar.strip() if isinstance(avatar, str) else None,
        )
    return MappingProxyType(out)


# --------------------------------------------------------------------------- schedule pages

_PAGE_EPISODE = re.compile(r"^##[ \t]+(S\d+:?E\d+)\b[^\n]*$", re.MULTILINE | re.IGNORECASE)
_PAGE_EVENT = re.compile(
    r"Register For The (Livestream|AMA)\b.*\s-\s+(.+?)\s*(?:⁉️)?\s*$", re.IGNORECASE
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_PAGE_DATE = re.compile(r"(?:\w+,\s*)?([A-Za-z]{3})[a-z]*\s+(\d{1,2})(?:,\s*(\d{4}))?")


def check_schedule_page(text: str, rel: str) -> list[Problem]:
    """A season page (`## S2E04 · …` then "Register For The Livestream … - Jul 07, 2025"):
    the AMA must not be dated before its livestream; TBD dates are reported."""
    problems: list[Problem] = []
    heads = list(_PAGE_EPISODE.finditer(text))
    year = None
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        section_line = text.count("\n", 0, head.start()) + 1
        dates: dict[str, tuple[date | None, int]] = {}
        for offset, row in enumerate(text[head.start() : end].split("\n")):
            m = _PAGE_EVENT.search(row)
            if not m:
                continue
            kind = "livestream" if m.group(1).lower() == "livestream" else "ama"
            line = section_line + offset
            when = m.group(2).strip()
            if when.upper().startswith("TBD"):
                problems.append(
                    Problem(rel, line, "warning", f"{head.group(1)} {kind} date is TBD", "tbd-time")
                )
                dates[kind] = (None, line)
                continue
            dm = _PAGE_DATE.search(when)
            if not dm or dm.group(1).lower() not in _MONTHS:
                continue
            if dm.group(3):
                year = int(dm.group(3))
            try:
                day = date(year or 2000, _MONTHS[dm.group(1).lower()], int(dm.group(2)))
            except ValueError:
                problems.append(Problem(rel, line, "error", f"bad date {when!r}", "bad-date"))
                continue
            dates[kind] = (day, line)
            if "](" in row and ")" not in row[row.index("](") :]:
                problems.append(
                    Problem(rel, line, "warning", "link is missing its closing `)`", "broken-link")
                )
        live, ama = dates.get("livestream"), dates.get("ama")
        if live and ama and live[0] and ama[0] and ama[0] < live[0]:
            problems.append(
                Problem(
                    rel,
                    ama[1],
                    "error",
                    f"{head.group(1)}: the AMA ({ama[0]:%b %d}) is before "
                    f"the livestream ({live[0]:%b %d})",
                    "ama-before-livestream",
                )
            )
    return problems


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
    if is_yaml:
        fm, body, body_line, first_line = text, "", 1, 1
    else:
        fm, body, body_line, closed = split_frontmatter(text)
        first_line = 2
        if fm is not None and not closed:
            problems.append(
                Problem(
                    rel,
                    1,
                    "error",
                    "frontmatter is not closed: add a `---` line after it",
                    "frontmatter-unclosed",
                )
            )
            return Parsed("ignored", None, problems)
        if fm is None:
            if pages:
                return Parsed("page", None, check_schedule_page(text, rel))
            problems.append(
                Problem(
                    rel,
                    1,
                    "error",
                    NO_FRONTMATTER,
                    "no-frontmatter",
                )
            )
            return Parsed("ignored", None, problems)
    data, ok = load_yaml(fm, rel, first_line, problems)
    if not ok:
        return Parsed("ignored", None, problems)
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        problems.append(
            Problem(
                rel,
                first_line if data is not None else 1,
                "error",
                f"frontmatter is {what}, not a set of `field: value` lines",
                "frontmatter-not-mapping",
            )
        )
        return Parsed("ignored", None, problems)
    ctx = _Ctx(rel, fm, first_line, problems)
    if kind == "auto":
        kind = looks_like(data)
        if kind == "page":
            return Parsed("page", None, problems)
    if kind == "authors":
        return Parsed("authors", parse_authors(data, ctx), problems)
    if kind == "episode":
        hub = is_yaml and ("publishDate" in data or "segmentType" in data or "episode" not in data)
        if hub:
            item: Episode | Recap | None = parse_hub_episode(data, ctx, stem, series, speaker)
        else:
            item = parse_native_episode(data, body, ctx, stem, series)
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


def load_speakers(folder: Path) -> dict[str, tuple[str, str]]:
    """A hub `speakers/` folder -> id: (display name, role)."""
    out: dict[str, tuple[str, str]] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return out
    for path in entries:
        if path.suffix not in (".yaml", ".yml") or path.is_symlink():
            continue
        try:
            raw = path.read_bytes()
            if len(raw) > MAX_FILE_BYTES or b"&" in raw:
                continue
            data = yaml.load(raw, Loader=_Loader)  # noqa: S506 - C *safe* loader
        except (OSError, yaml.YAMLError, ValueError, RecursionError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            out[str(data.get("id") or path.stem)] = (
                data["name"].strip(),
                str(data.get("role") or "guest"),
            )
    return out


__all__ = [
    "MAX_FILE_BYTES",
    "Parsed",
    "check_schedule_page",
    "decode",
    "load_speakers",
    "load_yaml",
    "parse_bytes",
    "parse_code",
    "parse_text",
    "split_frontmatter",
]
