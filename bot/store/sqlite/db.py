"""One aiosqlite connection: pragmas, numbered migrations, transactions, time columns.

All SQL of the project lives under bot/store/, SQLite's dialect in this package. Writes go
through one asyncio lock: the connection is shared by every coroutine of the bot, and a
statement issued by one coroutine while another holds a transaction open would silently join
(and roll back with) it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import aiosqlite

from bot.store.common.db import Dialect
from bot.store.common.db import from_db as from_db
from bot.store.common.db import from_db_opt as from_db_opt
from bot.store.common.db import to_db as to_db
from bot.store.common.db import to_db_opt as to_db_opt
from bot.store.common.migrations import load_migrations
from bot.store.interface import LEASE_NAME, FencedOut, StoreError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)

Params = Sequence[Any]


# --- the dialect ---------------------------------------------------------------------------

# SQLite needs no casts and no row locks: its one writer serialises every read-then-write.
DIALECT = Dialect(
    name="sqlite",
    text="",
    check_violation=sqlite3.IntegrityError,
    unique_violation=sqlite3.IntegrityError,
    no_limit=-1,
    greatest="MAX",
    if_new_key="",
    advisory_lock="",
    array_params=False,
    lock_calendar_sequences="",
    bigint="",
    for_update="",
    for_no_key_update="",
    for_update_in_id_order="",
    insert_or_ignore="INSERT OR IGNORE INTO",
    on_conflict_do_nothing="",
    member_ids="group_concat(member_id)",
)


# --- migrations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def statements(self) -> list[str]:
        return split_statements(self.sql)


@cache
def bundled_migrations() -> tuple[Migration, ...]:
    """The migrations shipped as package data in bot/store/sqlite/migrations/NNNN_name.sql."""
    return load_migrations("bot.store.sqlite", Migration)


def split_statements(sql: str) -> list[str]:
    """Split a migration script into single statements (sqlite3's executescript would commit
    the surrounding transaction, and the migrations must apply in one)."""
    statements: list[str] = []
    buffer = ""
    pieces = sql.split(";")
    for i, piece in enumerate(pieces):
        buffer += piece if i == len(pieces) - 1 else piece + ";"
        if sqlite3.complete_statement(buffer):
            if _COMMENT.sub("", buffer).strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if _COMMENT.sub("", buffer).strip(" \t\r\n;"):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buffer.strip()!r}")
    return statements


# --- the connection --------------------------------------------------------------------------


class _Reads:
    """Reads on the one connection, the same inside a transaction and outside one."""

    _conn: aiosqlite.Connection

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class Transaction(_Reads):
    """Statements inside one BEGIN IMMEDIATE ... COMMIT (see `Database.transaction`)."""

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        rows = list(rows)
        if rows:
            await self._conn.executemany(sql, rows)


class Database(_Reads):
    def __init__(self, conn: aiosqlite.Connection, path: Path, *, schema_before: int, schema: int):
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        self.schema_before = schema_before  # user_version found when opening; 0 = new database
        self.schema = schema
        # (holder, term) once fenced (`SqliteStore.fence`): every write checks the lease first.
        self.fenced_by: tuple[str, int] | None = None
        self._on_refused: Callable[[FencedOut], None] | None = None

    @classmethod
    async def open(cls, path: Path, *, migrations: Sequence[Migration] | None = None) -> Database:
        migrations = bundled_migrations() if migrations is None else tuple(migrations)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from exc
        conn.row_factory = sqlite3.Row
        try:
            await _configure(conn, path)
            before, after = await _migrate(conn, path, migrations)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, path, schema_before=before, schema=after)

    def fence(
        self, holder: str, term: int, on_refused: Callable[[FencedOut], None] | None = None
    ) -> None:
        """Every later write checks the lease first (`transaction`); a refusal is told to
        `on_refused` before it is raised."""
        self.fenced_by = (holder, int(term))
        self._on_refused = on_refused

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def text(self, sql: str, params: Params = ()) -> str | None:
        """The first column of the first row as text (None: no row, or NULL)."""
        value = await self.scalar(sql, params)
        return None if value is None else str(value)

    async def write(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """One writing statement, atomic on its own; returns its RETURNING rows, if any."""
        if self.fenced_by is not None:
            async with self.transaction() as tx:
                return await tx.fetchall(sql, params)
        return await self.write_unfenced(sql, params)

    async def write_unfenced(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """`write` without the fence: only for the lease's own statements (taking it is how
        a term starts)."""
        async with self._lock:
            return list(await self._conn.execute_fetchall(sql, params))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN IMMEDIATE: take the write lock at the start, so a transaction that reads
        then writes never fails half-way on another connection's lock. Once fenced, the
        lease is checked first, under that same lock: no other process can take the lease
        between the check and the commit."""
        async with self._lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                if self.fenced_by is not None:
                    await self._check_fence(self.fenced_by)
                yield Transaction(self._conn)
            except BaseException:
                # Also when cancelled while BEGIN was still on its way: the connection's
                # thread runs the ROLLBACK after it, so no transaction is left open (every
                # later write would join it, and be lost with it when the store closes).
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _check_fence(self, fence: tuple[str, int]) -> None:
        rows = list(
            await self._conn.execute_fetchall(
                "SELECT holder, term FROM lease WHERE name = ?", (LEASE_NAME,)
            )
        )
        now_held = (str(rows[0][0]), int(rows[0][1])) if rows else None
        if now_held != fence:
            by = f"{now_held[0] or 'nobody'} (term {now_held[1]})" if now_held else "nobody"
            refused = FencedOut(
                f"the lease is no longer {fence[0]}'s at term {fence[1]}: it is held by {by}; "
                "nothing was written"
            )
            if self._on_refused is not None:
                self._on_refused(refused)
            raise refused

    async def pragma(self, name: str) -> Any:
        if not name.isidentifier():
            raise ValueError(name)
        return await self.scalar(f"PRAGMA {name}")


async def _configure(conn: aiosqlite.Connection, path: Path) -> None:
    try:
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        row = await (await conn.execute("PRAGMA journal_mode = WAL")).fetchone()
        mode = str(row[0]).lower() if row else "?"
        if mode != "wal" and str(path) != ":memory:":
            log.warning("%s: SQLite refused WAL mode (journal mode is %s)", path, mode)
        await conn.execute("PRAGMA foreign_keys = ON")
        # FULL: every commit (a claim, the note of what is about to be sent, the record of
        # what was) is on disk before delivery acts on it, also across an OS crash or power
        # loss, which NORMAL with WAL does not promise. Measured (bench/sqlite_sync.py):
        # about 0.2 ms per claim+record against 0.02 ms, nothing next to a Discord request.
        await conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot use this file as the amabot database: {exc}") from exc


async def _migrate(
    conn: aiosqlite.Connection, path: Path, migrations: Sequence[Migration]
) -> tuple[int, int]:
    """Apply the missing migrations in one transaction; (version before, version after)."""
    latest = migrations[-1].version if migrations else 0
    await conn.execute("BEGIN IMMEDIATE")
    try:
        row = await (await conn.execute("PRAGMA user_version")).fetchone()
        current = int(row[0]) if row else 0
        if current > latest:
            raise StoreError(
                f"{path}: schema version {current} is newer than this amabot supports "
                f"({latest}); upgrade amabot or point storage.database elsewhere"
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            try:
                for statement in migration.statements:
                    await conn.execute(statement)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{path}: migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
        if latest != current:
            await conn.execute(f"PRAGMA user_version = {latest:d}")
        await conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"{path}: cannot prepare the database: {exc}") from exc
        raise
    if latest != current:
        log.info("%s: database schema migrated from version %d to %d", path, current, latest)
    return current, latest
