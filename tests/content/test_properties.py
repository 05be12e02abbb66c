"""Property-based: whatever the bytes or frontmatter, the loader returns problems, never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import SeriesSettings
from bot.content.loader import parse_bytes, parse_text
from bot.content.models import Episode, Problem, Recap

SERIES = SeriesSettings()
KEYS = [
    "id",
    "season",
    "episode",
    "title",
    "status",
    "timezone",
    "livestream",
    "ama",
    "date",
    "draft",
    "tags",
    "authors",
    "episode",
    "start",
    "duration",
    "url",
    "links",
    "created",
]
yaml_scalar = st.one_of(
    st.text(max_size=20),
    st.integers(-5, 3000),
    st.sampled_from(
        [
            "TBD",
            "2025-07-14",
            "2025-07-14T13:30",
            "2025-02-30",
            "30m",
            "1h30m",
            "null",
            "[a, b",
            "&a x",
            "*a",
            "{x: 1}",
            "America/New_York",
            "true",
            "~",
            "'",
            '"',
        ]
    ),
)


def _check(parsed) -> None:
    assert (
        parsed.item is None or isinstance(parsed.item, Episode | Recap) or parsed.kind == "authors"
    )
    assert all(isinstance(p, Problem) and p.path for p in parsed.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from(["episode", "recap", "authors", "auto"]))
def test_arbitrary_bytes_never_raise(raw, kind):
    for rel in ("episodes/x.md", "episodes/x.yaml"):
        _check(parse_bytes(raw, rel, kind, SERIES, pages=kind == "auto"))
        _check(parse_bytes(b"---\n" + raw + b"\n---\n# T\n", rel, kind, SERIES))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(KEYS), st.integers(0, 4), yaml_scalar),
        max_size=12,
    ),
    st.sampled_from(["episode", "recap", "auto"]),
)
def test_arbitrary_frontmatter_never_raises(fields, kind):
    lines = []
    for key, indent, value in fields:
        lines.append(f"{' ' * indent}{key}: {value}")
    text = "---\n" + "\n".join(lines) + "\n---\n# Title\n\n> summary\n"
    _check(parse_text(text, "recaps/x.md", kind, SERIES))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_frontmatter_text_never_raises(text):
    _check(parse_text("---\n" + text + "\n---\nbody", "episodes/x.md", "episode", SERIES))
    _check(parse_text(text, "episodes/x.yaml", "episode", SERIES))
