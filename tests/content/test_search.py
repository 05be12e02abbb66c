"""SearchIndex (bitset top-k ranking) against a brute-force reference, and the derived views
of ContentIndex (generation, published recaps, ranking in time)."""

from __future__ import annotations

import random
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.content.index import ContentIndex
from bot.content.search import SearchIndex, query_words
from bot.content.text import normalise, tokens

REPO = Path(__file__).resolve().parents[2]
NEVER = float("-inf")
VOCAB = ["fine", "tuning", "distillation", "agents", "memory", "model", "models", "modular"]
VOCAB += ["voutila", "dave", "kaur", "red"]


def reference(docs: dict, index: SearchIndex, text: str, t: float, limit: int, started_only=False):
    """The ranking spelled out document by document: what the bitsets must reproduce."""
    words = query_words(text)
    ranked = []
    for key, (fields, extra, order, until) in docs.items():
        if started_only and order > t:
            continue
        weights: dict[str, float] = {}
        for field, weight in fields:
            for w in tokens(field):
                weights[w] = max(weights.get(w, 0.0), weight)
        for token, weight in extra:
            weights[token] = max(weights.get(token, 0.0), weight)
        matched, score = 0, 0.0
        for n, word in enumerate(words):
            cands = index.candidates(word, last=n == len(words) - 1)
            best = max((q * weights[c] for c, q in cands.items() if c in weights), default=0.0)
            if best:
                matched, score = matched + 1, score + best
        if not matched:
            continue
        ahead = matched == len(words) and until > t
        tier = (
            (0, -matched, -round(score, 6), order)
            if ahead
            else (1, -matched, -round(score, 6), -order)
        )
        ranked.append((*tier, key))
    return [r[-1] for r in sorted(ranked)[:limit]]


def random_doc(rng: random.Random, i: int):
    fields = [
        (" ".join(rng.sample(VOCAB, rng.randint(1, 3))), 4.0),
        (" ".join(rng.sample(VOCAB, rng.randint(0, 5))), 1.0),
        (rng.choice(["Dave Voutila", "Sharda Kaur", ""]), 3.0),
    ]
    order = float(i * 7 + rng.randint(0, 3) * 1000)  # distinct: ties are not the point here
    until = NEVER if rng.random() < 0.15 else order + rng.choice([1.0, 500.0, 5000.0])
    return fields, [(f"s1e{i}", 10.0)], order + i / 1000, until


def test_bitset_ranking_matches_the_reference_through_adds_and_removes():
    rng = random.Random(11)
    index, docs = SearchIndex(), {}
    queries = ["fine", "fine tuning", "mod", "voutila", "dave kaur", "distil", "s1e1", "red agents"]
    for step in range(6):
        for i in rng.sample(range(300), 80):  # add, replace, or remove documents
            key = f"doc{i}"
            if key in docs and rng.random() < 0.3:
                index.remove(key)
                del docs[key]
            else:
                docs[key] = random_doc(rng, i)
                fields, extra, order, until = docs[key]
                index.add(key, fields, extra, order=order, until=until)
        assert len(index) == len(docs)
        for q in queries:
            t = rng.uniform(0, 2500)
            for limit in (1, 5, 25):
                got = index.search(q, t, limit)
                assert got == reference(docs, index, q, t, limit), (step, q, t, limit)
            assert index.search(q, t, 10, started_only=True) == reference(
                docs, index, q, t, 10, started_only=True
            )


def test_ahead_documents_come_first_soonest_first_and_running_ones_count():
    index = SearchIndex()
    index.add("past", [("fine tuning", 4.0)], order=10.0, until=20.0)
    index.add("later", [("fine tuning", 4.0)], order=300.0, until=310.0)
    index.add("sooner", [("fine tuning", 4.0)], order=200.0, until=210.0)
    index.add("running", [("fine tuning", 4.0)], order=90.0, until=150.0)
    index.add("cancelled", [("fine tuning", 4.0)], order=250.0, until=NEVER)
    index.add("half", [("fine", 4.0)], order=400.0, until=410.0)
    assert index.search("fine tuning", 100.0) == [
        "running",
        "sooner",
        "later",
        "cancelled",  # never ahead: with the past, latest first
        "past",
        "half",  # one word of two
    ]
    assert index.search("fine tuning", 100.0, started_only=True) == ["running", "past"]


def test_words_are_indexed_on_the_first_search_and_generations_move():
    index = SearchIndex()
    index.add("a", [("distillation", 4.0)])
    before = index.generation
    assert "a" in index and len(index) == 1
    assert index.search("distilation", 0.0) == ["a"]  # typo, found once flushed
    index.add("a", [("agents", 4.0)])  # replaced before anyone searched
    assert index.generation > before
    assert index.search("distillation", 0.0) == [] and index.search("agents", 0.0) == ["a"]
    index.remove("a")
    assert index.search("agents", 0.0) == [] and len(index) == 0


# ------------------------------------------------------------------ ContentIndex views


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    shutil.copytree(REPO / "content", root)
    return root


def test_generation_moves_only_when_content_changes(sample: Path):
    index = ContentIndex(sample, Settings())
    index.reload()
    first = index.generation
    assert index.reload().any_change is False and index.generation == first
    path = sample / "recaps" / "s2-e06.md"
    path.write_text(path.read_text().replace("draft: false", "draft: true"))
    index.reload()
    assert index.generation > first


def test_published_recaps_follow_the_clock_from_one_cached_view(sample: Path):
    index = ContentIndex(sample, Settings())
    index.reload()
    every = index.recaps()
    for recap in every:
        just_before = datetime.fromtimestamp(recap.release_at.timestamp() - 1, UTC)
        assert recap not in index.published_recaps(just_before)
        assert recap in index.published_recaps(recap.release_at)
    assert index.latest_recap(datetime(2000, 1, 1, tzinfo=UTC)) is None
    assert index.latest_recap(datetime(2100, 1, 1, tzinfo=UTC)) == every[-1]
    assert index.search_recaps("", datetime(2100, 1, 1, tzinfo=UTC), limit=2) == every[::-1][:2]


def test_upcoming_matches_sooner_first_on_the_corpus(corpus: Path):
    index = ContentIndex(corpus, Settings())
    index.reload()
    # The Sunday before S2:E5's livestream: Dave Voutila is the guest of S2:E5 and S3:E6,
    # both ahead, and named in S3:E5's summary. Same relevance: the sooner leads.
    now = datetime(2025, 7, 13, 16, 0, tzinfo=UTC)
    assert [e.code for e in index.search_episodes("voutila", now)][:3] == [
        "S2:E5",
        "S3:E6",
        "S3:E5",
    ]
    # A recap is found by its episode's code in any spelling, not only the indexed one.
    later = datetime(2026, 5, 1, tzinfo=UTC)
    assert [r.id for r in index.search_recaps("2x05", later)][:1] == ["seed-recap-s2e5"]


_JOINED_REFERENCE = re.compile(r"(?<![^\W_])[^\W_]++(?:[-.'][^\W_]++)+")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab1é_-.' \u2014\u00e9\u0301x9Ω.-", max_size=40))
def test_tokens_are_the_words_and_the_joined_words(text: str) -> None:
    """What `tokens` gives, whatever shortcut it takes: every word, then every run of words
    joined by - . ' with its separators dropped (as the plain regexes find them)."""
    norm = normalise(text)
    words = re.findall(r"[^\W_]+", norm)
    joined = [re.sub(r"[-.']", "", j) for j in _JOINED_REFERENCE.findall(norm)]
    assert list(tokens(text)) == words + joined
