"""The organiser announcement workflow without Discord: bot/plan/announcements.py (pure) and
bot/services/announcements.py over a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from bot.plan.announcements import (
    DRAFT_PREFIX,
    DRAFT_TTL,
    AnnouncementError,
    Draft,
    check_message,
    due_time,
    is_draft_id,
    page_of,
)
from bot.plan.posts import PlannedPost, PostStatus
from bot.plan.reminders import reminder_key
from bot.render.limits import CONTENT_MAX
from bot.services.announcements import NOT_FOUND, Announcements
from bot.store import open_store
from tests.builders import make_episode

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ORGANISER, OTHER = 1001, 1002
CHANNEL, ROLE = 555, 777
H = timedelta(hours=1)


class Recorded:
    """The wake-up times the workflow asked for, as the scheduler would hold them."""

    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}

    def schedule(self, key: str, due: datetime) -> None:
        self.due[key] = due

    def unschedule(self, key: str) -> None:
        self.due.pop(key, None)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def store(tmp_path, clock):
    async with await open_store(tmp_path / "amabot.sqlite3", clock=clock) as opened:
        yield opened


@pytest.fixture
def wakeups() -> Recorded:
    return Recorded()


@pytest.fixture
def flow(store, clock, wakeups) -> Announcements:
    return Announcements(store, clock, wakeups)


async def draft(flow: Announcements, due: datetime = T0 + 2 * H) -> str:
    draft_id, _ = await flow.save_draft(
        author=ORGANISER,
        channel_id=CHANNEL,
        role_id=ROLE,
        due_at=due,
        payload={"content": "hello", "allowed_mentions": {"parse": []}},
    )
    return draft_id


# -- pure ------------------------------------------------------------------------------------


def test_the_message_must_fit_with_its_role_mention():
    check_message("x" * CONTENT_MAX, 0)
    with pytest.raises(AnnouncementError, match="with the role mention"):
        check_message("x" * CONTENT_MAX, ROLE)
    with pytest.raises(AnnouncementError, match=f"{CONTENT_MAX + 1} characters"):
        check_message("x" * (CONTENT_MAX + 1), 0)
    with pytest.raises(AnnouncementError, match="empty"):
        check_message("   ", 0)


def test_due_time_is_ahead_and_readable():
    assert due_time("in 2h", now=T0, tz="UTC") == T0 + 2 * H
    with pytest.raises(AnnouncementError, match="in the past"):
        due_time("2026-03-01 09:00", now=T0, tz="UTC")
    with pytest.raises(AnnouncementError):
        due_time("whenever", now=T0, tz="UTC")


def test_draft_ids_and_pages():
    assert is_draft_id("0123456789abcdef")
    assert not is_draft_id("0123456789ABCDEF") and not is_draft_id("../etc") and not is_draft_id("")
    assert page_of(0, 5) == (1, 1, 0)
    assert page_of(25, 3) == (3, 3, 20)
    assert page_of(25, 9) == (3, 3, 20)  # clamped to the last page
    assert page_of(25, 0) == (1, 3, 0)


def test_a_draft_reads_back_what_was_stored():
    d = Draft(ORGANISER, CHANNEL, ROLE, T0 + H, {"content": "x"}, T0 + DRAFT_TTL, 7)
    assert Draft.from_json(d.to_json()) == d
    assert d.key == "announce:7"
    post = d.post(by=ORGANISER)
    assert (post.key, post.kind, post.due_at, post.created_by) == (
        "announce:7",
        "announce",
        T0 + H,
        ORGANISER,
    )


# -- the workflow against the store ----------------------------------------------------------


async def test_confirm_schedules_once_records_and_wakes(flow, store, wakeups):
    draft_id = await draft(flow)
    scheduled = await flow.confirm(draft_id, ORGANISER)
    post = await store.outbox.get(scheduled.key)
    assert post is not None and post.status == PostStatus.PENDING
    assert (post.channel_id, post.wake_at) == (CHANNEL, T0 + 2 * H)
    assert wakeups.due == {scheduled.key: T0 + 2 * H}
    assert [e.action for e in await store.audit.for_key(scheduled.key)] == ["announce.create"]
    assert await store.state.get_json(DRAFT_PREFIX + draft_id) is None
    with pytest.raises(AnnouncementError, match="already handled"):
        await flow.confirm(draft_id, ORGANISER)  # a double click schedules nothing more
    assert (await store.outbox.counts()).get(PostStatus.PENDING) == 1


async def test_a_confirm_repeated_after_a_crash_finds_the_post(flow, store):
    draft_id = await draft(flow)
    kept = await store.state.get_json(DRAFT_PREFIX + draft_id)
    scheduled = await flow.confirm(draft_id, ORGANISER)
    # The crash: the post was written, the draft never dropped.
    await store.state.set_json(DRAFT_PREFIX + draft_id, kept)
    with pytest.raises(AnnouncementError, match=f"scheduled as `{scheduled.key}`"):
        await flow.discard(draft_id, ORGANISER)
    with pytest.raises(AnnouncementError, match=f"scheduled as `{scheduled.key}`"):
        await flow.confirm(draft_id, ORGANISER)
    assert await store.state.get_json(DRAFT_PREFIX + draft_id) is None
    assert (await store.outbox.counts()).get(PostStatus.PENDING) == 1


async def test_only_the_author_confirms_and_the_draft_survives_a_stranger(flow, store):
    draft_id = await draft(flow)
    with pytest.raises(AnnouncementError) as refused:
        await flow.confirm(draft_id, OTHER)
    assert str(refused.value) == NOT_FOUND
    assert await store.state.get_json(DRAFT_PREFIX + draft_id) is not None
    await flow.confirm(draft_id, ORGANISER)


async def test_an_expired_draft_is_dropped(flow, store, clock):
    draft_id = await draft(flow, due=T0 + 5 * H)
    clock.advance(DRAFT_TTL + timedelta(seconds=1))
    with pytest.raises(AnnouncementError, match="expired"):
        await flow.confirm(draft_id, ORGANISER)
    assert await store.state.get_json(DRAFT_PREFIX + draft_id) is None
    assert await store.outbox.pending() == []


async def test_a_time_that_passed_while_the_preview_was_open(flow, store, clock):
    draft_id = await draft(flow, due=T0 + timedelta(minutes=10))
    clock.advance(timedelta(minutes=11))
    with pytest.raises(AnnouncementError, match="has passed"):
        await flow.confirm(draft_id, ORGANISER)
    assert await store.outbox.pending() == []


async def test_discard_drops_the_draft_and_schedules_nothing(flow, store):
    draft_id = await draft(flow)
    await flow.discard(draft_id, ORGANISER)
    assert await store.state.get_json(DRAFT_PREFIX + draft_id) is None
    assert await store.outbox.pending() == []


async def test_cancel_records_who_and_unschedules(flow, store, wakeups):
    scheduled = await flow.confirm(await draft(flow), ORGANISER)
    await flow.cancel(scheduled.key, OTHER)
    post = await store.outbox.get(scheduled.key)
    assert post.status == PostStatus.CANCELLED
    assert wakeups.due == {}
    assert [(e.action, e.actor_id) for e in await store.audit.for_key(scheduled.key)] == [
        ("announce.create", ORGANISER),
        ("post.cancel", OTHER),
    ]
    with pytest.raises(AnnouncementError, match="it is cancelled"):
        await flow.cancel(scheduled.key, OTHER)
    with pytest.raises(AnnouncementError, match="no such post"):
        await flow.cancel("announce:999", OTHER)


async def test_skip_cancels_this_weeks_pending_reminders_of_one_event(flow, store, wakeups, clock):
    ep = make_episode(
        ls_at=T0 + 30 * H,
        ama_at=T0 + 126 * H,
        zone="UTC",
        ls_url=None,
        ama_url=None,
        title="Fine tuning",
        guests=(),
    )
    offsets = (24 * H, H)
    for kind in ("livestream", "ama"):
        for offset in offsets:
            start = ep.event(kind).start
            key = reminder_key(ep.id, kind, offset, start)
            await store.outbox.add(
                PlannedPost(key, "reminder", start - offset, CHANNEL, {"content": key}), clock()
            )
            wakeups.schedule(key, start - offset)
    skipped = await flow.skip(ep, "ama", ORGANISER, offsets)
    ama, live = ep.event("ama").start, ep.event("livestream").start
    assert skipped == [reminder_key(ep.id, "ama", o, ama) for o in offsets]
    for key in skipped:
        assert (await store.outbox.get(key)).status == PostStatus.CANCELLED
    assert sorted(wakeups.due) == sorted(
        reminder_key(ep.id, "livestream", o, live) for o in offsets
    )
    with pytest.raises(AnnouncementError, match="No pending reminders"):
        await flow.skip(ep, "ama", ORGANISER, offsets)  # nothing left to skip


async def test_pending_pages_and_keys(flow, store, clock):
    for n in range(12):
        await store.outbox.add(
            PlannedPost(f"announce:{n}", "announce", T0 + (n + 1) * H, CHANNEL, {"content": "x"}),
            clock(),
        )
    first = await flow.pending_page(1)
    assert (first.page, first.pages, first.total, len(first.posts)) == (1, 2, 12, 10)
    last = await flow.pending_page(7)
    assert (last.page, [p.key for p in last.posts]) == (2, ["announce:10", "announce:11"])
    assert await flow.pending_keys("NCE:1") == ["announce:1", "announce:10", "announce:11"]
