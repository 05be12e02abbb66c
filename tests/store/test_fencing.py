"""Fencing (issue 22), conformance: every backend. A store fenced with the lease's (holder,
term) writes while the lease is still that; once another holder has taken it (after expiry or
a release), every kind of write raises FencedOut and changes nothing. Renewals keep the term.
Through `open_store` and the interface only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.plan.ama import AmaKey, AmaLimits, AmaTimes, Phase, QuestionState
from bot.store import Store
from bot.store.interface import FencedOut

from .conftest import T0, planned

S = timedelta(seconds=1)
TTL = 30 * S
KEY = AmaKey("model-mondays", "s2-e05")
TIMES = AmaTimes(T0 - timedelta(days=4), T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=45))


async def snapshot(store: Store) -> dict[str, Any]:
    """Everything a write could change, read through the interface."""
    sessions = await store.ama.sessions()
    return {
        "outbox": sorted(repr(p) for p in await store.outbox.all()),
        "state": await store.state.with_prefix(""),
        "audit": [repr(e) for e in await store.audit.recent(1000)],
        "events": await store.events.all(),
        "prefs": sorted(repr(p) for p in await store.optin.prefs()),
        "interest": sorted(repr(i) for i in await store.optin.interested()),
        "sessions": [repr(s) for s in sessions],
        "questions": [repr(await store.ama.questions(s.id)) for s in sessions],
    }


async def ask(store: Store, session_id: int, member: int, at=T0) -> Any:
    return await store.ama.ask(
        session_id,
        author_id=member,
        author_name=f"m{member}",
        text=f"question from {member}?",
        anonymous=False,
        notify=True,
        phase=Phase.BEFORE,
        state=QuestionState.APPROVED,
        limits=AmaLimits(),
        now=at,
    )


def every_write(store: Store, session_id: int) -> dict[str, Callable[[], Awaitable[Any]]]:
    """One of each kind of write the bot makes, each aimed at something it would change."""
    at = T0 + 60 * S
    return {
        "claim": lambda: store.outbox.claim("recap:b", at),
        "note_attempt": lambda: store.outbox.note_attempt("recap:a", 111, [{"content": "x"}], at),
        "mark_sent": lambda: store.outbox.mark_sent("recap:a", 999, at),
        "retry_later": lambda: store.outbox.retry_later("recap:a", "boom", at + S, at),
        "reconcile": lambda: store.outbox.reconcile(
            [planned("recap:c", T0 + 90 * S)], scope="recap", now=at
        ),
        "add": lambda: store.outbox.add(planned("alert:x", at), at),
        "state.set": lambda: store.state.set("some.key", "changed"),
        "audit": lambda: store.audit.record("cancel", "recap:b", 7, "by hand", at),
        "ama ask": lambda: ask(store, session_id, 43, at),
        "optin": lambda: store.optin.set_pref(5, "reminders", "dm", timedelta(hours=1), at),
        "interest": lambda: store.optin.add_interest(5, "event:e1", at),
    }


@pytest.fixture
async def second(open_db) -> Any:
    """Another process's store on the same database."""
    other = await open_db()
    yield other
    await other.close()


async def test_a_fenced_store_writes_while_its_term_holds_and_nothing_once_another_took_over(
    store, second
):
    assert await store.leases.take("a", T0, TTL)
    first = await store.leases.get()
    assert (first.holder, first.term) == ("a", 1)
    session = await store.ama.upsert_session(
        KEY, title="S2:E5", timezone="UTC", guests=[], times=TIMES, now=T0
    )
    await store.outbox.reconcile(
        [planned("recap:a"), planned("recap:b", T0 + S)], scope="recap", now=T0
    )
    store.fence("a", first.term)

    # Holding the term: every write goes through (and `second`, unfenced, is not checked).
    assert (await store.outbox.claim("recap:a", T0)) is not None
    await store.state.set("some.key", "v1")
    assert await ask(store, session.id, 42) is not None
    assert not await second.leases.take("b", T0 + 10 * S, TTL)  # a's, unexpired
    assert await store.leases.renew("a", T0 + 20 * S, TTL)  # renewals keep the term
    assert (await store.leases.get()).term == first.term
    await store.state.set("some.key", "v2")

    # a's lease expires (a was paused); b takes it: term 2.
    assert await second.leases.take("b", T0 + 51 * S, TTL)
    assert (await second.leases.get()).term == first.term + 1
    before = await snapshot(second)
    for name, write in every_write(store, session.id).items():
        with pytest.raises(FencedOut):
            await write()
        assert await snapshot(second) == before, f"{name} changed something"
    assert not await store.leases.renew("a", T0 + 52 * S, TTL)  # a learns it lost the lease
    assert (await store.outbox.get("recap:a")).status == "sending"  # as a left it: b recovers it


async def test_a_resigned_leader_is_fenced_out_when_its_standby_takes_over(store, second):
    assert await store.leases.take("a", T0, TTL)
    store.fence("a", (await store.leases.get()).term)
    await store.state.set("k", "a")
    assert await store.leases.release("a")
    assert await store.leases.get() is None
    assert await second.leases.take("b", T0 + S, TTL)  # at once: no expiry to wait for
    info = await second.leases.get()
    assert (info.holder, info.term) == ("b", 2)  # the term survives the release
    second.fence("b", info.term)
    with pytest.raises(FencedOut):
        await store.state.set("k", "a again")
    await second.state.set("k", "b")
    assert await second.state.get("k") == "b"


async def test_the_same_holder_taking_an_expired_lease_again_starts_a_new_term(store):
    """The term, not the holder, is the token: a write fenced with an older term of the same
    holder (a process that lost its lease and got it back) is refused too."""
    assert await store.leases.take("a", T0, TTL)
    assert await store.leases.take("a", T0 + 10 * S, TTL)  # held, unexpired: same term
    assert (await store.leases.get()).term == 1
    store.fence("a", 1)
    assert await store.leases.take("a", T0 + 60 * S, TTL)  # expired meanwhile: a new term
    assert (await store.leases.get()).term == 2
    with pytest.raises(FencedOut):
        await store.state.set("k", "v")
    store.fence("a", 2)
    await store.state.set("k", "v")
    assert await store.state.get("k") == "v"


async def test_a_fenced_store_writes_nothing_when_nobody_holds_the_lease(store):
    assert await store.leases.take("a", T0, TTL)
    store.fence("a", 1)
    assert await store.leases.release("a")
    with pytest.raises(FencedOut):
        await store.outbox.add(planned("alert:x"), T0)
    assert await store.outbox.all() == []


async def test_an_unfenced_store_is_not_checked(store):
    """Tools, tests and a single process alone: no fence, no check, whoever holds the lease."""
    assert await store.leases.take("someone-else", T0, TTL)
    await store.state.set("k", "v")
    await store.outbox.add(planned("alert:x"), T0)
    assert await store.state.get("k") == "v"
