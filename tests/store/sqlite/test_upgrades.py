"""Databases an older amabot left: each migration applies on top of the previous schema and
keeps the rows (SQLite files written at an older schema, then opened by this amabot)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from bot.plan.optin import Mode
from bot.store import open_store
from bot.store.sqlite.db import Database, bundled_migrations, to_db

from ..conftest import T0, planned

LATEST = bundled_migrations()[-1].version


def user_version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


async def old_database(path, version: int) -> Database:
    """A database as the amabot of schema `version` made it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return await Database.open(path, migrations=bundled_migrations()[:version])


async def test_0002_applies_on_top_of_0001_and_keeps_the_outbox(db_path, clock):
    # A database an older amabot made (schema 1), with a post in it.
    old = db_path
    db = await old_database(old, 1)
    await db.write(
        "INSERT INTO outbox (key, kind, status, due_at, channel_id, payload, content_hash,"
        " created_at, updated_at) VALUES ('recap:r1', 'recap', 'sent', 1, 5, '{}', 'h', 1, 1)"
    )
    await db.close()
    assert user_version(old) == 1
    async with await open_store(old, clock=clock) as store:
        assert store.schema_version == LATEST
        assert store.db.schema_before == 1
        post = await store.outbox.get("recap:r1")
        assert (post.kind, post.status, post.channel_id) == ("recap", "sent", 5)
        report = await store.outbox.reconcile(
            [planned("dm:1:s2-e05:ama:1h", channel_id=0)], scope="dm:", now=T0
        )
        assert report.inserted == ["dm:1:s2-e05:ama:1h"]
        indexes = {r["name"] for r in await store.db.fetchall("PRAGMA index_list(outbox)")}
        assert {"outbox_status_due", "outbox_edit_pending"} <= indexes
    assert user_version(old) == LATEST


async def test_0004_renames_the_optin_series_column_to_stream_and_keeps_the_choices(db_path, clock):
    db = await old_database(db_path, 3)
    await db.write(
        "INSERT INTO optin_prefs (member_id, series, mode, lead_seconds, updated_at)"
        " VALUES (7, 'ama', 'dm', 600, ?), (7, 'recaps', 'role', 3600, ?),"
        " (8, 'livestream', 'off', 3600, ?)",
        (to_db(T0), to_db(T0), to_db(T0)),
    )
    await db.close()
    assert user_version(db_path) == 3
    async with await open_store(db_path, clock=clock) as store:
        assert store.db.schema_before == 3 and store.schema_version == LATEST
        columns = {r["name"] for r in await store.db.fetchall("PRAGMA table_info(optin_prefs)")}
        assert "stream" in columns
        # `series` came back in 0007 with its new meaning, the show: '' until bound.
        assert {p.series for p in await store.optin.prefs()} == {""}
        ama = await store.optin.pref(7, "ama")
        assert (ama.member_id, ama.mode, ama.lead, ama.since) == (
            7,
            Mode.DM,
            timedelta(minutes=10),
            T0,
        )
        assert [(p.member_id, p.mode) for p in await store.optin.prefs()] == [
            (7, Mode.DM),
            (7, Mode.ROLE),
            (8, Mode.OFF),
        ]
        # The CHECK still names the three streams, and (member, stream) is still the key.
        with pytest.raises(sqlite3.IntegrityError):
            await store.db.write(
                "INSERT INTO optin_prefs (member_id, stream, mode, lead_seconds, updated_at)"
                " VALUES (9, 'series', 'dm', 60, 0)"
            )
        with pytest.raises(sqlite3.IntegrityError):
            await store.db.write(
                "INSERT INTO optin_prefs (member_id, stream, mode, lead_seconds, updated_at)"
                " VALUES (7, 'ama', 'off', 60, 0)"
            )
        await store.optin.set_pref(7, "ama", Mode.OFF, timedelta(hours=1), T0)
        assert (await store.optin.pref(7, "ama")).mode is Mode.OFF
        assert len(await store.optin.prefs_of(7)) == 2
    assert user_version(db_path) == LATEST


async def test_0005_keeps_every_outbox_row_and_column_and_drops_only_the_kind_list(db_path):
    # Schema 4, with a post of every kind and every column set: 0005 rebuilds the table.
    db = await old_database(db_path, 4)
    for n, kind in enumerate(("recap", "reminder", "announce", "dm", "alert")):
        await db.write(
            "INSERT INTO outbox (key, kind, status, due_at, channel_id, payload, content_hash,"
            " created_at, updated_at, message_id, unsure, variants, publish_status, extra)"
            " VALUES (?, ?, 'sent', ?, 5, '{}', 'h', 1, 2, ?, 1, '[1]', 'done', '{\"a\": 1}')",
            (f"{kind}:{n}", kind, n, 1000 + n),
        )
    before = await db.fetchall("SELECT * FROM outbox ORDER BY key")
    await db.close()
    store = await open_store(db_path)
    try:
        after = await store.db.fetchall("SELECT * FROM outbox ORDER BY key")
        width = len(before[0])  # 0007 adds the series column after them, '' until bound
        assert [tuple(r)[:width] for r in after] == [tuple(r) for r in before]
        assert {r["series"] for r in after} == {""}
        assert [r[0] for r in await store.db.fetchall("PRAGMA index_list(outbox)")]
        # the kind list is the registry's now (bot/plan/kinds.py refuses undeclared kinds
        # before a post is made); the status list stays the table's
        await store.db.write(
            "INSERT INTO outbox (key, kind, status, due_at, channel_id, payload, content_hash,"
            " created_at, updated_at) VALUES ('ama:x:q1', 'ama', 'pending', 1, 5, '{}', 'h', 1, 1)"
        )
        with pytest.raises(sqlite3.IntegrityError):
            await store.db.write(
                "INSERT INTO outbox (key, kind, status, due_at, channel_id, payload,"
                " content_hash, created_at, updated_at)"
                " VALUES ('x:1', 'recap', 'lost', 1, 5, '{}', 'h', 1, 1)"
            )
    finally:
        await store.close()
