"""An index kept up to date one reload at a time answers exactly as a cold load of the same
folder: its sorted views, time queries, lookups, search results and problems.

Property-based over a generated corpus (testkit/corpus.py): hypothesis picks a sequence of
edits (retitle, move, cancel, duplicate ids, drafts, deletions, copies, the authors file),
each followed by a reload (with the changed paths, as after a git pull, or a full scan).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.content.index import ContentIndex
from testkit.corpus import generate

N_EPISODES, N_RECAPS = 30, 30
TIMES = [
    datetime(y, m, 15, 12, tzinfo=UTC) for y, m in ((2019, 6), (2020, 4), (2020, 7), (2031, 1))
]
QUERIES = ["", "s1e3", "S2:E1", "understanding", "agents", "nitya", "kaur", "ground", "retreival"]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("incremental") / "content"
    generate(root, N_EPISODES, N_RECAPS, seed=11)
    return root


def snapshot(index: ContentIndex) -> dict[str, object]:
    """Everything a reader of the index can see, as plain values."""
    paths = lambda items: [i.path for i in items]  # noqa: E731
    out: dict[str, object] = {
        "episodes": paths(index.episodes()),
        "recaps": paths(index.recaps()),
        "recaps+drafts": paths(index.recaps(include_drafts=True)),
        "problems": [(p.path, p.line, p.severity, p.message) for p in index.problems],
        "files": sorted(index.files),
        "authors": dict(index.authors),
    }
    for ep in index.episodes():
        recap = index.recap_for_episode(ep.id)
        out[f"recap of {ep.id}"] = recap.path if recap else None
        out[f"episode {ep.id}"] = index.episode(ep.id).path  # type: ignore[union-attr]
    for recap in index.recaps(include_drafts=True):
        found = index.recap(recap.id)
        episode = index.episode_for_recap(recap)
        out[f"recap {recap.id}"] = (found.path if found else None, episode and episode.path)
    for now in TIMES:
        out[f"upcoming {now}"] = [
            (e.path, ev.kind) for e, ev in index.upcoming_events(now, limit=60)
        ]
        out[f"upcoming episodes {now}"] = paths(index.upcoming_episodes(now, 60))
        out[f"past {now}"] = paths(index.past_episodes(now, 60))
        out[f"published {now}"] = paths(index.published_recaps(now))
        out[f"latest {now}"] = (
            getattr(index.latest_recap(now), "path", None),
            getattr(index.latest_episode(now), "path", None),
            getattr(index.next_upcoming(now), "path", None),
        )
        for q in QUERIES:
            out[f"episodes {q!r} {now}"] = paths(index.search_episodes(q, now, 10))
            out[f"recaps {q!r} {now}"] = paths(index.search_recaps(q, now, 10))
            out[f"did you mean {q!r} {now}"] = paths(index.did_you_mean(q, now, "recap"))
    return out


def read_views(index: ContentIndex) -> None:
    """Read what is built on first use, so that the next reloads must keep it up to date."""
    for now in TIMES:
        index.upcoming_events(now)
        index.latest_recap(now)
    for ep in index.episodes()[:3]:
        index.recap_for_episode(ep.id)
    index.search_episodes("agents", TIMES[0])
    index.search_recaps("agents", TIMES[0])


def _edit(root: Path, rel: str, pattern: str, replacement: str) -> None:
    path = root / rel
    if path.exists():
        path.write_text(re.sub(pattern, replacement, path.read_text(), count=1))


def _episode(i: int) -> str:
    return f"episodes/s{i // 13 + 1}-e{i % 13 + 1:02d}.md"


def _recap(root: Path, i: int) -> str:
    names = sorted(p.name for p in (root / "recaps").iterdir())
    return f"recaps/{names[i % len(names)]}" if names else "recaps/none.md"


def apply(root: Path, op: tuple) -> set[str]:
    """One edit; the paths it touched (as `git diff --name-only` would name them)."""
    kind, i, j = op
    ep, other = _episode(i), _episode(j)
    recap = _recap(root, i)
    if kind == "retitle":
        _edit(root, ep, r"title: ", f"title: Changed{j} ")
        return {ep}
    if kind == "move":
        _edit(
            root,
            ep,
            r"(livestream:\n  start: )\S+",
            rf"\g<1>20{19 + j % 13}-0{1 + j % 9}-1{j % 10}T10:00",
        )
        return {ep}
    if kind == "cancel":
        _edit(root, ep, r"status: \w+", "status: cancelled" if j % 2 else "status: scheduled")
        return {ep}
    if kind == "duplicate id":
        _edit(root, other, r"id: \S+", f"id: s{i // 13 + 1}-e{i % 13 + 1:02d}")
        return {other}
    if kind == "duplicate code":
        _edit(root, other, r"episode: \d+", f"episode: {i % 13 + 1}")
        _edit(root, other, r"season: \d+", f"season: {i // 13 + 1}")
        return {other}
    if kind == "delete":
        gone = ep if j % 2 else recap
        (root / gone).unlink(missing_ok=True)
        return {gone}
    if kind == "copy":
        src = root / (ep if j % 2 else recap)
        new = f"{'episodes' if j % 2 else 'recaps'}/copy-{i}-{j}.md"
        if src.exists():
            shutil.copy(src, root / new)
        return {new}
    if kind == "draft":
        _edit(root, recap, r"draft: \w+", f"draft: {'true' if j % 2 else 'false'}")
        return {recap}
    if kind == "recap date":
        _edit(root, recap, r"created: \S+", f"created: 20{19 + j % 13}-0{1 + j % 9}-2{j % 8}")
        return {recap}
    if kind == "recap episode":
        _edit(root, recap, r"draft:", f"episode: {other.rsplit('/', 1)[1][:-3]}\ndraft:")
        return {recap}
    if kind == "recap id":
        _edit(root, recap, r"draft:", f"id: shared-{j % 3}\ndraft:")
        return {recap}
    if kind == "authors":
        (root / "authors.yml").write_text(
            f"authors:\n  nitya:\n    name: Nitya Renamed{j}\n"
            + ("  sharda:\n    name: Sharda Kaur\n" if j % 2 else "")
        )
        return {"authors.yml"}
    raise AssertionError(kind)


KINDS = [
    "retitle",
    "move",
    "cancel",
    "duplicate id",
    "duplicate code",
    "delete",
    "copy",
    "draft",
    "recap date",
    "recap episode",
    "recap id",
    "authors",
]
ops = st.tuples(
    st.sampled_from(KINDS), st.integers(0, N_EPISODES - 1), st.integers(0, N_EPISODES - 1)
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.tuples(ops, st.booleans()), min_size=1, max_size=6))
def test_incremental_reloads_answer_as_a_cold_load(base: Path, steps) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "content"
        shutil.copytree(base, root)
        index = ContentIndex(root, Settings(), workers=1)
        index.reload(search=True)
        read_views(index)
        for op, named in steps:
            touched = apply(root, op)
            report = index.reload(sorted(touched) if named else None, search=True)
            assert report.files == len(index._files)
            read_views(index)  # built lazily: from here on kept up to date by the reloads
        cold = ContentIndex(root, Settings(), workers=1)
        cold.reload(search=True)
        assert snapshot(index) == snapshot(cold)


def test_search_sweeps_removed_documents_and_reuses_their_slots(base: Path, tmp_path) -> None:
    """Removing documents leaves their postings until a sweep; answers are the same before
    and after it, and a sweep frees the slots for new documents."""
    root = tmp_path / "content"
    shutil.copytree(base, root)
    index = ContentIndex(root, Settings(), workers=1)
    index.reload(search=True)
    search = index._ep_search
    now = TIMES[1]
    for rel in sorted((root / "episodes").iterdir())[:20]:
        rel.unlink()
        index.reload([f"episodes/{rel.name}"], search=True)
    cold = ContentIndex(root, Settings(), workers=1)
    cold.reload(search=True)
    for q in QUERIES:
        assert [e.path for e in index.search_episodes(q, now)] == [
            e.path for e in cold.search_episodes(q, now)
        ]
    assert len(search) == N_EPISODES - 20
    search._sweep()
    assert not search._dead and len(search._free) >= 20
    assert all(v >> 8 not in search._free for p in search._postings.values() for v in p)
    generate(tmp_path / "more", N_EPISODES, 0, seed=12)
    for path in sorted((tmp_path / "more" / "episodes").iterdir())[:20]:
        shutil.copy(path, root / "episodes" / f"new-{path.name}")
    index.reload(search=True)
    cold = ContentIndex(root, Settings(), workers=1)
    cold.reload(search=True)
    assert snapshot(index) == snapshot(cold)
