"""Bytes -> text -> frontmatter data, with python-frontmatter and PyYAML's C safe loader.

python-frontmatter splits the file (with `SafeYAMLHandler`, our handler) and PyYAML's C safe
loader reads the YAML; on top of them sit the defences a content repository open to pull
requests needs, each refusal with a stable problem code and a message of ours (never the
library's wording, which changes between versions):

- `too-large`, `encoding`, `binary`, `empty`: checked on the bytes, before any parsing;
- `yaml-depth`: more than MAX_YAML_DEPTH nested lists or mappings. libyaml's composer
  recurses in C, and ~50,000 nested `[` overflow the C stack (no Python exception, the
  process dies), so composing stops at that depth. Newer libyaml refuses deep flow
  collections itself (at 1,000 levels, with its own message); we say `yaml-depth` either way;
- `yaml-aliases`: aliases (`*a`) or merges (`<<: *a`) that would expand to more than
  MAX_YAML_NODES values (billion laughs), or that refer to themselves;
- `yaml-syntax`: anything else the YAML library refuses, at the line to fix;
- `bad-date`: a value YAML reads as a date that does not exist (`2025-13-45`);
- `frontmatter-unclosed`, `frontmatter-not-mapping`: the file's shape.

Every line in a refusal is a line of the file: the YAML error's mark plus the frontmatter's
offset (the line after the opening `---`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from bot.content.models import Problem

MAX_FILE_BYTES = 1 << 20
MAX_YAML_NODES = 10_000
MAX_YAML_DEPTH = 64

try:
    _CLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _CLoader = yaml.SafeLoader

# Every nesting level needs one of these characters, so a document with few of them cannot
# be deep: the common case is loaded by the plain C loader with no bookkeeping at all.
_NESTING_CHARS = "[{-?:"


class Refused(Exception):
    """A file (or its frontmatter) that cannot be read: one problem, at a line of the file."""

    def __init__(self, line: int | None, message: str, code: str):
        super().__init__(message)
        self.line = line
        self.message = message
        self.code = code

    def problem(self, rel: str) -> Problem:
        return Problem(rel, self.line, "error", self.message, self.code)


# --------------------------------------------------------------------------- bytes


def too_large(rel: str, size: int) -> Problem:
    """The one diagnostic for a file over `MAX_FILE_BYTES`, whether it was read or only seen
    in a directory listing."""
    return Problem(
        rel,
        None,
        "error",
        f"file is larger than {MAX_FILE_BYTES >> 20} MiB ({size} bytes); skipped",
        "too-large",
    )


def decode(raw: bytes, rel: str, problems: list[Problem]) -> str | None:
    """Bytes -> text with newlines normalised, or None with a problem saying why."""
    if len(raw) > MAX_FILE_BYTES:
        problems.append(too_large(rel, len(raw)))
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


# --------------------------------------------------------------------------- YAML


class _DepthLimitedLoader(_CLoader):  # type: ignore[misc,valid-type]
    """The C safe loader, refusing to compose deeper than MAX_YAML_DEPTH. The composer
    calls `descend_resolver(parent, index)` before each node and `ascend_resolver()` after
    it (the resolver's hooks for path-based tags, which we do not use)."""

    depth = 0

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        self.depth += 1
        # A leaf under MAX_YAML_DEPTH collections is fine; one more collection is not.
        if self.depth > MAX_YAML_DEPTH + 1:
            raise _TooDeep(current_node.start_mark.line if current_node is not None else 0)

    def ascend_resolver(self) -> None:
        self.depth -= 1


class _OverLimit(Exception):
    def __init__(self, line: int):
        self.line = line  # 0-based, in the YAML text


class _TooDeep(_OverLimit):
    pass


class _TooManyAliases(_OverLimit):
    pass


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


def _compose(text: str) -> yaml.Node | None:
    """The node graph of `text`, composed no deeper than MAX_YAML_DEPTH (else _TooDeep)."""
    loader = _DepthLimitedLoader(text)
    try:
        # The loader's base `_CLoader` is a variable, so mypy sees it as Any: name the type.
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def _load(text: str) -> Any:
    """`text` as PyYAML's C safe loader reads it, within our limits. Raises _TooDeep,
    _TooManyAliases or what PyYAML raises."""
    if sum(text.count(c) for c in _NESTING_CHARS) <= MAX_YAML_DEPTH and "&" not in text:
        # Shallow by construction and without anchors (so without aliases): plain C loader.
        return yaml.load(text, Loader=_CLoader)  # noqa: S506 - the *safe* C loader
    loader = _DepthLimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "*" in text:
            size = _expanded_size(node)
            if size is None or size > MAX_YAML_NODES:
                raise _TooManyAliases(node.start_mark.line)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _offset(lines: list[str], line: int, column: int) -> int:
    return sum(len(row) + 1 for row in lines[:line]) + column


def _char_at(lines: list[str], mark: Any) -> str:
    if mark is None or not 0 <= mark.line < len(lines):
        return ""
    row = lines[mark.line]
    return row[mark.column] if 0 <= mark.column < len(row) else ""


def _depth_before(text: str, mark: Any) -> int | None:
    """If what comes before `mark` is already nested too deeply, the 0-based line where it
    happens. Newer libyaml refuses deep flow collections while scanning ahead, before our
    composer gets there; the part it did read is composed again, here, by our own rule."""
    if mark is None:
        return None
    prefix = text[: _offset(text.split("\n"), mark.line, mark.column)]
    try:
        _compose(prefix)
    except _TooDeep as deep:
        return deep.line
    except yaml.YAMLError:
        return None  # the prefix ends mid-document: expected, and not too deep
    return None


_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
_DATE_LIKE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")


def _unclosed(row: str, column: int) -> bool:
    """Whether the quote or bracket at `row[column]` is still open at the end of its line."""
    opened = row[column]
    if opened in "\"'":
        return opened not in row[column + 1 :]
    depth = 0
    for c in row[column:]:
        depth += (c in "[{") - (c in "]}")
        if depth == 0:
            return False
    return True


def _syntax(exc: yaml.YAMLError, text: str) -> tuple[int, str]:
    """A YAML error -> (0-based line, a message of ours). Told apart by where the library
    points (its marks) and what is written there, never by the library's wording."""
    lines = text.split("\n")
    if not isinstance(exc, yaml.MarkedYAMLError):
        # A reader error: a character YAML does not accept.
        bad = _CONTROL.search(text)
        line = text.count("\n", 0, bad.start()) if bad else 0
        what = f" (U+{ord(bad.group()):04X})" if bad else ""
        return line, f"YAML syntax error: a control character{what} YAML does not accept"
    problem, context = exc.problem_mark, exc.context_mark
    if isinstance(exc, yaml.constructor.ConstructorError):
        mark = problem or context
        line = mark.line if mark is not None else 0
        rest = lines[line][mark.column :] if mark is not None and line < len(lines) else ""
        if rest.startswith("!"):
            tag = rest.split(None, 1)[0]
            return line, f"unsupported YAML tag `{tag[:60]}`: write plain text, numbers or lists"
        return line, (
            "YAML value that cannot become a field: a field name must be plain text, "
            "and `<<:` merges only mappings"
        )
    opened = _char_at(lines, context)
    if (
        context is not None  # else `opened` is empty
        and opened
        and opened in "[{\"'"
        and _unclosed(lines[context.line], context.column)
    ):
        # An unclosed `[` or quote is noticed lines later; where it opened is what to fix.
        if opened in "[{":
            return context.line, (
                f"YAML syntax error: the `{opened}` opened here is not closed "
                "(or a `,` is missing between its items)"
            )
        return context.line, f"YAML syntax error: the quote `{opened}` opened here is not closed"
    mark = problem or context
    line = mark.line if mark is not None else 0
    if any("\t" in r[: len(r) - len(r.lstrip())] for r in lines[max(0, line - 1) : line + 1]):
        return line, "YAML syntax error: a tab indents this line; indent with spaces"
    here = _char_at(lines, mark)
    if here == ":":
        return line, (
            "YAML syntax error: unexpected `:` here; put a value that holds `: ` in quotes "
            '(`title: "S2:E5: Fine Tuning"`), or check the indentation'
        )
    if here == "*":
        return line, (
            "YAML syntax error: `*` starts an alias to a `&name` that is not defined; "
            "put a value that starts with `*` in quotes"
        )
    return line, (
        "YAML syntax error: check this line's indentation and its `field: value` form; "
        + "put the value in quotes if it holds `: ` or ` #` or starts with one of "
        + "`[ { * & ! | > @ %`"
    )


def _bad_date(text: str) -> tuple[int, str]:
    for i, row in enumerate(text.split("\n")):
        for y, mo, d in _DATE_LIKE.findall(row):
            try:
                date(int(y), int(mo), int(d))
            except ValueError:
                return i, f"bad date {y}-{mo}-{d}: there is no such day (write it like 2025-07-14)"
    return 0, (
        "bad date or time: write it like 2025-07-14, 2025-07-14T10:30 or 2025-07-14T10:30-07:00"
    )


def load_yaml(text: str, first_line: int) -> dict[str, Any]:
    """One YAML document (a frontmatter, or a whole `.yaml` file whose line 1 is
    `first_line`) -> its mapping; raises Refused with a line of the file."""
    try:
        data = _load(text)
    except _TooManyAliases as bomb:
        raise Refused(
            first_line + bomb.line,
            "the frontmatter uses too many aliases (`*name` or `<<:` expanding to more than "
            f"{MAX_YAML_NODES:,} values), or one that contains itself; refused",
            "yaml-aliases",
        ) from None
    except _TooDeep as deep:
        raise _refused_depth(first_line + deep.line) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem_mark", None)
        deep_line = _depth_before(text, problem)
        if deep_line is not None:
            raise _refused_depth(first_line + deep_line) from None
        line, message = _syntax(exc, text)
        raise Refused(first_line + line, message, "yaml-syntax") from None
    except (ValueError, OverflowError):
        # PyYAML builds dates itself: "2025-13-45" looks like a date and fails to construct.
        line, message = _bad_date(text)
        raise Refused(first_line + line, message, "bad-date") from None
    except RecursionError:  # pragma: no cover - composing is bounded above
        raise _refused_depth(first_line) from None
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        raise Refused(
            first_line if data is not None else 1,
            f"frontmatter is {what}, not a set of `field: value` lines",
            "frontmatter-not-mapping",
        )
    return data


def _refused_depth(line: int) -> Refused:
    return Refused(
        line,
        f"the frontmatter nests lists or mappings more than {MAX_YAML_DEPTH} levels deep; refused",
        "yaml-depth",
    )


# --------------------------------------------------------------------------- frontmatter

NO_FRONTMATTER = "no frontmatter: the file must start with a `---` line, its fields, then `---`"
_OPEN = re.compile(r"---[ \t]*\n")
_NONBLANK = re.compile(r"\S")


def _closing(text: str, start: int) -> tuple[int, int]:
    """(start, end) of the first line at or after `start` (a line start) that is `---` or
    `...` (trailing blanks allowed), else (-1, -1); `str.find` does the scanning."""
    best = (-1, -1)
    limit = len(text)
    for marker in ("\n---", "\n..."):
        at = text.find(marker, start - 1, limit)
        while at != -1:
            end = text.find("\n", at + 4)
            end = len(text) if end == -1 else end
            if not text[at + 4 : end].strip(" \t"):
                best, limit = (at + 1, end), at  # `...` counts only if it comes first
                break
            at = text.find(marker, at + 1, limit)
    return best


class SafeYAMLHandler(YAMLHandler):
    """python-frontmatter's YAML handler with our rules: the frontmatter opens with a
    `---` line at the very start of the file and closes with `---` (or YAML's `...`), is
    read by `load_yaml` (C safe loader, our limits), and must be a mapping. One instance
    per file: `split` records where the frontmatter and the body start, because
    `frontmatter.parse` strips the body and the diagnostics need its lines."""

    FM_BOUNDARY = re.compile(r"^---[ \t]*$", re.MULTILINE)

    def __init__(self) -> None:
        super().__init__()
        self.fm = ""
        self.body_line = 1

    def detect(self, text: str) -> bool:
        return _OPEN.match(text) is not None

    def split(self, text: str) -> tuple[str, str]:
        opening = _OPEN.match(text)
        if opening is None:
            raise Refused(1, NO_FRONTMATTER, "no-frontmatter")
        start = opening.end()
        close_start, close_end = _closing(text, start)
        if close_start < 0:
            raise Refused(
                1, "frontmatter is not closed: add a `---` line after it", "frontmatter-unclosed"
            )
        self.fm = text[start:close_start]
        # The body's first line with text (frontmatter.parse strips the blank ones).
        nonblank = _NONBLANK.search(text, close_end + 1)
        first = nonblank.start() if nonblank else len(text)
        if first >= len(text):  # no body: the line after the closing `---`
            self.body_line = text.count("\n", 0, close_end) + 2
        else:
            self.body_line = text.count("\n", 0, first) + 1
        return self.fm, text[close_end + 1 :]

    def load(self, fm: str, **kwargs: object) -> dict[str, Any]:
        return load_yaml(fm, 2)


@dataclass(slots=True)
class Frontmatter:
    """What a Markdown file holds: its fields, the YAML text, and its body."""

    data: dict[str, Any]
    fm: str  # the frontmatter's YAML text; its first line is line 2 of the file
    body: str  # stripped, as python-frontmatter gives it
    body_line: int  # the file's line of the body's first character


def has_frontmatter(text: str) -> bool:
    return _OPEN.match(text) is not None


def read_frontmatter(text: str) -> Frontmatter:
    """Decoded text of a Markdown file -> its frontmatter and body; raises Refused."""
    handler = SafeYAMLHandler()
    if not handler.detect(text):
        raise Refused(1, NO_FRONTMATTER, "no-frontmatter")
    data, body = frontmatter.parse(text, handler=handler)
    return Frontmatter(data, handler.fm, body, handler.body_line)


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "NO_FRONTMATTER",
    "Frontmatter",
    "Refused",
    "SafeYAMLHandler",
    "decode",
    "has_frontmatter",
    "load_yaml",
    "read_frontmatter",
    "too_large",
]
