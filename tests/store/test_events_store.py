"""The scheduled-event mapping (conformance: every backend)."""

from __future__ import annotations

import pytest

from bot.store import StoredEvent

from .conftest import T0, minutes

KEY = "event:s2-e05:ama"


async def test_upsert_get_all_and_reopen(open_db, clock):
    body = {"name": "S2:E5 AMA", "scheduled_start_time": "2025-07-18T17:30:00+00:00"}
    async with await open_db() as store:
        assert await store.events.get(KEY) is None
        await store.events.upsert(
            KEY, discord_id=1234567890123456789, spec_hash="abc", status=1, body=body, now=T0
        )
    async with await open_db() as store:
        got = await store.events.get(KEY)
        assert got == StoredEvent(
            discord_id=1234567890123456789,
            spec_hash="abc",
            status=1,
            body=body,
            updated_at=T0,
            key=KEY,
        )
        assert await store.events.all() == {KEY: got}
        assert await store.events.key_for(1234567890123456789) == KEY
        assert await store.events.key_for(42) is None
        later = T0 + minutes(5)
        await store.events.upsert(
            KEY, discord_id=1234567890123456789, spec_hash="def", status=4, body={}, now=later
        )
        got = await store.events.get(KEY)
        assert (got.spec_hash, got.status, got.updated_at) == ("def", 4, later)
        assert await store.events.delete(KEY)
        assert not await store.events.delete(KEY)
        assert await store.events.all() == {}


async def test_errors_keep_the_mapping_and_report_permission(store):
    await store.events.upsert(KEY, discord_id=77, spec_hash="h", status=1, body={}, now=T0)
    await store.events.mark_error(KEY, "PATCH refused: Missing Permissions", T0, permission=True)
    await store.events.mark_error("event:s2-e06:ama", "create refused", T0 + minutes(1))
    got = await store.events.get(KEY)
    assert (got.discord_id, got.spec_hash, got.error_kind) == (77, "h", "permission")
    never = await store.events.get("event:s2-e06:ama")
    assert never.discord_id is None and never.last_error == "create refused"
    assert await store.events.permission_error() == "PATCH refused: Missing Permissions"
    assert await store.events.errors() == {
        KEY: "PATCH refused: Missing Permissions",
        "event:s2-e06:ama": "create refused",
    }
    # A success clears the key's error.
    await store.events.upsert(KEY, discord_id=77, spec_hash="h2", status=1, body={}, now=T0)
    assert await store.events.permission_error() is None
    await store.events.mark_error(KEY, "again", T0, permission=True)
    assert await store.events.clear_permission_errors() == 1
    assert await store.events.permission_error() is None


async def test_note_status_only_touches_our_events(store):
    await store.events.upsert(KEY, discord_id=77, spec_hash="h", status=1, body={}, now=T0)
    assert await store.events.note_status(77, 4, T0) == KEY
    assert (await store.events.get(KEY)).status == 4
    assert await store.events.note_status(999, 4, T0) is None


async def test_a_discord_id_maps_to_one_key(store, integrity_error):
    await store.events.upsert(KEY, discord_id=77, spec_hash="h", status=1, body={}, now=T0)
    with pytest.raises(integrity_error):
        await store.events.upsert(
            "event:other:ama", discord_id=77, spec_hash="h", status=1, body={}, now=T0
        )
