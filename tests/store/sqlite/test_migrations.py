"""Opening an SQLite file: pragmas, migrations in one transaction, refusing a newer schema."""

from __future__ import annotations

import sqlite3

import pytest

from bot.store import StoreError
from bot.store.sqlite import SqliteStore as Store
from bot.store.sqlite.db import Database, Migration, bundled_migrations, split_statements

LATEST = bundled_migrations()[-1].version


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def user_version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


async def test_migrates_an_empty_database_and_creates_its_folder(db_path, clock):
    assert not db_path.parent.exists()
    async with await Store.open(db_path, clock=clock) as store:
        assert store.created
        assert store.first_start
        assert store.schema_version == LATEST
    assert {"outbox", "state", "audit", "sequences"} <= tables(db_path)
    assert user_version(db_path) == LATEST


async def test_reopening_is_a_no_op(db_path, clock):
    async with await Store.open(db_path, clock=clock) as store:
        await store.state.set("last_commit", "abc123")
    before = tables(db_path)
    async with await Store.open(db_path, clock=clock) as store:
        assert not store.created
        assert store.db.schema_before == LATEST
        assert await store.state.get("last_commit") == "abc123"
    assert tables(db_path) == before
    assert user_version(db_path) == LATEST


async def test_a_newer_database_is_refused_with_a_clear_message(db_path, clock):
    async with await Store.open(db_path, clock=clock):
        pass
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    with pytest.raises(StoreError) as info:
        await Store.open(db_path, clock=clock)
    assert str(info.value) == (
        f"{db_path}: schema version {LATEST + 5} is newer than this amabot supports "
        f"({LATEST}); upgrade amabot or point storage.database elsewhere"
    )
    assert user_version(db_path) == LATEST + 5  # untouched


async def test_wal_foreign_keys_and_busy_timeout_are_on(store):
    assert await store.db.pragma("journal_mode") == "wal"
    assert await store.db.pragma("foreign_keys") == 1
    assert await store.db.pragma("busy_timeout") == 5000


async def test_migrations_apply_in_one_transaction(tmp_path):
    path = tmp_path / "half.sqlite3"
    good = Migration(1, "good", "CREATE TABLE one (x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE two (x INTEGER); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(StoreError, match="migration 0002_bad failed"):
        await Database.open(path, migrations=[good, bad])
    assert tables(path) == set()
    assert user_version(path) == 0
    db = await Database.open(path, migrations=[good])
    await db.close()
    assert tables(path) == {"one"}
    assert user_version(path) == 1


async def test_a_file_that_is_not_a_database_is_refused(tmp_path, clock):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"these are my notes, not a database" * 100)
    with pytest.raises(StoreError, match=r"notes\.sqlite3: cannot use this file"):
        await Store.open(path, clock=clock)


def test_bundled_migrations_are_numbered_from_one():
    migrations = bundled_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"
    assert any("CREATE TABLE outbox" in s for s in migrations[0].statements)


def test_split_statements_keeps_triggers_and_strings_whole():
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 'c;d';
        DELETE FROM t WHERE x = '';
    END;
    /* trailing; comment */
    """
    statements = split_statements(sql)
    assert len(statements) == 2
    assert statements[0].endswith("DEFAULT 'a;b');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(StoreError, match="incomplete"):
        split_statements("CREATE TABLE x (a INTEGER)")
