"""The outbox dispatcher over a real SQLite file: once, never lost, every outcome recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.plan.posts import PlannedPost, PostStatus
from bot.services.delivery import (
    Dispatcher,
    PermanentSendError,
    TransientSendError,
    matches_variant,
)
from bot.store import open_store

T0 = datetime(2025, 7, 14, 17, 0, tzinfo=UTC)


class RecordingSender:
    """Stands in for Discord: records sends, dedupes nonces like Discord does (for
    `nonce_window`, on `clock`; forever when None), keeps each channel's history for
    `find_sent`, and can fail before or after storing a message."""

    def __init__(self, clock: Any = None, nonce_window: timedelta | None = None) -> None:
        self.clock = clock
        self.nonce_window = nonce_window
        self.sent: list[tuple[int, dict[str, Any], str]] = []
        self.by_nonce: dict[str, tuple[int, datetime]] = {}
        self.history: dict[int, list[tuple[int, dict[str, Any], datetime]]] = {}
        self.edits: list[tuple[int, int, dict[str, Any]]] = []
        self.published: list[int] = []
        self.failures: list[BaseException] = []  # raised instead of storing
        self.after_store: list[BaseException] = []  # raised after storing (ambiguous)
        self.history_failures: list[BaseException] = []
        self.lookups = 0
        self.news_channels: set[int] = set()
        self.gate: asyncio.Event | None = None
        self.dms_opened: list[int] = []

    def now(self) -> datetime:
        return self.clock() if self.clock is not None else T0

    async def send(self, channel_id: int, payload: dict[str, Any], *, nonce: str) -> int:
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        known = self.by_nonce.get(nonce)
        if known is not None and (
            self.nonce_window is None or self.now() - known[1] <= self.nonce_window
        ):
            return known[0]
        message_id = 1000 + len(self.sent)
        self.sent.append((channel_id, payload, nonce))
        self.by_nonce[nonce] = (message_id, self.now())
        self.history.setdefault(channel_id, []).append((message_id, payload, self.now()))
        if self.after_store:
            raise self.after_store.pop(0)
        return message_id

    async def find_sent(self, channel_id: int, variants, *, since: datetime):
        self.lookups += 1
        if self.history_failures:
            raise self.history_failures.pop(0)
        return [
            (mid, at)
            for mid, payload, at in self.history.get(channel_id, [])
            if at >= since and matches_variant(payload, variants)
        ]

    async def edit(self, channel_id: int, message_id: int, payload: dict[str, Any]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.edits.append((channel_id, message_id, payload))

    async def publish(self, channel_id: int, message_id: int) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.published.append(message_id)

    async def is_announcement_channel(self, channel_id: int) -> bool:
        return channel_id in self.news_channels

    async def open_dm(self, member_id: int) -> int:
        self.dms_opened.append(member_id)
        return 900_000 + member_id

    def messages_in(self, channel_id: int) -> int:
        return len(self.history.get(channel_id, []))


def planned(key: str, kind: str = "recap", due: datetime = T0, **kw: Any) -> PlannedPost:
    return PlannedPost(
        key=key,
        kind=kind,  # type: ignore[arg-type]
        due_at=due,
        channel_id=kw.pop("channel_id", 10),
        payload=kw.pop("payload", {"content": key, "allowed_mentions": {"parse": []}}),
        **kw,
    )


@pytest.fixture
async def world(tmp_path):
    clock = ManualClock(T0)
    store = await open_store(tmp_path / "amabot.sqlite3", clock=clock)
    sender = RecordingSender(clock)
    dispatcher = Dispatcher(store.outbox, sender, clock=clock)
    yield clock, store, sender, dispatcher
    await store.close()


async def test_due_post_is_sent_once_and_recorded(world):
    clock, store, sender, dispatcher = world
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    assert await dispatcher.deliver_due() == 1
    assert await dispatcher.deliver_due() == 0
    assert await dispatcher.deliver("recap:a") is False
    post = await store.outbox.get("recap:a")
    assert post.status is PostStatus.SENT
    assert post.message_id == 1000
    assert [s[2] for s in sender.sent] == [post.nonce]


async def test_concurrent_wakeups_send_once(world):
    clock, store, sender, dispatcher = world
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    sender.gate = asyncio.Event()
    tasks = [asyncio.create_task(dispatcher.deliver("recap:a")) for _ in range(5)]
    await asyncio.sleep(0)
    sender.gate.set()
    results = await asyncio.gather(*tasks)
    assert results.count(True) == 1
    assert len(sender.sent) == 1


async def test_not_due_is_not_sent(world):
    clock, store, sender, dispatcher = world
    await store.outbox.reconcile(
        [planned("recap:later", due=T0 + timedelta(hours=1))], scope="recap:", now=clock()
    )
    assert await dispatcher.deliver_due() == 0
    clock.advance(timedelta(hours=1))
    assert await dispatcher.deliver_due() == 1
    assert len(sender.sent) == 1


class Crash(BaseException):
    """SIGKILL stand-in: not an Exception, so no `except Exception` in delivery catches it."""


class CrashesAfterSend:
    """The sender, then the process dies: Discord has the message, the outbox does not know."""

    def __init__(self, sender: RecordingSender) -> None:
        self.sender = sender

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sender, name)

    async def send(self, channel_id, payload, *, nonce):
        await self.sender.send(channel_id, payload, nonce=nonce)
        raise Crash()


async def test_crash_between_send_and_record_is_settled_from_history(world, tmp_path):
    clock, store, sender, _ = world
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    crashing = Dispatcher(store.outbox, CrashesAfterSend(sender), clock=clock)
    with pytest.raises(Crash):  # the message reached Discord, then the process died
        await crashing.deliver("recap:a")
    await store.close()

    reopened = await open_store(tmp_path / "amabot.sqlite3", clock=clock)
    try:
        dispatcher = Dispatcher(reopened.outbox, sender, clock=clock)
        assert await dispatcher.recover() == ["recap:a"]
        await dispatcher.deliver_due()
        post = await reopened.outbox.get("recap:a")
        assert post.status is PostStatus.SENT
        assert post.message_id == 1000  # found in the history, not sent again
        assert len(sender.sent) == 1
        assert sender.lookups == 1
    finally:
        await reopened.close()


async def test_permanent_failure_is_recorded_with_reason_and_others_still_go(world):
    clock, store, sender, dispatcher = world
    failures: list[tuple[str, str]] = []

    async def on_failure(post, reason):
        failures.append((post.key, reason))

    dispatcher._on_failure = on_failure
    await store.outbox.reconcile(
        [planned("recap:a"), planned("recap:b", due=T0 + timedelta(seconds=1))],
        scope="recap:",
        now=clock(),
    )
    sender.failures.append(PermanentSendError("403 Missing Permissions (code 50013)"))
    clock.advance(timedelta(seconds=1))
    await dispatcher.deliver_due()
    a = await store.outbox.get("recap:a")
    b = await store.outbox.get("recap:b")
    assert a.status is PostStatus.FAILED
    assert "Missing Permissions" in a.reason
    assert b.status is PostStatus.SENT
    assert failures == [("recap:a", "403 Missing Permissions (code 50013)")]


async def test_transient_failure_backs_off_then_sends(world):
    clock, store, sender, dispatcher = world
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    sender.failures.append(TransientSendError("503 Service Unavailable", retry_after=5))
    await dispatcher.deliver_due()
    post = await store.outbox.get("recap:a")
    assert post.status is PostStatus.PENDING
    assert post.last_error == "503 Service Unavailable"
    assert post.wake_at >= T0 + timedelta(seconds=5)
    assert await dispatcher.deliver_due() == 0  # still backing off
    clock.advance(timedelta(seconds=5))
    assert await dispatcher.deliver_due() == 1
    assert (await store.outbox.get("recap:a")).status is PostStatus.SENT
    assert len(sender.sent) == 1


async def test_late_reminder_past_grace_is_skipped_with_reason(world):
    clock, store, sender, dispatcher = world
    start = T0 + timedelta(hours=1)
    await store.outbox.reconcile(
        [
            planned(
                "reminder:e:ama:1h",
                kind="reminder",
                due=T0,
                deadline=T0 + timedelta(minutes=15),
                event_start=start,
            )
        ],
        scope="reminder:",
        now=clock(),
    )
    clock.advance(timedelta(minutes=20))
    await dispatcher.deliver_due()
    post = await store.outbox.get("reminder:e:ama:1h")
    assert post.status is PostStatus.SKIPPED
    assert "grace" in post.reason
    assert sender.sent == []


async def test_late_reminder_within_grace_says_delayed(world):
    clock, store, sender, dispatcher = world
    await store.outbox.reconcile(
        [
            planned(
                "reminder:e:ama:1h",
                kind="reminder",
                due=T0,
                deadline=T0 + timedelta(minutes=15),
                event_start=T0 + timedelta(hours=1),
                payload={"content": "Friday AMA in 1 hour", "allowed_mentions": {"parse": []}},
            )
        ],
        scope="reminder:",
        now=clock(),
    )
    clock.advance(timedelta(minutes=10))
    await dispatcher.deliver_due()
    assert len(sender.sent) == 1
    assert "(delayed)" in sender.sent[0][1]["content"]


async def test_announcement_channel_is_published(world):
    clock, store, sender, dispatcher = world
    sender.news_channels.add(10)
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    await dispatcher.deliver_due()
    assert sender.published == [1000]


async def test_changed_sent_post_is_edited_not_resent(world):
    clock, store, sender, dispatcher = world
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    await dispatcher.deliver_due()
    changed = planned(
        "recap:a", payload={"content": "new title", "allowed_mentions": {"parse": []}}
    )
    report = await store.outbox.reconcile([changed], scope="recap:", now=clock())
    assert list(report.edit_needed) == ["recap:a"]
    await dispatcher.deliver_due()
    assert len(sender.sent) == 1
    assert sender.edits == [(10, 1000, changed.payload)]
    assert await store.outbox.edits_pending() == []


async def test_concurrent_rounds_keep_each_channel_oldest_first(world):
    clock, store, sender, dispatcher = world
    # Keys against due order, on purpose: the order must come from the due times.
    plan = [planned(f"recap:{9 - i}", due=T0 - timedelta(minutes=10 - i)) for i in range(10)]
    await store.outbox.reconcile(plan, scope="recap:", now=clock())
    sender.gate = asyncio.Event()
    # Ten wake-ups at once, as the scheduler fires them for ten past-due rows.
    rounds = [asyncio.create_task(dispatcher.deliver_due()) for _ in range(10)]
    await asyncio.sleep(0)
    sender.gate.set()
    assert sum(await asyncio.gather(*rounds)) == 10
    assert [s[1]["content"] for s in sender.sent] == [p.key for p in plan]


async def test_a_refusing_or_struggling_channel_does_not_hold_up_another(world):
    clock, store, sender, _ = world
    retries: list[tuple[str, datetime]] = []
    dispatcher = Dispatcher(
        store.outbox, sender, clock=clock, on_retry=lambda k, w: retries.append((k, w))
    )
    await store.outbox.reconcile(
        [
            planned("recap:a1", channel_id=10),
            planned("recap:a2", channel_id=10, due=T0 + timedelta(seconds=1)),
            planned("recap:b1", channel_id=20),
        ],
        scope="recap:",
        now=clock(),
    )
    clock.advance(timedelta(seconds=1))

    class Picky(RecordingSender):
        async def send(self, channel_id, payload, *, nonce):
            if channel_id == 10:
                raise TransientSendError("503 Service Unavailable")
            return await super().send(channel_id, payload, nonce=nonce)

    picky = Picky()
    dispatcher._sender = picky
    await dispatcher.deliver_due()
    assert [s[1]["content"] for s in picky.sent] == ["recap:b1"]
    # a1 backs off; a2 waits behind it rather than overtaking it.
    assert (await store.outbox.get("recap:a1")).attempts == 1
    assert (await store.outbox.get("recap:a2")).attempts == 0
    assert retries == [("recap:a1", clock() + dispatcher.first_backoff)]


async def test_publish_and_edit_refusals_are_kept_as_problems(world):
    clock, store, sender, dispatcher = world
    sender.news_channels.add(10)

    async def refuse(channel_id, message_id, payload=None):
        raise PermanentSendError("403 Forbidden: Missing Permissions (code 50013)")

    sender.publish = refuse
    sender.edit = refuse
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    await dispatcher.deliver_due()
    assert (await store.outbox.get("recap:a")).status is PostStatus.SENT
    changed = planned("recap:a", payload={"content": "v2", "allowed_mentions": {"parse": []}})
    await store.outbox.reconcile([changed], scope="recap:", now=clock())
    await dispatcher.deliver_due()
    assert [(p.key, p.action) for p in dispatcher.problems] == [
        ("recap:a", "publish"),
        ("recap:a", "edit"),
    ]
    post = await store.outbox.get("recap:a")
    assert not post.edit_pending and "Missing Permissions" in post.last_error
    assert dispatcher.problems[0].as_dict()["reason"].startswith("403")


async def test_an_edit_made_while_patching_stays_due(world):
    clock, store, sender, dispatcher = world
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    await dispatcher.deliver_due()
    v2 = planned("recap:a", payload={"content": "v2", "allowed_mentions": {"parse": []}})
    v3 = planned("recap:a", payload={"content": "v3", "allowed_mentions": {"parse": []}})
    await store.outbox.reconcile([v2], scope="recap:", now=clock())
    edit = sender.edit

    async def edit_then_change_again(channel_id, message_id, payload):
        await edit(channel_id, message_id, payload)
        await store.outbox.reconcile([v3], scope="recap:", now=clock())

    sender.edit = edit_then_change_again
    await dispatcher.apply_edits()
    sender.edit = edit
    await dispatcher.apply_edits()
    assert [e[2]["content"] for e in sender.edits] == ["v2", "v3"]
    assert await store.outbox.edits_pending() == []


async def test_a_new_rendering_of_the_same_content_does_not_edit_sent_posts(world):
    clock, store, sender, dispatcher = world
    first = planned("recap:a", fingerprint="title|summary|link")
    await store.outbox.reconcile([first], scope="recap:", now=clock())
    await dispatcher.deliver_due()
    rerendered = planned(
        "recap:a",
        payload={"content": "same recap, new layout", "allowed_mentions": {"parse": []}},
        fingerprint="title|summary|link",
    )
    report = await store.outbox.reconcile([rerendered], scope="recap:", now=clock())
    assert list(report.edit_needed) == []
    retitled = planned(
        "recap:a",
        payload={"content": "new title", "allowed_mentions": {"parse": []}},
        fingerprint="new title|summary|link",
    )
    report = await store.outbox.reconcile([retitled], scope="recap:", now=clock())
    assert list(report.edit_needed) == ["recap:a"]
    await dispatcher.deliver_due()
    assert [e[2]["content"] for e in sender.edits] == ["new title"]


# -- DMs (bot/plan/optin.py): the member is in the key, the channel is opened by the sender


async def test_a_dm_goes_to_the_members_dm_channel_and_is_never_published(world):
    clock, store, sender, dispatcher = world
    sender.news_channels.add(0)  # even if channel 0 looked like one, a DM is not published
    dm = planned(
        "dm:42:s2-e05:ama:1h", kind="dm", channel_id=0, event_start=T0 + timedelta(hours=1)
    )
    await store.outbox.reconcile([dm], scope="dm:", now=clock())
    assert await dispatcher.deliver_due() == 1
    assert sender.dms_opened == [42]
    assert sender.sent[0][0] == 900_042
    assert sender.published == []
    post = await store.outbox.get(dm.key)
    assert post.status is PostStatus.SENT and post.channel_id == 0


async def test_a_refused_dm_is_failed_once_and_reported(world):
    clock, store, sender, _ = world
    reported: list[tuple[str, str]] = []

    async def on_failure(post, reason):
        reported.append((post.key, reason))

    dispatcher = Dispatcher(store.outbox, sender, clock=clock, on_failure=on_failure)
    sender.failures.append(PermanentSendError("403 Cannot send messages to this user (code 50007)"))
    dm = planned(
        "dm:42:s2-e05:ama:1h", kind="dm", channel_id=0, event_start=T0 + timedelta(hours=1)
    )
    await store.outbox.reconcile([dm], scope="dm:", now=clock())
    await dispatcher.deliver_due()
    await dispatcher.deliver_due()
    post = await store.outbox.get(dm.key)
    assert post.status is PostStatus.FAILED and "50007" in post.reason
    assert reported == [(dm.key, post.reason)]


async def test_a_struggling_reminder_does_not_hold_up_the_next_one_in_its_channel(world):
    clock, store, sender, dispatcher = world
    start = T0 + timedelta(hours=1)
    reminders = [
        planned(
            f"reminder:{name}:ama:1h",
            kind="reminder",
            due=T0,
            deadline=T0 + timedelta(minutes=15),
            event_start=start,
        )
        for name in ("first", "second")
    ]
    await store.outbox.reconcile(reminders, scope="reminder:", now=clock())

    class FirstFails(RecordingSender):
        async def send(self, channel_id, payload, *, nonce):
            if payload["content"].startswith("reminder:first"):
                raise TransientSendError("503 Service Unavailable")
            return await super().send(channel_id, payload, nonce=nonce)

    dispatcher._sender = sender = FirstFails()
    await dispatcher.deliver_due()
    assert [s[1]["content"] for s in sender.sent] == ["reminder:second:ama:1h"]
    assert (await store.outbox.get("reminder:first:ama:1h")).status is PostStatus.PENDING


async def test_a_post_found_after_a_crash_is_recorded_as_sent_not_skipped(world, tmp_path):
    clock, store, sender, _ = world
    start = T0 + timedelta(minutes=30)
    reminder = planned(
        "reminder:e:ama:30m",
        kind="reminder",
        due=T0,
        deadline=T0 + timedelta(minutes=5),
        event_start=start,
    )
    await store.outbox.reconcile([reminder], scope="reminder:", now=clock())
    clock.advance(timedelta(seconds=1))
    crashing = Dispatcher(store.outbox, CrashesAfterSend(sender), clock=clock)
    with pytest.raises(Crash):  # Discord has the message, the outbox says "sending"
        await crashing.deliver(reminder.key)
    await store.close()

    clock.advance(timedelta(minutes=20))  # back long after its grace
    reopened = await open_store(tmp_path / "amabot.sqlite3", clock=clock)
    try:
        dispatcher = Dispatcher(reopened.outbox, sender, clock=clock)
        await dispatcher.recover()
        await dispatcher.deliver_due()
        post = await reopened.outbox.get(reminder.key)
        assert post.status is PostStatus.SENT
        assert post.message_id == 1000
        assert post.sent_at == T0 + timedelta(seconds=1)  # when Discord took it
        assert len(sender.sent) == 1
    finally:
        await reopened.close()


async def test_a_reminder_retries_often_enough_to_beat_its_deadline(world):
    clock, store, sender, dispatcher = world
    reminder = planned(
        "reminder:e:livestream:15s",
        kind="reminder",
        due=T0,
        deadline=T0 + timedelta(seconds=15),
        event_start=T0 + timedelta(seconds=15),
    )
    await store.outbox.reconcile([reminder], scope="reminder:", now=clock())
    for _ in range(4):  # a burst of 503s
        sender.failures.append(TransientSendError("503 Service Unavailable"))
    for _ in range(5):
        await dispatcher.deliver_due()
        post = await store.outbox.get(reminder.key)
        if post.status is PostStatus.SENT:
            break
        clock.set(post.wake_at)
    assert post.status is PostStatus.SENT
    assert post.sent_at < T0 + timedelta(seconds=15)
