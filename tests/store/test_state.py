"""Bot state, the audit trail and the first-start flag."""

from __future__ import annotations

from .conftest import T0, minutes


async def test_state_strings_and_json(store, clock):
    assert await store.state.get("last_commit") is None
    await store.state.set("last_commit", "abc")
    clock.advance(minutes(1))
    await store.state.set("last_commit", "def")
    assert await store.state.get("last_commit") == "def"
    assert await store.state.updated_at("last_commit") == T0 + minutes(1)
    assert await store.state.get_json("sync", default={}) == {}
    await store.state.set_json("sync", {"hash": "h1", "commands": ["episode", "recap"]})
    assert await store.state.get_json("sync") == {"hash": "h1", "commands": ["episode", "recap"]}
    assert await store.state.delete("sync")
    assert not await store.state.delete("sync")


async def test_audit_records_who_did_what(store):
    await store.audit.record("cancel", "announce:1", 42, "changed plans", T0)
    await store.audit.record("skip", "reminder:e:ama:1h", 43, "holiday", T0 + minutes(1))
    entries = await store.audit.recent(10)
    assert [(e.action, e.key, e.actor_id) for e in entries] == [
        ("skip", "reminder:e:ama:1h", 43),
        ("cancel", "announce:1", 42),
    ]
    assert entries[0].at == T0 + minutes(1)
    assert [e.detail for e in await store.audit.for_key("announce:1")] == ["changed plans"]


async def test_first_start_lasts_until_marked_even_across_a_crash(open_db, clock):
    async with await open_db() as store:
        assert store.first_start
    async with await open_db() as store:
        assert not store.created
        assert store.first_start  # the first start never finished its backlog work
        await store.mark_initialised()
        assert not store.first_start
    async with await open_db() as store:
        assert not store.first_start
