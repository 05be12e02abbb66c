"""Members' choices per stream, Interested marks, closed DMs (conformance: every backend)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.plan.optin import Interest, Mode

from .conftest import T0, minutes

H = timedelta(hours=1)


def choices(prefs) -> list[tuple]:
    return [(p.member_id, p.mode, p.lead) for p in prefs]


async def test_choices_per_stream_survive_a_restart(open_db):
    async with await open_db() as store:
        ama = await store.optin.set_pref(1, "ama", Mode.DM, H, T0)
        assert (ama.member_id, ama.mode, ama.lead, ama.since) == (1, Mode.DM, H, T0)
        await store.optin.set_pref(1, "ama", "dm", minutes(10), T0 + minutes(1))  # changed
        await store.optin.set_pref(1, "recaps", Mode.ROLE, H, T0)
        await store.optin.set_pref(2, "livestream", Mode.OFF, H, T0)
    async with await open_db() as store:
        assert choices(await store.optin.prefs()) == [
            (1, Mode.DM, minutes(10)),
            (1, Mode.ROLE, H),
            (2, Mode.OFF, H),
        ]
        assert choices(await store.optin.prefs_of(1)) == [
            (1, Mode.DM, minutes(10)),
            (1, Mode.ROLE, H),
        ]
        ama = await store.optin.pref(1, "ama")
        assert ama.since == T0 + minutes(1)
        assert await store.optin.pref(2, "ama") is None


async def test_an_unknown_stream_is_refused_and_nothing_is_written(store):
    with pytest.raises(ValueError, match="podcasts"):
        await store.optin.set_pref(1, "podcasts", Mode.DM, H, T0)
    with pytest.raises(ValueError):
        await store.optin.set_pref(1, "ama", "sometimes", H, T0)
    assert await store.optin.prefs() == []
    # the failed write left no transaction open: the next one goes through
    await store.optin.set_pref(1, "ama", Mode.DM, H, T0)
    assert len(await store.optin.prefs()) == 1


async def test_interest_marks_and_stop_these(store):
    assert await store.optin.add_interest(3, "event:s2-e05:ama", T0)
    assert not await store.optin.add_interest(3, "event:s2-e05:ama", T0)  # once
    await store.optin.add_interest(3, "event:s2-e05:livestream", T0)
    await store.optin.add_interest(4, "event:s2-e05:ama", T0)
    await store.optin.opt_out(3, "ama", T0)
    assert (await store.optin.pref(3, "ama")).mode is Mode.OFF
    assert await store.optin.interested() == [
        Interest(4, "event:s2-e05:ama"),
        Interest(3, "event:s2-e05:livestream"),
    ]
    assert await store.optin.remove_interest(3, "event:s2-e05:livestream")
    assert not await store.optin.remove_interest(3, "event:s2-e05:livestream")


async def test_closed_dms_reopen_when_the_member_chooses_dms_again(store):
    await store.optin.mark_dm_closed(1, "50007 Cannot send messages to this user", T0)
    await store.optin.mark_dm_closed(1, "again", T0 + minutes(1))
    assert await store.optin.dm_closed() == frozenset({1})
    assert await store.optin.is_dm_closed(1) and not await store.optin.is_dm_closed(2)
    await store.optin.set_pref(1, "ama", Mode.ROLE, H, T0)
    assert await store.optin.is_dm_closed(1)  # a role does not reopen DMs
    await store.optin.set_pref(1, "ama", Mode.DM, H, T0)
    assert not await store.optin.is_dm_closed(1)
