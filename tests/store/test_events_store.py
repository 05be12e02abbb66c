"""Migration 0002 and the scheduled-event mapping, on real SQLite files."""

from __future__ import annotations

import sqlite3

import pytest

from bot.store import Store
from bot.store.db import Database, bundled_migrations
from bot.store.scheduled_events import StoredEvent

from .conftest import T0, minutes, planned

KEY = "event:s2-e05:ama"


def user_version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


async def test_0002_applies_on_top_of_0001_and_keeps_the_outbox(db_path, clock):
    # A database an older amabot made (schema 1), with a post in it.
    db_path.parent.mkdir(parents=True)
    old = db_path
    first = bundled_migrations()[0]
    db = await Database.open(old, migrations=[first])
    await db.write(
        "INSERT INTO outbox (key, kind, status, due_at, channel_id, payload, content_hash,"
        " created_at, updated_at) VALUES ('recap:r1', 'recap', 'sent', 1, 5, '{}', 'h', 1, 1)"
    )
    await db.close()
    assert user_version(old) == 1
    async with await Store.open(old, clock=clock) as store:
        assert store.schema_version == bundled_migrations()[-1].version
        assert store.db.schema_before == 1
        post = await store.outbox.get("recap:r1")
        assert (post.kind, post.status, post.channel_id) == ("recap", "sent", 5)
        report = await store.outbox.reconcile(
            [planned("dm:1:s2-e05:ama:1h", channel_id=0)], scope="dm:", now=T0
        )
        assert report.inserted == ["dm:1:s2-e05:ama:1h"]
        indexes = {r["name"] for r in await store.db.fetchall("PRAGMA index_list(outbox)")}
        assert {"outbox_status_due", "outbox_edit_pending"} <= indexes
    assert user_version(old) == bundled_migrations()[-1].version


async def test_an_unknown_kind_is_still_refused(store):
    with pytest.raises(sqlite3.IntegrityError):
        await store.db.write(
            "INSERT INTO outbox (key, kind, status, due_at, channel_id, payload, content_hash,"
            " created_at, updated_at) VALUES ('x:1', 'spam', 'pending', 1, 5, '{}', 'h', 1, 1)"
        )


async def test_upsert_get_all_and_reopen(db_path, clock):
    body = {"name": "S2:E5 AMA", "scheduled_start_time": "2025-07-18T17:30:00+00:00"}
    async with await Store.open(db_path, clock=clock) as store:
        assert await store.events.get(KEY) is None
        await store.events.upsert(
            KEY, discord_id=1234567890123456789, spec_hash="abc", status=1, body=body, now=T0
        )
    async with await Store.open(db_path, clock=clock) as store:
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


async def test_a_discord_id_maps_to_one_key(store):
    await store.events.upsert(KEY, discord_id=77, spec_hash="h", status=1, body={}, now=T0)
    with pytest.raises(sqlite3.IntegrityError):
        await store.events.upsert(
            "event:other:ama", discord_id=77, spec_hash="h", status=1, body={}, now=T0
        )
