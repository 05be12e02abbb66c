"""The outbox: reconcile rules, the delivery state machine, queries, persistence."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.plan.posts import PostStatus, payload_hash
from bot.store import DuplicateKeyError

from .conftest import T0, minutes, planned

# --- time columns ----------------------------------------------------------------------------


async def test_datetimes_round_trip_as_aware_utc_to_the_microsecond(store):
    paris = timezone(timedelta(hours=2))
    due = datetime(2025, 7, 14, 15, 30, 12, 345678, tzinfo=paris)
    post = planned("reminder:s2-e05:ama:1h", due, deadline=due + minutes(15), event_start=due)
    await store.outbox.reconcile([post], scope="reminder:", now=T0)
    got = await store.outbox.get(post.key)
    assert got.due_at == due
    assert got.due_at.tzinfo is UTC
    assert got.due_at.microsecond == 345678
    assert got.deadline == due + minutes(15) and got.deadline.tzinfo is UTC
    assert got.event_start == due
    assert got.created_at == T0 and got.created_at.tzinfo is UTC
    assert got.payload == post.payload
    assert got.content_hash == post.content_hash


async def test_naive_datetimes_are_refused(store):
    with pytest.raises(ValueError, match="naive"):
        await store.outbox.due_keys(datetime(2025, 7, 14, 12, 0))


async def test_times_before_1970_and_far_ahead_compare_correctly(store):
    posts = [
        planned("recap:old", datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),
        planned("recap:mid", T0),
        planned("recap:far", datetime(2999, 1, 1, tzinfo=UTC)),
    ]
    await store.outbox.reconcile(posts, scope="recap:", now=T0)
    assert [k for k, _, _ in await store.outbox.due_keys(T0)] == ["recap:old", "recap:mid"]
    assert [p.key for p in await store.outbox.pending()] == ["recap:old", "recap:mid", "recap:far"]


# --- reconcile -------------------------------------------------------------------------------


async def test_reconcile_inserts_new_posts_as_pending(store):
    report = await store.outbox.reconcile(
        [planned("recap:a"), planned("recap:b")], scope="recap:", now=T0
    )
    assert report.inserted == ["recap:a", "recap:b"]
    assert report.changed
    assert {p.status for p in await store.outbox.all()} == {PostStatus.PENDING}


async def test_reconcile_twice_changes_nothing(store):
    plan = [planned("recap:a"), planned("recap:b")]
    await store.outbox.reconcile(plan, scope="recap:", now=T0)
    report = await store.outbox.reconcile(plan, scope="recap:", now=T0 + minutes(1))
    assert not report.changed
    assert report.unchanged == 2


async def test_reconcile_moves_a_pending_post_in_place(store):
    key = "reminder:s2-e05:ama:1h"
    await store.outbox.reconcile([planned(key, T0)], scope="reminder:", now=T0)
    later = T0 + timedelta(days=1)
    moved = planned(key, later, channel_id=222, payload={"content": "moved"}, deadline=later)
    report = await store.outbox.reconcile([moved], scope="reminder:", now=T0 + minutes(5))
    assert report.moved == [key]
    post = await store.outbox.get(key)
    assert (post.due_at, post.channel_id, post.payload, post.deadline) == (
        later,
        222,
        {"content": "moved"},
        later,
    )
    assert post.status is PostStatus.PENDING
    assert post.content_hash == moved.content_hash
    assert post.updated_at == T0 + minutes(5)


async def test_reconcile_cancels_pending_posts_no_longer_planned_but_not_final_ones(store, clock):
    keys = ["reminder:e:ama:1h", "reminder:e:ama:10m", "reminder:e:ama:24h", "reminder:e:ama:0m"]
    await store.outbox.reconcile([planned(k) for k in keys], scope="reminder:", now=T0)
    outbox = store.outbox
    assert await outbox.claim(keys[1], T0)
    await outbox.mark_sent(keys[1], 9001, T0)
    await outbox.mark_skipped(keys[2], "too late", T0)
    await outbox.mark_failed(keys[3], "403 Missing Access", T0)
    report = await outbox.reconcile(
        [], scope="reminder:", now=T0, reason_missing="episode cancelled"
    )
    assert report.cancelled == [keys[0]]
    assert (await outbox.get(keys[0])).status is PostStatus.CANCELLED
    assert (await outbox.get(keys[0])).reason == "episode cancelled"
    assert (await outbox.get(keys[0])).cancelled_by is None
    assert [(await outbox.get(k)).status for k in keys[1:]] == [
        PostStatus.SENT,
        PostStatus.SKIPPED,
        PostStatus.FAILED,
    ]


async def test_reconcile_leaves_other_scopes_alone(store):
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=T0)
    await store.outbox.add(planned("announce:1"), T0)
    report = await store.outbox.reconcile([], scope="reminder:", now=T0)
    assert not report.changed
    assert (await store.outbox.counts())[PostStatus.PENDING] == 2
    with pytest.raises(ValueError, match="outside the scope"):
        await store.outbox.reconcile([planned("recap:b")], scope="reminder:", now=T0)


async def test_an_incremental_reconcile_looks_only_at_its_keys(store):
    keys = [f"recap:r{i:04d}" for i in range(1200)]  # more keys than one query takes
    await store.outbox.reconcile([planned(k) for k in keys], scope="recap:", now=T0)
    touched = [*keys[:2], *keys[600:602], "recap:gone", "reminder:x"]
    moved = planned(keys[600], T0 + minutes(5))
    report = await store.outbox.reconcile(
        [planned(keys[0]), moved, planned("recap:new")],
        scope="recap:",
        now=T0,
        only=[*touched, "recap:new"],
    )
    # keys[1] and keys[601] were looked at and are no longer planned; the other 1,196
    # recaps were not looked at, so they stay pending; "reminder:x" is outside the scope.
    assert report.inserted == ["recap:new"]
    assert report.moved == [keys[600]]
    assert sorted(report.cancelled) == [keys[1], keys[601]]
    assert report.unchanged == 1
    assert (await store.outbox.counts())[PostStatus.PENDING] == 1200 - 2 + 1
    assert (await store.outbox.get(keys[600])).due_at == T0 + minutes(5)
    with pytest.raises(ValueError, match="within its `only` keys"):
        await store.outbox.reconcile(
            [planned("recap:elsewhere")], scope="recap:", now=T0, only=["recap:new"]
        )


async def test_reconcile_flags_a_changed_sent_post_for_an_edit_that_survives_restart(
    open_db, clock
):
    key = "recap:s2-e05"
    async with await open_db() as store:
        await store.outbox.reconcile([planned(key)], scope="recap:", now=T0)
        await store.outbox.claim(key, T0)
        await store.outbox.mark_sent(key, 4242, T0)
        edited = planned(key, payload={"content": "better title"})
        report = await store.outbox.reconcile([edited], scope="recap:", now=T0 + minutes(1))
        assert report.edit_needed == [key]
        assert report.inserted == report.moved == []
    async with await open_db() as store:
        [post] = await store.outbox.edits_pending()
        assert post.key == key
        assert post.status is PostStatus.SENT
        assert post.edit_pending
        assert post.message_id == 4242
        assert post.payload == {"content": "better title"}
        again = await store.outbox.reconcile([edited], scope="recap:", now=T0 + minutes(2))
        assert not again.changed
        assert await store.outbox.mark_edited(key, T0 + minutes(3))
        assert await store.outbox.edits_pending() == []
        assert (await store.outbox.get(key)).status is PostStatus.SENT


async def test_an_edit_for_an_older_payload_does_not_clear_a_newer_one(store):
    key = "recap:a"
    await store.outbox.reconcile([planned(key)], scope="recap:", now=T0)
    await store.outbox.claim(key, T0)
    await store.outbox.mark_sent(key, 1, T0)
    await store.outbox.reconcile([planned(key, payload={"v": 2})], scope="recap:", now=T0)
    [read] = await store.outbox.edits_pending()
    await store.outbox.reconcile([planned(key, payload={"v": 3})], scope="recap:", now=T0)
    assert not await store.outbox.mark_edited(key, T0, content_hash=read.content_hash)
    [still] = await store.outbox.edits_pending()
    assert still.payload == {"v": 3}
    assert await store.outbox.mark_edited(key, T0, content_hash=still.content_hash)


async def test_a_message_shown_by_a_click_needs_no_edit_but_a_pending_edit_stays(store):
    key = "ama:mm:s2-e05:q1"
    await store.outbox.reconcile([planned(key)], scope="ama:", now=T0)
    await store.outbox.claim(key, T0)
    await store.outbox.mark_sent(key, 1, T0)
    # A click's answer showed the new count: planning that payload asks for no edit.
    assert await store.outbox.shown(key, {"v": 2}, T0)
    report = await store.outbox.reconcile([planned(key, payload={"v": 2})], scope="ama:", now=T0)
    assert not report.changed
    assert await store.outbox.edits_pending() == []
    # An edit requested before a click landed stays pending, with the click's payload.
    await store.outbox.reconcile([planned(key, payload={"v": 3})], scope="ama:", now=T0)
    assert await store.outbox.shown(key, {"v": 4}, T0)
    [pending] = await store.outbox.edits_pending()
    assert pending.payload == {"v": 4}
    assert not await store.outbox.shown("ama:mm:s2-e05:q9", {"v": 1}, T0)  # never sent


async def test_a_sent_post_keeps_its_channel_when_its_plan_moves_channel(store):
    key = "recap:a"
    await store.outbox.reconcile([planned(key)], scope="recap:", now=T0)
    await store.outbox.claim(key, T0)
    await store.outbox.mark_sent(key, 1, T0)
    moved = planned(key, channel_id=999)
    report = await store.outbox.reconcile([moved], scope="recap:", now=T0)
    # The payload is the same: nothing to edit, and a message cannot change channel anyway.
    assert not report.changed
    post = await store.outbox.get(key)
    assert post.channel_id == 111
    assert post.content_hash == payload_hash(post.payload, 111)


async def test_planning_cancellation_is_revived_but_organiser_cancellation_is_not(store):
    a, b = "reminder:e:ama:1h", "reminder:e:livestream:1h"
    await store.outbox.reconcile([planned(a), planned(b)], scope="reminder:", now=T0)
    await store.outbox.reconcile([], scope="reminder:", now=T0)  # both cancelled by planning
    assert (await store.outbox.get(a)).status is PostStatus.CANCELLED
    # an organiser re-cancels b explicitly: cancel() only touches pending/sending rows, so
    # revive first, then cancel as an organiser
    report = await store.outbox.reconcile([planned(b)], scope="reminder:", now=T0)
    assert report.revived == [b]
    assert await store.outbox.cancel(b, "holiday", T0, by=77)
    later = T0 + timedelta(days=7)
    report = await store.outbox.reconcile(
        [planned(a, later), planned(b, later)], scope="reminder:", now=T0 + minutes(1)
    )
    assert report.revived == [a]
    revived = await store.outbox.get(a)
    assert revived.status is PostStatus.PENDING
    assert revived.due_at == later
    assert revived.reason is None
    kept = await store.outbox.get(b)
    assert (kept.status, kept.cancelled_by, kept.reason) == (PostStatus.CANCELLED, 77, "holiday")


async def test_skipped_and_failed_posts_are_never_revived(store):
    keys = ["recap:skipped", "recap:failed"]
    await store.outbox.insert_skipped([planned(keys[0])], "backlog", T0)
    await store.outbox.reconcile([planned(keys[1])], scope="recap:", now=T0)
    await store.outbox.mark_failed(keys[1], "404 Unknown Channel", T0)
    changed = [planned(k, payload={"content": "new"}) for k in keys]
    report = await store.outbox.reconcile(changed, scope="recap:", now=T0)
    assert not report.changed
    assert (await store.outbox.get(keys[0])).status is PostStatus.SKIPPED
    assert (await store.outbox.get(keys[1])).status is PostStatus.FAILED


async def test_reconcile_is_one_transaction(store, integrity_error):
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=T0)
    bad = [planned("recap:b"), planned("recap:b")]
    with pytest.raises(ValueError, match="twice"):
        await store.outbox.reconcile(bad, scope="recap:", now=T0)
    with pytest.raises(ValueError, match="naive"):
        await store.outbox.reconcile(
            [planned("recap:c", datetime(2025, 7, 14))], scope="recap:", now=T0
        )
    # recap:b is written, then the database refuses recap:c (a channel id no 64-bit column
    # holds; an undeclared kind no longer reaches the store): nothing may remain
    half = [planned("recap:b"), planned("recap:c", channel_id=2**64)]
    with pytest.raises((integrity_error, OverflowError)):
        await store.outbox.reconcile(half, scope="recap:", now=T0)
    assert [p.key for p in await store.outbox.all()] == ["recap:a"]
    assert (await store.outbox.get("recap:a")).status is PostStatus.PENDING
    report = await store.outbox.reconcile([planned("recap:b")], scope="recap:", now=T0)
    assert report.inserted == ["recap:b"]
    assert report.cancelled == ["recap:a"]


# --- inserts ---------------------------------------------------------------------------------


async def test_insert_skipped_records_the_backlog_and_keeps_existing_rows(store):
    await store.outbox.reconcile([planned("recap:new")], scope="recap:", now=T0)
    inserted = await store.outbox.insert_skipped(
        [planned("recap:old1"), planned("recap:old2"), planned("recap:new")], "backlog", T0
    )
    assert inserted == ["recap:old1", "recap:old2"]
    assert (await store.outbox.get("recap:old1")).reason == "backlog"
    assert (await store.outbox.get("recap:new")).status is PostStatus.PENDING
    assert await store.outbox.claim("recap:old1", T0) is None
    assert await store.outbox.insert_skipped(planned("recap:one"), "backlog", T0) == ["recap:one"]


async def test_add_refuses_an_existing_key(store):
    post = await store.outbox.add(planned("announce:1", created_by=55), T0)
    assert post.created_by == 55
    assert post.status is PostStatus.PENDING
    with pytest.raises(DuplicateKeyError, match="announce:1"):
        await store.outbox.add(planned("announce:1"), T0)


async def test_add_once_inserts_a_key_once_and_keeps_the_first(store):
    """An organiser alert or an asker's note: one row per key, a second add changes nothing."""
    assert await store.outbox.add_once(planned("alert:recap:s2-e05"), T0) is True
    again = planned("alert:recap:s2-e05", payload={"content": "a second note"})
    assert await store.outbox.add_once(again, T0 + minutes(1)) is False
    post = await store.outbox.get("alert:recap:s2-e05")
    assert post is not None and post.status is PostStatus.PENDING
    assert post.payload == {"content": "post alert:recap:s2-e05"}


async def test_announcement_ids_are_monotonic_across_restarts(open_db, clock):
    async with await open_db() as store:
        assert [await store.outbox.next_announcement_id() for _ in range(3)] == [1, 2, 3]
    async with await open_db() as store:
        assert await store.outbox.next_announcement_id() == 4


# --- delivery --------------------------------------------------------------------------------


async def test_claim_only_when_due_and_pending(store):
    key = "recap:a"
    await store.outbox.reconcile([planned(key, T0 + minutes(10))], scope="recap:", now=T0)
    assert await store.outbox.claim(key, T0) is None
    assert await store.outbox.claim("recap:missing", T0) is None
    post = await store.outbox.claim(key, T0 + minutes(10))
    assert post.status is PostStatus.SENDING
    assert post.attempts == 1
    assert await store.outbox.claim(key, T0 + minutes(11)) is None


async def test_two_concurrent_claims_on_one_connection_have_one_winner(store):
    keys = [f"reminder:e{i}:ama:1h" for i in range(50)]
    await store.outbox.reconcile([planned(k) for k in keys], scope="reminder:", now=T0)
    results = await asyncio.gather(*(store.outbox.claim(k, T0) for k in keys + keys))
    winners = [r.key for r in results if r is not None]
    assert sorted(winners) == sorted(keys)


async def test_two_processes_claiming_the_same_rows_have_one_winner_each(open_db, clock):
    keys = [f"reminder:e{i}:ama:1h" for i in range(50)]
    async with (
        await open_db() as first,
        await open_db() as second,
    ):
        await first.outbox.reconcile([planned(k) for k in keys], scope="reminder:", now=T0)
        results = await asyncio.gather(
            *(store.outbox.claim(k, T0) for k in keys for store in (first, second))
        )
    winners = [r.key for r in results if r is not None]
    assert sorted(winners) == sorted(keys)


async def test_a_full_delivery(store):
    key = "recap:a"
    await store.outbox.reconcile([planned(key)], scope="recap:", now=T0)
    await store.outbox.claim(key, T0)
    assert await store.outbox.mark_sent(key, 123456789012345678, T0 + minutes(1))
    post = await store.outbox.get(key)
    assert (post.status, post.message_id, post.sent_at) == (
        PostStatus.SENT,
        123456789012345678,
        T0 + minutes(1),
    )
    assert not await store.outbox.mark_sent(key, 1, T0)  # only once
    assert not await store.outbox.cancel(key, "too late", T0)
    assert not await store.outbox.mark_failed(key, "x", T0)


async def test_retry_later_waits_for_the_next_attempt(store):
    key = "recap:a"
    await store.outbox.reconcile([planned(key)], scope="recap:", now=T0)
    await store.outbox.claim(key, T0)
    assert await store.outbox.retry_later(key, "503 Service Unavailable", T0 + minutes(2), T0)
    post = await store.outbox.get(key)
    assert (post.status, post.last_error) == (PostStatus.PENDING, "503 Service Unavailable")
    assert post.wake_at == T0 + minutes(2)
    assert await store.outbox.due_keys(T0 + minutes(1)) == []
    assert await store.outbox.claim(key, T0 + minutes(1)) is None
    assert await store.outbox.next_due_at() == T0 + minutes(2)
    assert await store.outbox.wake_times() == [(key, T0 + minutes(2))]
    again = await store.outbox.claim(key, T0 + minutes(2))
    assert again.attempts == 2
    await store.outbox.mark_sent(key, 5, T0 + minutes(2))
    assert not await store.outbox.retry_later(key, "x", T0 + minutes(9), T0 + minutes(2))


async def test_recover_sending_puts_crashed_sends_back_with_the_same_nonce(open_db, clock):
    async with await open_db() as store:
        await store.outbox.reconcile(
            [planned("recap:a"), planned("recap:b")], scope="recap:", now=T0
        )
        claimed = await store.outbox.claim("recap:a", T0)
    # the process died here, between send and record
    async with await open_db() as store:
        recovered = await store.outbox.recover_sending(T0 + minutes(1))
        assert [p.key for p in recovered] == ["recap:a"]
        assert recovered[0].status is PostStatus.PENDING
        assert recovered[0].nonce == claimed.nonce
        again = await store.outbox.claim("recap:a", T0 + minutes(1))
        assert again.attempts == 2
        assert [p.key for p in await store.outbox.recover_sending(T0)] == ["recap:a"]


async def test_cancel_while_sending_then_sent_records_the_message(store):
    key = "announce:1"
    await store.outbox.add(planned(key), T0)
    await store.outbox.claim(key, T0)
    assert await store.outbox.cancel(key, "changed my mind", T0, by=5)
    assert await store.outbox.mark_sent(key, 77, T0)
    post = await store.outbox.get(key)
    assert (post.status, post.message_id) == (PostStatus.SENT, 77)


async def test_skip_and_fail_record_the_reason(store):
    await store.outbox.reconcile(
        [planned("reminder:e:ama:1h"), planned("reminder:e:ama:10m")], scope="reminder:", now=T0
    )
    assert await store.outbox.mark_skipped("reminder:e:ama:1h", "2h late; grace is 15m", T0)
    await store.outbox.claim("reminder:e:ama:10m", T0)
    assert await store.outbox.mark_failed("reminder:e:ama:10m", "403 Missing Access", T0)
    failed = await store.outbox.recent([PostStatus.FAILED, PostStatus.SKIPPED], limit=5)
    assert {(p.key, p.reason) for p in failed} == {
        ("reminder:e:ama:1h", "2h late; grace is 15m"),
        ("reminder:e:ama:10m", "403 Missing Access"),
    }
    assert not await store.outbox.mark_skipped("reminder:e:ama:1h", "again", T0)


# --- queries ---------------------------------------------------------------------------------


async def test_counts_pending_and_prefix_queries(store):
    plan = [planned(f"reminder:e{i}:ama:1h", T0 + minutes(i)) for i in range(5)]
    await store.outbox.reconcile(plan, scope="reminder:", now=T0)
    await store.outbox.reconcile([planned("recap:a", T0 + minutes(2.5))], scope="recap:", now=T0)
    await store.outbox.claim("reminder:e0:ama:1h", T0)
    await store.outbox.mark_sent("reminder:e0:ama:1h", 1, T0)
    await store.outbox.cancel("reminder:e4:ama:1h", "holiday", T0, by=3)
    counts = await store.outbox.counts()
    assert counts == {
        PostStatus.PENDING: 4,
        PostStatus.SENDING: 0,
        PostStatus.SENT: 1,
        PostStatus.SKIPPED: 0,
        PostStatus.FAILED: 0,
        PostStatus.CANCELLED: 1,
    }
    pending = [p.key for p in await store.outbox.pending()]
    assert pending == ["reminder:e1:ama:1h", "reminder:e2:ama:1h", "recap:a", "reminder:e3:ama:1h"]
    assert [p.key for p in await store.outbox.pending(limit=2, offset=1)] == pending[1:3]
    assert [k for k, _, _ in await store.outbox.due_keys(T0 + minutes(2))] == pending[:2]
    assert await store.outbox.next_due_at() == T0 + minutes(1)
    assert await store.outbox.keys_with_prefix("reminder:e") == [
        f"reminder:e{i}:ama:1h" for i in range(5)
    ]
    assert await store.outbox.keys_with_prefix("reminder:", [PostStatus.PENDING]) == [
        "reminder:e1:ama:1h",
        "reminder:e2:ama:1h",
        "reminder:e3:ama:1h",
    ]
    assert await store.outbox.keys_with_prefix("reminder:e%") == []  # no LIKE wildcards


async def test_everything_persists_across_close_and_reopen(open_db, clock):
    key = "reminder:s2-e05:livestream:24h"
    post = planned(key, T0 + minutes(30), deadline=T0 + minutes(45), subject="s2-e05")
    async with await open_db() as store:
        await store.outbox.reconcile([post], scope="reminder:", now=T0)
        before = await store.outbox.get(key)
    async with await open_db() as store:
        assert await store.outbox.get(key) == before
        assert before.subject == "s2-e05"
        assert await store.outbox.next_due_at() == T0 + minutes(30)
