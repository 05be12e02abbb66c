"""The incremental recap plan (bot/services/recap_plan.py) against the full plan it replaces.

A real content folder and ContentIndex; after each change, the incremental plan (fed only the
changed paths and episode ids, as a pull feeds it) must hold exactly the announcements a full
plan of the whole corpus would make, key for key and payload for payload.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.content.identity import announcement_ids
from bot.content.index import ContentIndex
from bot.plan.recaps import plan_recap_announcements
from bot.services.recap_plan import IncrementalRecapPlan
from testkit.harness import SAMPLE_CONTENT

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def recap(title: str, published: datetime, episode: str = "s2-e05", rid: str | None = None):
    head = f"id: {rid}\n" if rid else ""
    return (
        f"---\n{head}date:\n  created: {published.isoformat()}\nauthors:\n  - nitya\n"
        f"episode: {episode}\n---\n\n# {title}\n\n> About {title}.\n"
    )


def full(index: ContentIndex, settings: Settings, now: datetime, aliases) -> dict:
    episodes = {e.id: e for e in index.episodes()}
    plan = plan_recap_announcements(
        index.recaps(),
        episodes=episodes,
        authors=index.authors,
        settings=settings,
        now=now,
        ids=announcement_ids(index.recaps(), aliases),
    )
    return {p.key: p.payload for p in plan}


def test_incremental_matches_the_full_plan_through_a_series_of_changes(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, root)
    (root / "recaps" / "extra").mkdir()
    settings = Settings()
    index = ContentIndex(root, settings)
    index.reload()
    aliases: dict[str, str] = {}
    inc = IncrementalRecapPlan()
    now = NOW
    episodes = {e.id: e for e in index.episodes()}
    pairs = [
        (r.path, p)
        for r in index.recaps()
        for p in plan_recap_announcements(
            [r], episodes=episodes, authors=index.authors, settings=settings, now=now
        )
    ]
    inc.rebuild(index.recaps(), pairs, now)
    current = {p.key: p.payload for _, p in pairs}
    assert current == full(index, settings, now, aliases)

    def step(files: dict, *, advance: timedelta = timedelta(0)):
        nonlocal now
        for rel, text in files.items():
            path = root / rel
            if text is None:
                path.unlink()
            else:
                path.write_text(text)
        now += advance
        report = index.reload(list(files))
        eps = {e.id: e for e in index.episodes()}

        def plan_one(r, rid):
            return plan_recap_announcements(
                [r],
                episodes=eps,
                authors=index.authors,
                settings=settings,
                now=now,
                ids={r.path: rid},
            )[0]

        planned, touched = inc.update(
            index=index,
            paths=report.added | report.changed | report.removed,
            episode_ids=report.episodes_changed,
            now=now,
            aliases=aliases,
            plan_one=plan_one,
        )
        assert {p.key for p in planned} <= touched
        for key in touched:
            current.pop(key, None)
        current.update({p.key: p.payload for p in planned})
        assert current == full(index, settings, now, aliases)

    step({"recaps/extra/a.md": recap("A", NOW - timedelta(days=1))})
    step({"recaps/extra/a.md": recap("A, edited", NOW - timedelta(days=1))})
    # Dated tomorrow: not planned today, planned once its time has come with no change at all.
    step({"recaps/extra/b.md": recap("B", NOW + timedelta(days=1))})
    assert "recap:b" not in current
    step({}, advance=timedelta(days=2))
    assert "recap:b" in current
    # An episode's title is in its recaps' announcements.
    episode = next(p for p in (root / "episodes").iterdir() if "s2-e05" in p.name)
    text = episode.read_text()
    step({f"episodes/{episode.name}": text.replace("title:", "title: Renamed", 1)})
    # Two files, one id: the first by path holds it; removing it hands the id to the other.
    step({"recaps/extra/c1.md": recap("C one", NOW, rid="c")})
    step({"recaps/extra/c2.md": recap("C two", NOW, rid="c")})
    step({"recaps/extra/c1.md": None})
    assert "C two" in str(current["recap:c"])
    # A rename with an alias keeps the old key.
    aliases["a-moved"] = "a"
    step({"recaps/extra/a.md": None, "recaps/extra/a-moved.md": recap("A", NOW)})
    assert "recap:a" in current and "recap:a-moved" not in current
    # Made a draft: no longer planned.
    step({"recaps/extra/b.md": recap("B", NOW).replace("---\n\n#", "draft: true\n---\n\n#")})
    assert "recap:b" not in current
