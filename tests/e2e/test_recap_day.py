"""A recap's date does not depend on the hour it is merged at.

A date-only `date.created` goes out when its day begins somewhere on Earth (UTC+14): merged
on its day, from anywhere, it is announced at once. Only a later day, or an explicit date and
time still ahead, holds it, and `amabot check` says when it will go out. Every date-sensitive
path runs at 00:30, 07:30 and 23:30 UTC on one winter Monday (Los Angeles at UTC-8, so its
midnight is 08:00 UTC: the old reading held a recap dated today until then).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli.check import run_check
from bot.clock import ManualClock
from bot.config import Settings
from bot.content.index import ContentIndex
from bot.plan.posts import PostStatus
from bot.plan.recaps import plan_recap_announcements
from testkit.harness import Harness
from tests.e2e.conftest import eventually

DAY = date(2025, 1, 13)  # the UTC date at every hour below
HOURS = ["00:30", "07:30", "23:30"]


def at(hour: str) -> datetime:
    hh, mm = (int(part) for part in hour.split(":"))
    return datetime(DAY.year, DAY.month, DAY.day, hh, mm, tzinfo=UTC)


def recap_md(title: str, created: str) -> str:
    return (
        f"---\ndate:\n  created: {created}\ndraft: false\nauthors: [nitya]\n"
        f"tags: [demo]\n---\n\n# {title}\n\n> A summary of {title}.\n"
    )


# id -> (date.created as written, when it goes out)
RECAPS = {
    "today": (f"{DAY}", datetime(2025, 1, 12, 10, 0, tzinfo=UTC)),
    "tomorrow": (f"{DAY + timedelta(days=1)}", datetime(2025, 1, 13, 10, 0, tzinfo=UTC)),
    "in-two-days": (f"{DAY + timedelta(days=2)}", datetime(2025, 1, 14, 10, 0, tzinfo=UTC)),
    # 20:00 wall clock in Los Angeles (UTC-8): an explicit time holds it to the minute.
    "tonight-la": (f"{DAY}T20:00", datetime(2025, 1, 14, 4, 0, tzinfo=UTC)),
}


def expected_out(hour: str) -> set[str]:
    return {rid for rid, (_, goes_out) in RECAPS.items() if goes_out <= at(hour)}


def test_the_expectations_cover_both_outcomes():
    assert expected_out("00:30") == expected_out("07:30") == {"today"}
    assert expected_out("23:30") == {"today", "tomorrow"}


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    (root / "recaps").mkdir(parents=True)
    for rid, (created, _) in RECAPS.items():
        (root / "recaps" / f"{rid}.md").write_text(recap_md(f"Recap {rid}", created))
    return root


def test_the_loader_reads_a_date_only_date_as_the_day_it_begins_on_earth(content: Path):
    index = ContentIndex(content, Settings())
    index.reload()
    recaps = {r.id: r for r in index.recaps()}
    for rid, (_, goes_out) in RECAPS.items():
        assert recaps[rid].release_at == goes_out, rid
    # The display date is still the written day in the series zone.
    assert recaps["today"].published == datetime(2025, 1, 13, 8, 0, tzinfo=UTC)
    assert recaps["tonight-la"].release is None


@pytest.mark.parametrize("hour", HOURS)
def test_the_hold_decision_and_the_plan_at(hour: str, content: Path):
    now = at(hour)
    index = ContentIndex(content, Settings())
    index.reload()
    recaps = index.recaps()
    assert {r.id for r in recaps if r.is_published(now)} == expected_out(hour)
    assert {r.id for r in index.published_recaps(now)} == expected_out(hour)
    planned = plan_recap_announcements(
        recaps, episodes={}, authors=index.authors, settings=Settings(), now=now
    )
    assert {p.key for p in planned} == {f"recap:{rid}" for rid in expected_out(hour)}
    assert all(p.due_at <= now for p in planned)


@pytest.mark.parametrize("hour", HOURS)
def test_check_says_when_a_held_recap_goes_out_at(hour: str, content: Path):
    out = io.StringIO()
    code = run_check(content, settings=Settings(), out=out, environ={}, clock=lambda: at(hour))
    assert code == 0
    notes = [line for line in out.getvalue().splitlines() if ": note: held:" in line]
    held = set(RECAPS) - expected_out(hour)
    assert len(notes) == len(held)
    for rid in held:
        goes_out = RECAPS[rid][1]
        [line] = [n for n in notes if f"recaps/{rid}.md:1:" in n]
        assert f"goes out at {goes_out:%Y-%m-%d %H:%M} UTC" in line, line
        assert ("has not begun anywhere on Earth" in line) == (rid != "tonight-la"), line


@pytest.mark.parametrize("hour", HOURS)
async def test_a_merged_recap_dated_today_is_announced_at(hour: str, tmp_path: Path):
    h = Harness(tmp_path, clock=ManualClock(at(hour)))
    await h.start()
    try:
        await h.start_bot()
        files = {f"recaps/{rid}.md": recap_md(f"Recap {rid}", c) for rid, (c, _) in RECAPS.items()}
        await h.merge(files, "four recaps")
        await h.posting.sync.pull_now("test")
        out = expected_out(hour)
        await h.sandbox.wait_for(
            lambda: len(h.sandbox.messages(h.announcements)) == len(out), timeout=10
        )
        texts = str(h.sandbox.messages(h.announcements))
        for rid in RECAPS:
            assert (f"Recap {rid}" in texts) == (rid in out), rid
            if rid in out:
                await eventually(
                    lambda rid=rid: h.bot.db.outbox.get(f"recap:{rid}"),
                    lambda post: post is not None and post.status is PostStatus.SENT,
                )
            else:
                assert await h.bot.db.outbox.get(f"recap:{rid}") is None, rid
    finally:
        await h.stop()
    h.sandbox.assert_valid()
