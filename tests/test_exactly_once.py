"""The exactly-once machinery of the Dispatcher over a real SQLite outbox (issue 14): what
the end-to-end table tests cannot reach cheaply: edit back-off, publish pacing and staleness,
DM pacing and 40003, lookups that fail, the lease's rules, the new config keys."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from bot.config import ConfigError, default_grace, load_settings
from bot.plan.late import late_decision
from bot.plan.optin import pace
from bot.plan.posts import PlannedPost, PostStatus
from bot.services.delivery import (
    DeliveryPolicy,
    Dispatcher,
    TransientSendError,
    matches_variant,
    variant_of,
)
from bot.store import open_store
from tests.test_delivery import T0, RecordingSender, planned

H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)


@pytest.fixture
async def store(tmp_path):
    from bot.clock import ManualClock

    clock = ManualClock(T0)
    s = await open_store(tmp_path / "amabot.sqlite3", clock=clock)
    s.test_clock = clock  # type: ignore[attr-defined]
    yield s
    await s.close()


def dispatcher(store, sender, **policy) -> Dispatcher:
    return Dispatcher(store.outbox, sender, clock=store.test_clock, policy=DeliveryPolicy(**policy))


# -- DMs ---------------------------------------------------------------------------------


def test_1200_interested_members_paced_30_a_minute_are_none_skipped():
    start = T0 + 2 * H
    lead = H
    due = start - lead
    deadline = min(due + default_grace(lead), start)
    posts = [
        PlannedPost(
            key=f"dm:{1000 + m}:x1:livestream:1h",
            kind="dm",
            due_at=due,
            channel_id=0,
            payload={"content": "The livestream starts in 1 hour"},
            deadline=deadline,
            event_start=start,
        )
        for m in range(1200)
    ]
    paced = pace(posts, 30)
    assert len(paced) == 1200
    verdicts = Counter(late_decision(p, p.due_at + timedelta(milliseconds=5)).action for p in paced)
    assert set(verdicts) == {"send"}, verdicts
    assert all(p.due_at <= due and p.deadline == deadline for p in paced)
    assert max(p.due_at for p in paced) == due  # none after the time the member asked for
    per_minute = Counter(p.due_at for p in paced)
    assert max(per_minute.values()) <= 30


async def test_40003_is_transient_and_slows_the_dms_down(store):
    clock = store.test_clock
    sender = RecordingSender(clock)
    d = dispatcher(store, sender)
    dms = [
        planned(f"dm:{m}:x1:livestream:1h", kind="dm", channel_id=0, deadline=T0 + 15 * M)
        for m in (1, 2, 3)
    ]
    await store.outbox.reconcile(dms, scope="dm:", now=clock())
    sender.failures.append(
        TransientSendError("403 You are opening direct messages too fast", code=40003)
    )
    await d.deliver_due()
    statuses = [(await store.outbox.get(p.key)).status for p in dms]
    assert PostStatus.FAILED not in statuses
    assert d.dm_pacer.interval >= 2 * S  # slowed down
    for _ in range(20):
        clock.advance(5 * S)
        await d.deliver_due()
    assert [(await store.outbox.get(p.key)).status for p in dms] == [PostStatus.SENT] * 3
    assert len(sender.sent) == 3


# -- lookups -----------------------------------------------------------------------------


async def test_a_failed_lookup_is_retried_never_read_as_not_sent(store):
    clock = store.test_clock
    sender = RecordingSender(clock, nonce_window=timedelta(seconds=180))
    d = dispatcher(store, sender)
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    sender.after_store.append(TransientSendError("502 Bad Gateway", maybe_sent=True))
    await d.deliver_due()  # stored, answered 502
    assert (await store.outbox.get("recap:a")).unsure
    for _ in range(5):  # the history cannot be read for a while
        sender.history_failures.append(TransientSendError("503", maybe_sent=True))
    for _ in range(30):
        clock.advance(H / 6)
        await d.deliver_due()
    post = await store.outbox.get("recap:a")
    assert post.status is PostStatus.SENT
    assert len(sender.sent) == 1  # never resent blind, though the nonce window passed


async def test_a_message_owned_by_another_row_is_not_taken_for_this_one(store):
    clock = store.test_clock
    sender = RecordingSender(clock, nonce_window=timedelta(seconds=180))
    d = dispatcher(store, sender)
    same = {"content": "Same words", "allowed_mentions": {"parse": []}}
    await store.outbox.reconcile(
        [planned("announce:1", kind="announce", payload=same)], scope="announce:", now=clock()
    )
    await d.deliver_due()
    await store.outbox.reconcile(
        [planned("announce:2", kind="announce", payload=same, due=T0 + S)],
        scope="announce:2",
        now=clock(),
    )
    clock.advance(S)
    sender.failures.append(TransientSendError("504", maybe_sent=True))
    await d.deliver_due()  # nothing stored, but it may have been
    clock.advance(M)
    await d.deliver_due()
    first, second = [await store.outbox.get(k) for k in ("announce:1", "announce:2")]
    assert second.status is PostStatus.SENT and second.message_id != first.message_id
    assert len(sender.sent) == 2


def test_variants_match_the_text_as_discord_keeps_it():
    payload = {"content": "Hello (delayed)\nmore ", "embeds": [{"title": "T"}]}
    message = {"content": "Hello (delayed)\nmore", "embeds": [{"title": "T", "type": "rich"}]}
    assert matches_variant(message, [variant_of(payload)])
    assert not matches_variant(
        {"content": "Hello\nmore", "embeds": [{"title": "T"}]}, [variant_of(payload)]
    )


# -- publishing --------------------------------------------------------------------------


async def test_reminders_are_not_published_unless_configured(store):
    clock = store.test_clock
    sender = RecordingSender(clock)
    sender.news_channels.add(10)
    rem = planned("reminder:e:ama:1h", kind="reminder", event_start=T0 + H, deadline=T0 + M)
    await store.outbox.reconcile([rem], scope="reminder:", now=clock())
    await dispatcher(store, sender).deliver_due()
    assert sender.published == []
    assert (await store.outbox.get(rem.key)).publish_status is None
    rem2 = planned("reminder:f:ama:1h", kind="reminder", event_start=T0 + H, deadline=T0 + M)
    await store.outbox.reconcile([rem, rem2], scope="reminder:", now=clock())
    await dispatcher(store, sender, publish_settings=frozenset({"reminders.publish"})).deliver_due()
    assert len(sender.published) == 1


async def test_a_publish_that_would_arrive_after_its_event_is_dropped_and_recorded(store):
    clock = store.test_clock
    sender = RecordingSender(clock)
    sender.news_channels.add(10)
    d = dispatcher(store, sender, publish_settings=frozenset({"reminders.publish"}))
    rem = planned("reminder:e:ama:10m", kind="reminder", event_start=T0 + 10 * M)
    await store.outbox.reconcile([rem], scope="reminder:", now=clock())
    await store.outbox.claim(rem.key, clock())
    await store.outbox.mark_sent(rem.key, 77, clock(), publish=True)
    await store.outbox.publish_later(rem.key, T0 + 20 * M, "rate limited", clock(), attempt=True)
    clock.advance(20 * M)
    await d.publish_due()
    post = await store.outbox.get(rem.key)
    assert post.publish_status == "dropped" and "after the event" in post.publish_reason
    assert sender.published == []


async def test_publishing_is_paced_per_channel_across_restarts(store):
    clock = store.test_clock
    sender = RecordingSender(clock)
    sender.news_channels.update({10, 11})
    recaps = [planned(f"recap:r{i:02d}", due=T0 - i * S) for i in range(12)]
    recaps.append(planned("recap:other", channel_id=11))
    await store.outbox.reconcile(recaps, scope="recap:", now=clock())
    await dispatcher(store, sender).deliver_due()
    assert len(sender.published) == 11  # ten in channel 10, one in channel 11
    clock.advance(30 * M)
    await dispatcher(store, sender).deliver_due()  # a new process: the count is in the store
    assert len(sender.published) == 11
    clock.advance(31 * M)
    await dispatcher(store, sender).deliver_due()
    assert len(sender.published) == 13


# -- edits -------------------------------------------------------------------------------


async def test_edits_refused_30046_back_off_then_are_given_up_with_the_reason(store):
    clock = store.test_clock
    sender = RecordingSender(clock)
    d = dispatcher(store, sender, edit_max_attempts=3)
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=clock())
    await d.deliver_due()
    changed = planned("recap:a", payload={"content": "new words", "allowed_mentions": {}})
    await store.outbox.reconcile([changed], scope="recap:", now=clock())
    old_edit = TransientSendError("30046 Maximum number of edits", code=30046)
    sender.failures.append(old_edit)
    await d.apply_edits()
    post = await store.outbox.get("recap:a")
    assert post.edit_pending and post.edit_attempts == 1
    assert post.edit_next_at >= clock() + 15 * M  # much later, not the next sweep
    for _ in range(10):  # sweeps every 30 s: no request to Discord
        clock.advance(30 * S)
        await d.apply_edits()
    assert sender.failures == [] and sender.edits == []
    for _ in range(2):
        sender.failures.append(old_edit)
        clock.set(post.edit_next_at or clock())
        await d.apply_edits()
        post = await store.outbox.get("recap:a")
    assert not post.edit_pending
    assert "given up after 3 attempts" in post.last_error and "30046" in post.last_error
    assert sender.edits == []


# The lease's own behaviour is in the store's conformance suite (tests/store/test_leases.py).


# -- config ------------------------------------------------------------------------------


def test_publish_and_lease_settings_are_validated(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(
        "[announcements]\npublish_per_hour = 5\n[reminders]\npublish = true\n"
        '[storage]\nlease_ttl = "10s"\n'
    )
    s = load_settings(good, environ={})
    assert s.announcements.publish_per_hour == 5 and s.reminders.publish is True
    assert s.storage.lease_ttl == 10 * S
    for text in (
        "[announcements]\npublish_per_hour = 0\n",
        '[reminders]\npublish = "yes"\n',
        '[storage]\nlease_ttl = "1s"\n',
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError):
            load_settings(bad, environ={})


async def test_an_unsure_row_is_left_for_the_lookup_not_cancelled_by_the_plan(store):
    clock = store.test_clock
    rem = planned("reminder:e:ama:1h", kind="reminder", event_start=T0 + H, deadline=T0 + M)
    await store.outbox.reconcile([rem], scope="reminder:", now=clock())
    await store.outbox.claim(rem.key, clock())
    await store.outbox.note_attempt(rem.key, 10, [variant_of(rem.payload)], clock())
    await store.outbox.recover_sending(clock())  # a crash after the send went out
    report = await store.outbox.reconcile([], scope="reminder:", now=clock() + H)
    assert report.cancelled == []
    post = await store.outbox.get(rem.key)
    assert (post.status, post.unsure) == (PostStatus.PENDING, True)
