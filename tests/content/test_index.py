"""ContentIndex: lookups, time-relative queries around a ManualClock, reloads, search."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.config import Settings
from bot.content.index import ContentIndex, parse_code

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "content"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(SAMPLE, root)
    return root


@pytest.fixture
def index(sample: Path) -> ContentIndex:
    idx = ContentIndex(sample, Settings())
    idx.reload()
    return idx


@pytest.mark.parametrize(
    "text",
    [
        "s2e5",
        "S2:E5",
        "S02E05",
        "2x05",
        "s2-e05",
        "S2 E5",
        "season 2 episode 5",
        "s2-e05-2025-07-15",
    ],
)
def test_parse_code_accepts_common_forms(text):
    assert parse_code(text) == (2, 5)


@pytest.mark.parametrize("text", ["", "fine tuning", "s2", "e5", "s2e", "x" * 500])
def test_parse_code_rejects_other_text(text):
    assert parse_code(text) is None


def test_sample_content_is_clean(index: ContentIndex):
    assert [p for p in index.problems if p.severity == "error"] == []
    assert [e.code for e in index.episodes()] == ["S2:E4", "S2:E5", "S2:E6", "S2:E7"]
    assert {r.id for r in index.recaps()} == {"s2-e04", "s2-e05", "s2-e06"}
    assert index.authors["sharda"].name == "Sharda Kaur"


def test_sample_s2e5_has_its_real_times(index: ContentIndex):
    ep = index.find_episode("S2:E5")
    assert ep is not None and ep.id == "s2-e05"
    # 1:30pm ET on Monday Jul 14 and Friday Jul 18, 2025 (EDT = UTC-4).
    assert ep.livestream.start == datetime(2025, 7, 14, 17, 30, tzinfo=UTC)
    assert ep.ama.start == datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
    assert ep.ama.url == "https://discord.gg/azureaifoundry?event=1382862245721014476"


@pytest.mark.parametrize(
    "text", ["s2-e05", "S2-E05", "s2e5", "S2:E5", "s02e05", "2x05", "S2 E5", "S2:E5 · Fine Tuning"]
)
def test_find_episode(index: ContentIndex, text: str):
    assert index.find_episode(text).id == "s2-e05"  # type: ignore[union-attr]


def test_unknown_lookups_return_none(index: ContentIndex):
    assert index.episode("nope") is None
    assert index.find_episode("s9e9") is None
    assert index.recap("nope") is None


def test_recap_and_episode_link_both_ways(index: ContentIndex):
    recap = index.recap_for_episode("s2-e05")
    assert recap is not None and recap.id == "s2-e05"
    assert index.episode_for_recap(recap).id == "s2-e05"  # type: ignore[union-attr]
    assert index.recap_for_episode("s2-e07") is None


def test_next_and_latest_move_with_the_clock(index: ContentIndex):
    clock = ManualClock(datetime(2025, 7, 15, 12, 0, tzinfo=UTC))  # Tuesday after S2E5's livestream
    assert index.next_upcoming(clock()).id == "s2-e05"  # its AMA is still ahead
    assert index.latest_episode(clock()).id == "s2-e05"
    clock.set(datetime(2025, 7, 18, 17, 45, tzinfo=UTC))  # during the AMA
    assert index.next_upcoming(clock()).id == "s2-e05"
    clock.advance(timedelta(minutes=30))  # AMA over
    assert index.next_upcoming(clock()).id == "s2-e06"
    clock.set(datetime(2025, 12, 1, tzinfo=UTC))
    assert index.next_upcoming(clock()) is None
    assert index.latest_episode(clock()).id == "s2-e07"


def test_latest_recap_is_published_only(index: ContentIndex, sample: Path):
    clock = ManualClock(datetime(2025, 7, 15, tzinfo=UTC))
    assert index.latest_recap(clock()).id == "s2-e05"
    clock.set(datetime(2025, 7, 22, tzinfo=UTC))
    assert index.latest_recap(clock()).id == "s2-e06"
    path = sample / "recaps" / "s2-e06.md"
    path.write_text(path.read_text().replace("draft: false", "draft: true"))
    index.reload()
    assert index.latest_recap(clock()).id == "s2-e05"
    assert "s2-e06" not in {r.id for r in index.search_recaps("research", clock())}


def test_upcoming_events_sorted_and_filtered(index: ContentIndex):
    now = datetime(2025, 7, 16, tzinfo=UTC)
    events = index.upcoming_events(now, limit=4)
    assert [(e.id, ev.kind) for e, ev in events] == [
        ("s2-e05", "ama"),
        ("s2-e06", "livestream"),
        ("s2-e06", "ama"),
        ("s2-e07", "livestream"),
    ]
    assert index.upcoming_events(now, season=3) == []


def _bump(path: Path) -> None:
    """Make a change visible to the (size, mtime) check even on coarse-mtime filesystems."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_incremental_reload_reports_exactly_what_changed(index: ContentIndex, sample: Path):
    assert index.reload().any_change is False

    new = sample / "episodes" / "s2-e08.md"
    new.write_text(
        (sample / "episodes" / "s2-e07.md")
        .read_text()
        .replace("episode: 7", "episode: 8")
        .replace("id: s2-e07", "id: s2-e08")
    )
    report = index.reload()
    assert report.added == {"episodes/s2-e08.md"} and not report.changed and not report.removed
    assert report.episodes_changed == {"s2-e08"}

    path = sample / "episodes" / "s2-e05.md"
    path.write_text(
        path.read_text().replace(
            "title: Fine Tuning & Distillation", "title: Fine Tuning and Distillation"
        )
    )
    _bump(path)
    report = index.reload()
    assert report.changed == {"episodes/s2-e05.md"} and not report.added and not report.removed
    assert index.episode("s2-e05").title == "Fine Tuning and Distillation"  # type: ignore[union-attr]

    (sample / "recaps" / "s2-e04.md").unlink()
    report = index.reload()
    assert report.removed == {"recaps/s2-e04.md"} and report.recaps_changed == {"s2-e04"}
    assert index.recap("s2-e04") is None
    assert index.search_recaps("s2e4", datetime(2026, 1, 1, tzinfo=UTC)) == []


def test_touch_without_change_is_not_a_change(index: ContentIndex, sample: Path):
    _bump(sample / "episodes" / "s2-e05.md")
    assert index.reload().any_change is False


def test_rehash_catches_same_size_same_mtime_edits(index: ContentIndex, sample: Path):
    path = sample / "episodes" / "s2-e05.md"
    st = path.stat()
    path.write_text(
        path.read_text().replace("status: published", "status: cancelled")
    )  # same length? no:
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = index.reload(rehash=True)
    assert report.changed == {"episodes/s2-e05.md"}


def test_reload_with_paths_only_looks_at_those(index: ContentIndex, sample: Path):
    path = sample / "episodes" / "s2-e06.md"
    path.write_text(path.read_text().replace("status: published", "status: cancelled"))
    _bump(path)
    report = index.reload(["episodes/s2-e06.md"])
    assert report.changed == {"episodes/s2-e06.md"}
    assert (
        index.next_upcoming(datetime(2025, 7, 19, tzinfo=UTC)).id == "s2-e07"
    )  # cancelled skipped
    (sample / "episodes" / "s2-e06.md").unlink()
    assert index.reload(["episodes/s2-e06.md"]).removed == {"episodes/s2-e06.md"}


def test_a_bad_edit_keeps_other_files_and_reports(index: ContentIndex, sample: Path):
    path = sample / "episodes" / "s2-e05.md"
    path.write_text("---\nseason: [2\n---\n")
    report = index.reload()
    assert report.changed == {"episodes/s2-e05.md"}
    assert [(p.path, p.line, p.code) for p in report.problems if p.severity == "error"] == [
        ("episodes/s2-e05.md", 3, "yaml-syntax")
    ] or any(p.code == "yaml-syntax" and p.path == "episodes/s2-e05.md" for p in report.problems)
    assert index.episode("s2-e05") is None and index.episode("s2-e06") is not None


def test_duplicates_and_unknown_episode_are_cross_file_errors(index: ContentIndex, sample: Path):
    (sample / "episodes" / "zz-copy.md").write_text((sample / "episodes" / "s2-e05.md").read_text())
    (sample / "recaps" / "orphan.md").write_text(
        "---\ndate:\n  created: 2025-07-01\ndraft: false\nepisode: s9-e01\n---\n\n# Orphan\n"
    )
    report = index.reload()
    found = {(p.path, p.line, p.code) for p in report.problems}
    assert ("episodes/zz-copy.md", 1, "duplicate-id") in found
    assert ("episodes/zz-copy.md", 1, "duplicate-episode") in found
    assert ("recaps/orphan.md", 5, "unknown-episode") in found
    assert index.episode("s2-e05").path == "episodes/s2-e05.md"  # type: ignore[union-attr]
    (sample / "episodes" / "zz-copy.md").unlink()
    assert not any(p.code.startswith("duplicate") for p in index.reload().problems)


# ------------------------------------------------------------------ search on the corpus


@pytest.fixture(scope="module")
def corpus_index(corpus: Path) -> ContentIndex:
    idx = ContentIndex(corpus, Settings())
    idx.reload()
    return idx


LATER = datetime(2026, 5, 1, tzinfo=UTC)  # after season 3, before the season 4 placeholders


@pytest.mark.parametrize("query", ["s2e5", "S2:E5", "s02e05", "2x05", "S2 E5", "s2-e05"])
def test_code_queries_put_the_episode_first(corpus_index: ContentIndex, query: str):
    assert corpus_index.search_episodes(query, LATER)[0].code == "S2:E5"


@pytest.mark.parametrize(
    "query",
    ["fine tuning", "Fine-Tuning", "distilation", "distil", "voutila", "VOUTILÁ", "dave voutila"],
)
def test_word_queries_find_s2e5(corpus_index: ContentIndex, query: str):
    top = [e.code for e in corpus_index.search_episodes(query, LATER, limit=3)]
    assert "S2:E5" in top, top


def test_fine_tuning_ranks_s2e5_first(corpus_index: ContentIndex):
    assert corpus_index.search_episodes("fine tuning", LATER)[0].code == "S2:E5"
    assert corpus_index.search_episodes("distilation", LATER)[0].code == "S2:E5"


def test_upcoming_matches_come_before_past_ones(corpus_index: ContentIndex):
    # Dave Voutila is back in S3:E6 (as a guest) and named in S3:E5's summary, both ahead.
    before_s3 = datetime(2026, 1, 20, tzinfo=UTC)
    codes = [e.code for e in corpus_index.search_episodes("voutila", before_s3)]
    assert codes[:3] == ["S3:E6", "S3:E5", "S2:E5"]  # guest outranks a mention; upcoming first


def test_empty_query_gives_upcoming_then_latest(corpus_index: ContentIndex):
    now = datetime(2025, 7, 16, tzinfo=UTC)
    codes = [e.code for e in corpus_index.search_episodes("", now, limit=3)]
    assert codes == ["S2:E5", "S2:E6", "S2:E7"]  # S2:E5's AMA is still ahead
    assert corpus_index.search_episodes("", LATER, limit=1)[0].code == "S3:E15"


def test_search_limits_and_did_you_mean(corpus_index: ContentIndex):
    assert len(corpus_index.search_episodes("model", LATER, limit=25)) <= 25
    assert corpus_index.search_episodes("zzzzqqq", LATER) == []
    suggestions = corpus_index.did_you_mean("fien tunnig", LATER)
    assert suggestions and len(suggestions) <= 3


def test_search_recaps_never_shows_drafts(corpus_index: ContentIndex):
    results = corpus_index.search_recaps("fine tuning", LATER)
    assert results and all(not r.draft for r in results)
    assert results[0].id == "seed-recap-s2e5"
    assert all(not r.draft for r in corpus_index.search_recaps("", LATER))


def test_search_is_fast_on_the_corpus(corpus_index: ContentIndex):
    start = time.perf_counter()
    for q in ["s2e5", "fine tuning", "distilation", "voutila", "", "m", "agents"] * 20:
        corpus_index.search_episodes(q, LATER)
    assert (time.perf_counter() - start) / 140 < 0.01


def test_a_renamed_author_finds_their_recaps_by_the_new_name(sample: Path):
    """Recaps are searchable by their authors' names: a rename in the authors file must
    reach recaps whose words were indexed already."""
    authors = sample / "authors.yml"
    index = ContentIndex(sample, Settings())
    index.reload(search=True)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    key, author = next(iter(index.authors.items()))
    surname = author.name.split()[-1].lower()
    mine = {r.id for r in index.recaps() if key in r.authors}
    assert mine and mine <= {r.id for r in index.search_recaps(surname, later)}
    authors.write_text(authors.read_text().replace(author.name, "Zebulon Quixote"))
    _bump(authors)
    index.reload(search=True)
    assert mine <= {r.id for r in index.search_recaps("quixote", later)}
    assert not mine & {r.id for r in index.search_recaps(surname, later)}
