"""The lease: one bot process per database (conformance: every backend)."""

from __future__ import annotations

from datetime import timedelta

from .conftest import T0

S = timedelta(seconds=1)


async def test_the_lease_has_one_holder_until_it_expires(store, clock):
    leases = store.leases
    assert await leases.take("a", clock(), 30 * S)
    assert await leases.take("a", clock(), 30 * S)  # ours: kept
    assert not await leases.take("b", clock() + 10 * S, 30 * S)
    assert await leases.renew("a", clock() + 20 * S, 30 * S)
    assert not await leases.take("b", clock() + 45 * S, 30 * S)  # renewed until +50 s
    assert await leases.take("b", clock() + 51 * S, 30 * S)  # expired: taken over
    assert not await leases.renew("a", clock() + 52 * S, 30 * S)  # a has lost it
    assert await leases.take("c", clock() + 52 * S, 30 * S, replacing="b")  # b is known dead
    assert (await leases.get()).holder == "c"


async def test_a_released_lease_is_free_at_once_and_seen_by_a_second_process(store, open_db):
    assert await store.leases.get() is None
    assert await store.leases.take("a", T0, 30 * S)
    async with await open_db() as second:
        seen = await second.leases.get()
        assert (seen.name, seen.holder, seen.acquired_at, seen.renewed_at, seen.expires_at) == (
            "amabot",
            "a",
            T0,
            T0,
            T0 + 30 * S,
        )
        assert seen.term == 1  # the first holder's term (tests/store/test_fencing.py)
        assert not await second.leases.take("b", T0 + S, 30 * S)
        assert not await second.leases.release("b")  # not its lease
        assert await store.leases.release("a")
        assert await second.leases.take("b", T0 + S, 30 * S)
    info = await store.leases.get()
    assert (info.holder, info.acquired_at, info.expires_at) == ("b", T0 + S, T0 + 31 * S)
    assert await store.leases.take("b", T0 + 2 * S, 30 * S)  # renewing by taking again
    assert (await store.leases.get()).acquired_at == T0 + S  # keeps when it was first taken
    assert await store.leases.take("x", T0, 30 * S, name="other")  # names are independent
