"""A cold load parsed by worker processes gives exactly what the in-process load gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot.content.parallel as parallel
import bot.content.reload as reload_module
from bot.config import Settings
from bot.content.frontmatter import MAX_FILE_BYTES
from bot.content.index import ContentIndex


def _load(root: Path, workers: int) -> ContentIndex:
    index = ContentIndex(root, Settings(), workers=workers)
    index.parallel_min_files = 0  # the corpora here are small: fan out anyway
    index.reload()
    return index


def _same(seq: ContentIndex, par: ContentIndex) -> None:
    assert par.problems == seq.problems  # same diagnostics, same order
    assert [p.render() for p in par.problems] == [p.render() for p in seq.problems]
    assert par.files == seq.files
    assert par.episodes() == seq.episodes()
    assert par.recaps(include_drafts=True) == seq.recaps(include_drafts=True)
    assert dict(par.authors) == dict(seq.authors)
    assert list(par._files) == list(seq._files)  # the index's own order, too
    assert [s.crc for s in par._files.values()] == [s.crc for s in seq._files.values()]


def _generate(root: Path, n: int) -> None:
    (root / "episodes").mkdir(parents=True)
    (root / "recaps").mkdir()
    (root / "authors.yml").write_text("authors:\n  nitya:\n    name: Nitya Narasimhan\n")
    for i in range(n):
        s, e = i // 13 + 1, i % 13 + 1
        (root / "episodes" / f"s{s}-e{e:02d}.md").write_text(
            f"---\nid: s{s}-e{e:02d}\nseason: {s}\nepisode: {e}\ntitle: Episode {i}\n"
            f"guests: [Guest {i}]\nstatus: published\ntimezone: America/New_York\n"
            f"livestream:\n  start: 2025-01-{i % 28 + 1:02d}T10:00\n  duration: 30m\n"
            f"links:\n  replay: https://example.com/{i}\n---\nAbout {i}.\n"
        )
        (root / "recaps" / f"2025-01-{i % 28 + 1:02d}-s{s}e{e}.md").write_text(
            f"---\ndate:\n  created: 2025-01-{i % 28 + 1:02d}\nauthors: [nitya"
            f"{', nobody' if i % 7 == 0 else ''}]\n---\n\n# S{s}:E{e} Recap {i}\n\nText.\n"
        )
    bad = root / "episodes"
    (bad / "broken.md").write_text("---\ntitle: [unclosed\nseason: 1\n---\nx\n")
    (bad / "latin1.md").write_bytes("---\ntitle: caf\xe9\n---\n".encode("latin-1"))
    (bad / "dup.md").write_text("---\nid: s1-e01\nseason: 1\nepisode: 1\ntitle: Again\n---\n")
    (bad / "deep.md").write_text("---\ntitle: " + "[" * 100 + "]" * 100 + "\n---\n")
    (bad / "bomb.md").write_text(
        "---\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: [*d, *d, *d, *d, *d, *d, *d, *d]\n---\n"
    )
    (bad / "huge.md").write_bytes(b"---\ntitle: x\n---\n" + b"y" * (MAX_FILE_BYTES + 1))
    (bad / "nul.md").write_bytes(b"---\ntitle: x\x00\n---\n")
    (bad / "empty.md").write_text("")
    (bad / "image.md").write_text("---\nid: img\ntitle: Img\n---\n![Banner(./img/S9-E25.png)\n")


def test_corpus_in_workers_equals_in_process(corpus: Path) -> None:
    seq, par = _load(corpus, 1), _load(corpus, 2)
    assert seq.last_load_workers == 1
    assert par.last_load_workers == 2  # the workers really parsed it
    assert seq.problems and seq.episodes() and seq.recaps()  # the comparison compares something
    _same(seq, par)


def test_generated_corpus_with_bad_files_in_workers_equals_in_process(tmp_path: Path) -> None:
    _generate(tmp_path, 300)
    seq, par = _load(tmp_path, 1), _load(tmp_path, 2)
    assert par.last_load_workers == 2
    codes = {p.code for p in seq.problems}
    assert {"yaml-syntax", "encoding", "duplicate-id", "yaml-depth", "too-large"} <= codes
    assert {"yaml-aliases", "binary", "empty", "unknown-author"} <= codes
    _same(seq, par)
    # After the cold load, a reload of a few files stays in this process and stays right.
    target = tmp_path / "episodes" / "s1-e02.md"
    target.write_text(target.read_text().replace("title: Episode 1", "title: Renamed"))
    for index in (seq, par):
        report = index.reload(["episodes/s1-e02.md"])
        assert report.changed == {"episodes/s1-e02.md"}
        assert index.last_load_workers == 1
        assert index.episode("s1-e02").title == "Renamed"
    _same(seq, par)


def test_below_the_threshold_a_load_stays_in_process(tmp_path: Path) -> None:
    _generate(tmp_path, 20)
    index = ContentIndex(tmp_path, Settings(), workers=2)
    index.reload()
    assert index.last_load_workers == 1


def test_when_processes_cannot_start_the_load_is_parsed_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _generate(tmp_path, 50)
    seq = _load(tmp_path, 1)

    def refuse():
        raise OSError("no processes here")

    monkeypatch.setattr(parallel, "_context", refuse)
    par = _load(tmp_path, 2)
    assert par.last_load_workers == 1
    assert "in-process" in caplog.text
    _same(seq, par)


QUERIES = ["", "episode", "episod", "guest 12", "nitya", "narasimhan", "s1e3", "recap 4"]


def _searches(index: ContentIndex) -> dict[tuple[str, str], list[str]]:
    """What each query finds, among episodes and among recaps."""
    now = datetime(2025, 1, 15, tzinfo=UTC)
    found = {("episodes", q): [e.id for e in index.search_episodes(q, now, 25)] for q in QUERIES}
    found |= {("recaps", q): [r.id for r in index.search_recaps(q, now, 25)] for q in QUERIES}
    return found


def test_words_indexed_while_the_workers_parse_equal_a_search_built_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _generate(tmp_path, 300)
    seq = _load(tmp_path, 1)
    seq.prepare_search()
    monkeypatch.setattr(reload_module, "SEARCH_BATCH", 7)  # many steps, a partial last one
    par = ContentIndex(tmp_path, Settings(), workers=2)
    par.parallel_min_files = 0
    par.reload(search=True)
    assert par.last_load_workers == 2
    assert not par._ep_search._pending and not par._recap_search._pending  # all indexed
    _same(seq, par)
    for mine, theirs in ((par._ep_search, seq._ep_search), (par._recap_search, seq._recap_search)):
        assert mine._keys == theirs._keys  # the same documents in the same slots
        assert mine._postings == theirs._postings
        assert mine._doc_words == theirs._doc_words
    found = _searches(seq)
    assert found["recaps", "nitya"] and found["recaps", "narasimhan"]  # by the author's name
    assert _searches(par) == found
