"""The loader's fast paths for frontmatter must read exactly what PyYAML reads.

`_load_simple` (a line reader for the common shape) and `_load_plain` (libyaml's composer
without its per-node resolver calls) are checked against `yaml.load` with the C safe loader:
on every file of the corpus, on tricky hand-written documents and on generated ones.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content.loader import _load_plain, _load_simple, split_frontmatter

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "model-mondays"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _same(a: object, b: object) -> bool:
    """Equal, with the same types all the way down (1 is not True, "1" is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)  # type: ignore[arg-type]
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))  # type: ignore[arg-type]
    return a == b


def _reference(text: str) -> tuple[str, object]:
    try:
        return "ok", yaml.load(text, Loader=yaml.CSafeLoader)
    except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
        return "error", type(exc).__name__


def _check(text: str) -> None:
    simple = _load_simple(text)
    if simple is not None:
        kind, expected = _reference(text)
        assert kind == "ok", f"accepted what PyYAML refuses: {text!r}"
        assert _same(simple, expected), f"{text!r}: {simple!r} != {expected!r}"
    if "&" in text or "!" in text or "<<" in text:
        return  # those documents never take the fast paths
    kind, expected = _reference(text)
    if kind == "ok":
        # "=" as a key is the one known difference: the loader refuses it, PyYAML does not.
        if isinstance(expected, dict) and "=" in expected:
            return
        assert _same(_load_plain(text), expected), text
    else:
        with pytest.raises((yaml.YAMLError, ValueError, OverflowError, TypeError)):
            _load_plain(text)


def _frontmatters() -> list[str]:
    out = []
    for base in (CORPUS, FIXTURES):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in (".md", ".yaml", ".yml") or not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            fm = text if path.suffix != ".md" else split_frontmatter(text)[0]
            if fm is not None:
                out.append(fm)
    return out


def test_corpus_and_fixtures_read_the_same() -> None:
    docs = _frontmatters()
    if not docs:
        pytest.skip(f"no corpus at {CORPUS} and no fixtures")
    accepted = 0
    for fm in docs:
        _check(fm)
        accepted += _load_simple(fm) is not None
    assert accepted > 0  # the fast path is actually taken on real content


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, y]\nc:\n  d: 2020-01-06\n  e: hi there\nf:\n  - a\n  - b\ng:\n- z\nh:\n",
        "title: S2:E5 Fine-Tuning\nurl: https://x.y/z?a=1#frag\n",
        "a: b: c\n",
        "a: x #c\n",
        "a: x#c\n",
        "a: 'it''s'\n",
        'a: "x\\ty"\n',
        "a: 'q'\nb: \"d\"\n",
        "a:\n  b:\n    c: 1\n",
        "a:\n  b: 1\n   c: 2\n",
        "a: x\n  y\n",
        "a:\n- 1\n- no\n- ~\n- 1.5\n- 0x1f\n- 1_000\n- .inf\n",
        "on: 1\n",
        "a:\n  yes: 1\n",
        "a: [x, , y]\n",
        "a: [x,]\n",
        "a: [x:y]\n",
        "a: [ ]\n",
        "a: []\n",
        "a: [a b, 'c']\n",
        "a: {b: 1}\n",
        "a: 2025-13-45\n",
        "a: 2020--1-06\nb: 2020-1--06\nc: 2020-01-6\nd: 0000-00-00\ne: 2020-01-06x\n",
        "a: 007\nb: 0\nc: 10\nd: 1\u00b2\ne: \u0661\n",
        "a: 2025-07-14 10:30:00\n",
        "a: 2025-07-14T10:30\n",
        "a: 10:30\n",
        "a: 190:20:30\n",
        "a: =\n",
        "a: x\u00a0y\n",
        "a: x\ty\n",
        "a: x\u2028y\n",
        "a: [\u3000x, y\u2003]\nb: x\u3000y\nc: \u3000\n",
        "a: [x\u00a0, y]\nb: \ufeffx\nc: x\x85y\n",
        "a: caf\u00e9\n",
        "a: \u00e9t\u00e9\n",
        "a: -1\n",
        "a: - x\n",
        "a:\n  - x\n  -  y\n",
        "a:\n  - x\n - y\n",
        "a:\n  b: 1\nb: 2\na: 3\n",
        "- a\n",
        "a\n",
        "a:\n\n  b: 1\n\n",
        "a:   \nb: 1\n",
        "# comment\na: 1\n",
        "a: x  y\n",
        "a: x \n",
        "key_1: v\nkey-2: v\n_k: v\n",
        "a: 'x'y\n",
        'a: "x"y\n',
        "a: 1e3\nb: 6.02e+23\nc: +1\nd: 017\ne: 0o17\n",
        "a: True\nb: FALSE\nc: Null\nd: nULL\n",
    ],
)
def test_tricky_documents_read_the_same(text: str) -> None:
    _check(text)


_KEYS = st.sampled_from(["a", "b", "title", "on", "y", "No", "_k", "k-1", "tags", "null"])
_SCALARS = st.sampled_from(
    [
        "x",
        "hello world",
        "x  y",
        "x #c",
        "x#c",
        "a: b",
        "a:b",
        "10:30",
        "1",
        "-1",
        "+1",
        "1.5",
        ".5",
        "1e3",
        "0x1f",
        "0b11",
        "1_0",
        "yes",
        "Off",
        "~",
        "null",
        "=",
        "2020-01-06",
        "2020-1-6",
        "2025-13-45",
        "2020--1-06",
        "0000-00-00",
        "007",
        "0",
        "1\u00b2",
        "2020-01-06T13:30",
        "2020-01-06 13:30:00",
        "'q'",
        "'it''s'",
        '"d"',
        '"a\\"b"',
        "[]",
        "[a, b]",
        "[a,b]",
        "[ a , b ]",
        "[a, , b]",
        "[a:b]",
        "[1, yes, ~]",
        "[[a]]",
        "{a: 1}",
        "|",
        ">",
        "- x",
        "?x",
        "@x",
        "`x`",
        "%x",
        "Voutil\u00e1",
        "x\u00a0y",
        "\u3000x",
        "x\u2003",
        "x\ty",
        "(x)",
        "./x",
        "~x",
        "x,y",
        "x:",
        "",
    ]
)
_LINE = st.one_of(
    st.tuples(st.sampled_from(["", " ", "  ", "    "]), _KEYS, _SCALARS).map(
        lambda t: f"{t[0]}{t[1]}:{' ' + t[2] if t[2] else ''}"
    ),
    st.tuples(st.sampled_from(["", "  ", "   "]), _SCALARS).map(lambda t: f"{t[0]}- {t[1]}"),
    st.sampled_from(["", "  ", "# c", "  # c", "x", "---"]),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, min_size=1, max_size=8))
def test_generated_documents_read_the_same(lines: list[str]) -> None:
    _check("\n".join(lines) + "\n")


# Documents of the shape the line reader accepts, with values drawn from the tricky pool:
# most are accepted, so the comparison is exercised rather than skipped.
_ENTRY = st.one_of(
    st.tuples(_KEYS, _SCALARS).map(lambda t: [f"{t[0]}: {t[1]}".rstrip()]),
    st.tuples(_KEYS, st.sampled_from([0, 2, 4]), st.lists(_SCALARS, min_size=0, max_size=3)).map(
        lambda t: [f"{t[0]}:"] + [f"{' ' * t[1]}- {v}".rstrip() for v in t[2]]
    ),
    st.tuples(
        _KEYS, st.sampled_from([1, 2, 4]), st.lists(st.tuples(_KEYS, _SCALARS), max_size=3)
    ).map(lambda t: [f"{t[0]}:"] + [f"{' ' * t[1]}{k}: {v}".rstrip() for k, v in t[2]]),
    st.just([""]),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ENTRY, min_size=1, max_size=6))
def test_generated_frontmatter_shapes_read_the_same(entries: list[list[str]]) -> None:
    _check("\n".join(line for entry in entries for line in entry) + "\n")
