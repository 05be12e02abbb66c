"""Opening a PostgreSQL database: migrations in one transaction under an advisory lock,
refusing a newer schema, a password never shown."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.store import StoreError, inspect_database, open_store
from bot.store.postgres.db import bundled_migrations, numbered, redacted

from ..conftest import T0

LATEST = bundled_migrations()[-1].version


async def tables(sql) -> set[str]:
    rows = await sql.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {r[0] for r in rows}


async def test_migrates_an_empty_database(postgres_url, sql, clock):
    async with await open_store(postgres_url, clock=clock) as store:
        assert store.created and store.first_start
        assert store.schema_version == LATEST
        assert "password" not in store.description
    assert {"outbox", "state", "audit", "sequences", "lease", "ama_questions"} <= await tables(sql)
    assert await sql.fetchval("SELECT MAX(version) FROM amabot_schema") == LATEST


async def test_reopening_is_a_no_op(open_db, sql):
    async with await open_db() as store:
        await store.state.set("last_commit", "abc123")
    async with await open_db() as store:
        assert not store.created
        assert await store.state.get("last_commit") == "abc123"
    assert await sql.fetchval("SELECT COUNT(*) FROM amabot_schema") == LATEST


async def test_two_processes_starting_together_migrate_once(open_db, sql):
    stores = await asyncio.gather(*(open_db() for _ in range(4)))
    try:
        assert sorted(s.created for s in stores) == [False, False, False, True]
    finally:
        for store in stores:
            await store.close()
    assert await sql.fetchval("SELECT COUNT(*) FROM amabot_schema") == LATEST


async def test_a_newer_database_is_refused_with_a_clear_message(open_db, sql, postgres_url):
    async with await open_db():
        pass
    await sql.execute("INSERT INTO amabot_schema (version, name) VALUES ($1, 'future')", 99)
    with pytest.raises(StoreError, match="schema version 99 is newer than this amabot supports"):
        await open_db()


async def test_an_unreachable_server_is_a_store_error_without_the_password(clock, tmp_path):
    url = f"postgresql://bot:s3cret@/amabot?host={tmp_path}"
    with pytest.raises(StoreError) as info:
        await open_store(url, clock=clock)
    assert "s3cret" not in str(info.value)
    assert (
        redacted("postgresql://bot:s3cret@db.example:5433/x")
        == "postgresql://bot@db.example:5433/x"
    )


def test_marks_are_numbered_outside_quotes_and_comments():
    assert numbered("SELECT '?', \"a?\" FROM t -- why?\n WHERE a = ? AND b IN (?, ?)") == (
        "SELECT '?', \"a?\" FROM t -- why?\n WHERE a = $1 AND b IN ($2, $3)"
    )


def test_bundled_migrations_are_numbered_from_one():
    assert [m.version for m in bundled_migrations()] == list(range(1, LATEST + 1))


async def test_the_doctors_look_reads_the_schema_and_the_lease_without_writing(
    postgres_url, open_db, sql, tmp_path
):
    fresh = await asyncio.to_thread(inspect_database, postgres_url)
    assert (fresh.error, fresh.schema, fresh.latest, fresh.lease) == (None, None, LATEST, None)
    assert await tables(sql) == set()  # it created nothing
    async with await open_db() as store:
        assert await store.leases.take("host-a", T0, timedelta(seconds=30))
    seen = await asyncio.to_thread(inspect_database, postgres_url)
    assert (seen.error, seen.schema) == (None, LATEST)
    assert seen.lease.startswith("holder=host-a, term=1")
    gone = await asyncio.to_thread(inspect_database, f"postgresql://x@/none?host={tmp_path}")
    assert gone.error.startswith("cannot connect to")
