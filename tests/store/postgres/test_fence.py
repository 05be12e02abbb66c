"""The lease's term and the fence (issue 22's contract, `Store.fence`) on PostgreSQL: a term
names one tenure and never repeats; a fenced store's every write checks it in its own
transaction; a takeover waits for fenced writes in flight, and refuses later ones."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.plan.ama import AmaKey, AmaTimes, SessionMove
from bot.store.interface import FencedOut

from ..conftest import T0, planned

S = timedelta(seconds=1)
TTL = 30 * S


async def term(store) -> int | None:
    info = await store.leases.get()
    return None if info is None else info.term


async def test_the_term_grows_with_each_tenure_and_never_repeats(store):
    assert await store.leases.take("a", T0, TTL)
    assert await term(store) == 1
    assert await store.leases.take("a", T0 + S, TTL)  # kept: same tenure
    assert await store.leases.renew("a", T0 + 2 * S, TTL)
    assert await term(store) == 1
    assert await store.leases.take("b", T0 + 40 * S, TTL)  # a's expired: b's tenure
    assert await term(store) == 2
    assert await store.leases.take("b", T0 + 80 * S, TTL)  # b's own, but expired: a new one
    assert await term(store) == 3
    assert await store.leases.release("b")
    assert await store.leases.get() is None
    assert await store.leases.take("b", T0 + 81 * S, TTL)  # after a release: never term 1 again
    assert await term(store) == 4
    assert await store.leases.take("c", T0 + 82 * S, TTL, replacing="b")
    assert await term(store) == 5


async def everything_writes(store, n: int) -> None:
    """One write of each kind a fenced store guards."""
    await store.outbox.reconcile([planned(f"recap:{n}")], scope=f"recap:{n}", now=T0)
    await store.outbox.claim(f"recap:{n}", T0)
    await store.state.set(f"k{n}", "v")
    await store.audit.record("cancel", None, 1, "", T0)
    await store.events.mark_error(f"event:{n}:ama", "x", T0)
    await store.optin.set_pref(n, "ama", "dm", timedelta(hours=1), T0)
    times = AmaTimes(T0, T0, T0 + S, T0 + 2 * S)
    await store.ama.upsert_session(
        AmaKey("show", f"e{n}"), title="t", timezone="UTC", guests=[], times=times, now=T0
    )


async def test_a_fenced_store_writes_while_its_term_holds_and_nothing_after(open_db, sql):
    async with await open_db() as old, await open_db() as new:
        assert await old.leases.take("old", T0, TTL)
        old.fence("old", 1)
        await everything_writes(old, 1)  # ours: written
        assert await new.leases.take("new", T0 + 31 * S, TTL)  # expired: taken over
        counts = await sql.fetchval(
            "SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM state)"
            " + (SELECT COUNT(*) FROM audit) + (SELECT COUNT(*) FROM guild_events)"
            " + (SELECT COUNT(*) FROM optin_prefs) + (SELECT COUNT(*) FROM ama_sessions)"
        )
        writes = [
            old.outbox.reconcile([planned("recap:x")], scope="recap:", now=T0),
            old.outbox.claim("recap:1", T0),
            old.outbox.mark_sent("recap:1", 5, T0),
            old.outbox.insert_skipped(planned("recap:y"), "backlog", T0),
            old.outbox.next_announcement_id(),
            old.state.set("k9", "v"),
            old.audit.record("cancel", None, 1, "", T0),
            old.events.upsert("event:9:ama", discord_id=9, spec_hash="", status=1, body={}, now=T0),
            old.events.calendar_sequences({"u": "h"}, T0),
            old.optin.add_interest(9, "event:9:ama", T0),
            old.ama.move_session(1, SessionMove.OPEN, T0),
            old.mark_initialised(T0),
        ]
        for write in writes:
            with pytest.raises(FencedOut, match="no longer old's at term 1"):
                await write
        after = await sql.fetchval(
            "SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM state)"
            " + (SELECT COUNT(*) FROM audit) + (SELECT COUNT(*) FROM guild_events)"
            " + (SELECT COUNT(*) FROM optin_prefs) + (SELECT COUNT(*) FROM ama_sessions)"
        )
        assert after == counts
        assert (await new.outbox.get("recap:1")).status.value == "sending"  # not marked sent
        new.fence("new", 2)
        assert await new.outbox.mark_sent("recap:1", 6, T0)  # the new leader's writes go


async def test_a_takeover_waits_for_a_fenced_write_in_flight(open_db, sql):
    async with await open_db() as old, await open_db() as new:
        assert await old.leases.take("old", T0, TTL)
        old.fence("old", 1)
        async with old.db.transaction() as tx:  # a fenced write, in flight
            await tx.execute("INSERT INTO state (key, value, updated_at) VALUES ('w', 'x', 0)")
            takeover = asyncio.create_task(new.leases.take("new", T0 + 31 * S, TTL))
            # the takeover is blocked on the lease row's lock, not finished
            await _until_waiting_on_a_lock(sql)
            assert not takeover.done()
        assert await takeover  # the write committed; then the lease changed hands
        assert await old.state.get("w") == "x"
        with pytest.raises(FencedOut):
            await old.state.set("w", "y")
        assert await old.state.get("w") == "x"


async def _until_waiting_on_a_lock(sql, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await sql.fetchval(
        "SELECT COUNT(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    ):
        assert loop.time() < deadline, "the takeover never waited for the lease row"
        await asyncio.sleep(0.01)


async def test_a_leader_paused_inside_a_fenced_write_does_not_block_the_takeover(open_db):
    """A leader stopped (SIGSTOP) between two statements of a fenced transaction holds the
    lease row FOR SHARE: the server ends its session once it has sat idle past the limit, so
    the standby takes over, and the paused write never commits."""
    async with await open_db() as old, await open_db() as new:
        assert await old.leases.take("old", T0, TTL)
        old.fence("old", 1)
        paused = asyncio.Event()

        async def a_write_paused_half_way() -> None:
            async with old.db.transaction() as tx:
                await tx.execute("INSERT INTO state (key, value, updated_at) VALUES ('w', 'x', 0)")
                paused.set()
                await asyncio.Event().wait()  # the process is stopped: nothing more is sent

        writer = asyncio.create_task(a_write_paused_half_way())
        await paused.wait()
        # Well past the lease's expiry; bounded well below "forever".
        assert await asyncio.wait_for(new.leases.take("new", T0 + 31 * S, TTL), timeout=15)
        writer.cancel()
        with pytest.raises((asyncio.CancelledError, Exception)):
            await writer
        assert await new.state.get("w") is None
