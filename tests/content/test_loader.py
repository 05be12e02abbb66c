"""The loader on the real corpus and on every kind of bad file: never raises, always says why."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import SeriesSettings, Settings
from bot.content.index import ContentIndex
from bot.content.loader import parse_bytes
from bot.content.models import EpisodeStatus

SERIES = SeriesSettings()


def load(text: str | bytes, rel: str = "episodes/x.md", kind: str = "episode"):
    raw = text.encode() if isinstance(text, str) else text
    return parse_bytes(raw, rel, kind, SERIES)  # type: ignore[arg-type]


def codes(parsed) -> dict[str, int | None]:
    return {p.code: p.line for p in parsed.problems}


# ------------------------------------------------------------------ the corpus


@pytest.fixture(scope="module")
def corpus_index(corpus: Path) -> ContentIndex:
    index = ContentIndex(corpus, Settings())
    index.reload()
    return index


def test_every_corpus_file_loads_without_raising(corpus: Path):
    series = SeriesSettings()
    for path in corpus.rglob("*"):
        if path.is_file():
            parse_bytes(path.read_bytes(), path.name, "auto", series, pages=True)
            parse_bytes(path.read_bytes(), path.name, "recap", series)
            parse_bytes(path.read_bytes(), path.name, "episode", series)


def test_hub_episodes_and_blog_recaps_load(corpus_index: ContentIndex):
    hub = [e for e in corpus_index.episodes() if e.path.startswith("hub-data/episodes/")]
    assert len(hub) == 49
    blog = [r for r in corpus_index.recaps(include_drafts=True) if r.path.startswith("blog-posts/")]
    assert len(blog) == 13


def test_hub_episode_fields(corpus_index: ContentIndex):
    ep = corpus_index.episode("s2-e05-2025-07-15")
    assert ep is not None
    assert (ep.season, ep.number, ep.code) == (2, 5, "S2:E5")
    assert ep.title == "Fine Tuning & Distillation"
    assert ep.guests == ("Dave Voutila",) and ep.hosts == ("Nitya Narasimhan",)
    assert ep.status is EpisodeStatus.PUBLISHED
    assert ep.links["replay"] == "https://www.youtube.com/watch?v=VSNGzBB20aw"
    # Date-only publishDate: the series' 10:30 America/Los_Angeles (PDT in July).
    assert ep.livestream is not None and ep.livestream.start == datetime(
        2025, 7, 15, 17, 30, tzinfo=UTC
    )
    # The AMA falls on the next Friday at the series' AMA time.
    assert ep.ama is not None and ep.ama.start == datetime(2025, 7, 18, 17, 30, tzinfo=UTC)


def test_hub_placeholders_are_tbd(corpus_index: ContentIndex):
    ep = corpus_index.episode("s4-e12-2026-11-02")
    assert ep is not None and ep.status is EpisodeStatus.TBD
    assert ep.livestream is not None and ep.livestream.is_tbd
    problems = [
        p for p in corpus_index.problems if p.path == "hub-data/episodes/s4-e12-2026-11-02.yaml"
    ]
    assert [(p.code, p.severity) for p in problems] == [("placeholder", "warning")]


def test_seed_recap(corpus_index: ContentIndex):
    recap = corpus_index.recap("seed-recap-s2e5")
    assert recap is not None
    assert recap.title == "S2:E5 Understanding Fine Tuning & Distillation with Dave Voutila"
    assert recap.summary.startswith("Model Mondays is a weekly series")
    assert recap.key_takeaway and recap.key_takeaway.startswith(
        "The key insight is that model customization"
    )
    assert recap.authors == ("sharda", "nitya")
    assert recap.tags == ("fine-tuning", "distillation", "model-customization")
    assert recap.episode_id == "s2-e05"
    # date.created 2025-07-14 is midnight in the series zone (PDT).
    assert recap.published == datetime(2025, 7, 14, 7, 0, tzinfo=UTC)
    assert not recap.draft
    assert corpus_index.episode_for_recap(recap).code == "S2:E5"  # type: ignore[union-attr]


def test_recap_episode_inferred_from_each_title_style(corpus_index: ContentIndex):
    by_path = {r.path: r for r in corpus_index.recaps(include_drafts=True)}
    assert by_path["blog-posts/2025-06-16.md"].episode_id == "s2-e01"  # "S2E01 Recap: …"
    assert by_path["blog-posts/2025-06-30.md"].episode_id == "s2-e03"  # "S2:E3 …"
    assert by_path["blog-posts/2025-08-13.md"].episode_id == "s2-e09"  # "Model Mondays S2E9: …"
    assert by_path["blog-posts/2025-03-03.md"].episode_id is None


@pytest.mark.parametrize(
    ("path", "line", "severity", "code"),
    [
        ("blog-posts/2025-06-16.md", 4, "warning", "value-next-line"),  # draft: / true
        ("blog-posts/2025-08-13.md", 2, "warning", "flat-date"),  # flat date
        ("blog-posts/2025-06-30.md", 11, "warning", "comma-list"),  # "slms, reasoning, phi-4"
        ("seed-recap-s2e5.md", 11, "warning", "comma-list"),
        ("blog-posts/2025-08-04.md", 1, "error", "no-frontmatter"),
        ("blog-posts/2025-06-30.md", 21, "warning", "broken-image"),  # ![Banner(../…
        ("season-pages/season-02.md", 56, "error", "ama-before-livestream"),  # S2E04 Jun 11
        ("season-pages/season-03.md", 15, "warning", "tbd-time"),  # S3:E01 AMA TBD
        ("hub-data/episodes/s4-e01-2026-08-10.yaml", 9, "warning", "placeholder"),
    ],
)
def test_known_mess_is_reported_on_the_right_line(corpus_index, path, line, severity, code):
    found = {(p.path, p.line, p.severity, p.code) for p in corpus_index.problems}
    assert (path, line, severity, code) in found


def test_draft_on_next_line_still_reads_true(corpus_index: ContentIndex):
    by_path = {r.path: r for r in corpus_index.recaps(include_drafts=True)}
    assert by_path["blog-posts/2025-06-16.md"].draft is True
    assert by_path["blog-posts/2025-06-30.md"].draft is False


# ------------------------------------------------------------------ native episodes

GOOD = """---
id: s2-e05
season: 2
episode: 5
title: Fine Tuning & Distillation
guests: [Dave Voutila]
status: scheduled
timezone: America/Los_Angeles
livestream:
  start: {start}
  duration: 1h30m
  url: https://example.org/live
ama:
  start: 2025-07-18T10:30
---
Body text.
"""


def test_native_episode_wall_clock_follows_dst():
    summer = load(GOOD.format(start="2025-07-14T10:30")).item
    winter = load(GOOD.format(start="2025-01-13T10:30").replace("2025-07-18", "2025-01-17")).item
    assert summer.livestream.start == datetime(2025, 7, 14, 17, 30, tzinfo=UTC)  # PDT, -7
    assert winter.livestream.start == datetime(2025, 1, 13, 18, 30, tzinfo=UTC)  # PST, -8
    assert summer.livestream.duration == timedelta(hours=1, minutes=30)
    assert summer.livestream.timezone == "America/Los_Angeles"
    assert summer.body == "Body text."


def test_native_episode_offset_times_are_accepted():
    ep = load(GOOD.format(start="2025-07-14T13:30:00-04:00")).item
    assert ep.livestream.start == datetime(2025, 7, 14, 17, 30, tzinfo=UTC)
    ep = load(GOOD.format(start="'2025-07-14T17:30Z'")).item
    assert ep.livestream.start == datetime(2025, 7, 14, 17, 30, tzinfo=UTC)


def test_episode_without_ama_gets_the_series_friday():
    text = GOOD.format(start="2025-07-14T10:30").replace("ama:\n  start: 2025-07-18T10:30\n", "")
    ep = load(text).item
    assert ep.ama.start == datetime(2025, 7, 18, 17, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "code", "line"),
    [
        (("status: scheduled", "statsu: scheduled"), "unknown-field", 7),
        (("status: scheduled", "status: maybe"), "bad-status", 7),
        (("timezone: America/Los_Angeles", "timezone: Mars/Base"), "bad-timezone", 8),
        (("duration: 1h30m", "duration: soon"), "bad-duration", 11),
        (("start: 2025-07-18T10:30", "start: 2025-07-11T10:30"), "ama-before-livestream", 14),
        (("start: 2025-07-18T10:30", "start: next friday"), "bad-time", 14),
        (("start: 2025-07-18T10:30", "start: TBD"), "tbd-time", 14),
        (("title: Fine Tuning & Distillation\n", ""), "missing-field", 1),
        (("episode: 5", "episode: [5"), "yaml-syntax", 4),
        (("url: https://example.org/live", "url: not a url"), "bad-url", 12),
    ],
)
def test_native_episode_diagnostics(change, code, line):
    text = GOOD.format(start="2025-07-14T10:30").replace(*change)
    parsed = load(text)
    assert codes(parsed).get(code) == line, parsed.problems


def test_unknown_field_suggests_the_right_one():
    parsed = load(GOOD.format(start="2025-07-14T10:30").replace("guests:", "guets:"))
    (problem,) = [p for p in parsed.problems if p.code == "unknown-field"]
    assert "did you mean `guests`?" in problem.message


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"---\ntitle: x\x00\n---\n", "binary"),
        (b"---\ntitle: caf\xe9\n---\n", "encoding"),
        (b"---\n- a\n- b\n---\n", "frontmatter-not-mapping"),
        (b"---\njust a string\n---\n", "frontmatter-not-mapping"),
        (b"---\n---\nbody\n", "frontmatter-not-mapping"),
        (b"---\ntitle: x\n", "frontmatter-unclosed"),
        (b"# no frontmatter\n", "no-frontmatter"),
        (b"---\nx: !!python/object/apply:os.system [echo]\n---\n", "yaml-syntax"),
        (b"---\ndate: 2025-13-45\n---\n", "bad-date"),
        (b"x" * ((1 << 20) + 1), "too-large"),
    ],
)
def test_bad_files_give_one_clear_problem(raw, code):
    parsed = load(raw, "recaps/x.md", "recap")
    assert parsed.item is None
    assert code in codes(parsed), parsed.problems


def test_billion_laughs_is_refused_quickly():
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 12):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    parsed = load("---\n" + "\n".join(lines) + "\n---\n", "recaps/x.md", "recap")
    assert "yaml-aliases" in codes(parsed)
    recursive = load("---\na: &a [*a]\n---\n", "recaps/x.md", "recap")
    assert "yaml-aliases" in codes(recursive)


def test_symlink_outside_the_root_is_refused(tmp_path: Path):
    root = tmp_path / "content"
    (root / "recaps").mkdir(parents=True)
    (root / "episodes").mkdir()
    secret = tmp_path / "secret.md"
    secret.write_text("---\ndate: 2025-01-01\n---\n# Secret\n")
    os.symlink(secret, root / "recaps" / "leak.md")
    index = ContentIndex(root, Settings())
    report = index.reload()
    assert index.recaps(include_drafts=True) == []
    assert [(p.path, p.code) for p in report.problems] == [("recaps/leak.md", "symlink-outside")]


# ------------------------------------------------------------------ broken image Markdown


def test_broken_image_from_the_corpus_is_a_warning_wherever_it_is(corpus: Path, tmp_path: Path):
    """`![Banner(…)` (the `](` missing) as the corpus has it: in a recap as published, in an
    episode's description, after a good image on the same line, and in a page without
    frontmatter. Each gets `path:line: warning:` from `amabot check`, and still loads."""
    from bot.cli.check import run_check

    post = (corpus / "blog-posts" / "2025-06-30.md").read_text(encoding="utf-8")
    broken = next(row for row in post.splitlines() if row.startswith("![Banner("))
    s9 = broken.replace("S2-E3", "S9-E25")  # the example, from the same line
    root = tmp_path / "content"
    (root / "recaps").mkdir(parents=True)
    (root / "episodes").mkdir()
    (root / "recaps" / "2025-06-30.md").write_text(post, encoding="utf-8")
    (root / "episodes" / "s9-e25.md").write_text(
        "---\nseason: 9\nepisode: 25\ntitle: Banner test\nlivestream: 2025-07-14T10:30\n---\n"
        f"The description.\n\n{s9}\n\n![ok](./img/ok.png) {s9}\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    code = run_check(root, settings=Settings(), out=out, environ={})
    lines = [row for row in out.getvalue().splitlines() if "[broken-image]" in row]
    where = [row.split(": warning: ", 1)[0] for row in lines]
    assert where == [
        f"{root.as_posix()}/episodes/s9-e25.md:9",
        f"{root.as_posix()}/episodes/s9-e25.md:11",
        f"{root.as_posix()}/recaps/2025-06-30.md:21",
    ], out.getvalue()
    assert all(": warning: broken image Markdown '![Banner(" in row for row in lines)
    assert "write ![Banner](../../assets/model-mondays/S9-E25.png)" in lines[0]
    assert code == 0  # warnings only: the recap and the episode load
    index = ContentIndex(root, Settings())
    index.reload()
    assert index.episode("s9-e25") is not None and index.recap("2025-06-30") is not None

    page = tmp_path / "pages" / "season-09.md"
    page.parent.mkdir()
    page.write_text(f"# Season 9\n\n## S9E25 · Banner test\n\n{s9}\n", encoding="utf-8")
    out = io.StringIO()
    run_check(page.parent, settings=Settings(), out=out, environ={})
    assert f"{page.as_posix()}:5: warning: broken image Markdown" in out.getvalue()


@pytest.mark.parametrize(
    ("body", "line"), [("", 5), ("No heading.\n", 5), ("\n\n\nNo heading here.\n", 8)]
)
def test_a_recap_without_title_is_reported_where_its_text_starts(body, line):
    parsed = load(f"---\ndate:\n  created: 2025-07-14\n---\n{body}", "recaps/x.md", "recap")
    assert codes(parsed).get("missing-title") == line, parsed.problems
