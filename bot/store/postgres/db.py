"""A pool of asyncpg connections: numbered migrations, transactions, the fence.

All SQL of the project lives under bot/store/, PostgreSQL's dialect in this package.

Statements are written with ``?`` marks, as in the SQLite backend, and numbered here
(``$1``, ``$2`` ...) for asyncpg: the two backends' queries then read alike, and a query that
differs between them differs only where the dialects do.

One clock: every time in the database is the bot's (passed in as ``now``, or the store's
clock), stored as BIGINT microseconds since the epoch like SQLite's; the database never
stamps a time itself (no ``now()``, no ``DEFAULT CURRENT_TIMESTAMP``). Both backends then
behave alike under the tests' fake clock, and the lease's expiry is judged by the clock of
the process asking, like every other time. Hosts are expected to be NTP-synced; a skew only
moves when a standby may take over, never whether two processes can both write, because the
lease's safety comes from its term (`Store.fence`), not from clocks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.store.common.db import Dialect
from bot.store.common.migrations import load_migrations
from bot.store.interface import LEASE_NAME, FencedOut, StoreError

log = logging.getLogger(__name__)

Params = Sequence[Any]
Row = Any  # an asyncpg.Record: by name (row["key"]) or position (row[0])

POOL_MIN = 1
POOL_MAX = 5  # one bot process: delivery, planning, the web routes and interactions at once
CONNECT_TIMEOUT = 10.0
# How long a fenced transaction may sit idle between its statements before the server ends
# it (see `Database._check_fence`): ours take milliseconds; a paused leader's must not block
# a takeover for longer than this beyond the lease's expiry.
FENCED_IDLE_LIMIT = "2s"
# pg_advisory_lock's key while migrating: two processes starting together migrate one
# after the other (the second then finds nothing to do). "amabot" as a 64-bit number.
MIGRATION_LOCK = 0x616D61626F74


# --- '?' marks -> $n -------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``?`` marks outside quoted text and comments -> ``$1``, ``$2`` ... in order."""
    out: list[str] = []
    n = 0
    i = 0
    while i < len(sql):
        c = sql[i]
        if c in "'\"":
            end = sql.find(c, i + 1)
            end = len(sql) if end < 0 else end + 1
            out.append(sql[i:end])
            i = end
            continue
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        if c == "?":
            n += 1
            out.append(f"${n}")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def rowcount(status: str) -> int:
    """asyncpg's command tag ("UPDATE 3", "INSERT 0 1") -> rows changed."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def redacted(url: str) -> str:
    """The URL without any password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


# --- migrations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def bundled_migrations() -> tuple[Migration, ...]:
    """The migrations shipped as package data in bot/store/postgres/migrations/NNNN_name.sql."""
    return load_migrations("bot.store.postgres", Migration)


_SCHEMA_TABLE = """CREATE TABLE IF NOT EXISTS amabot_schema (
    version INTEGER PRIMARY KEY,
    name    TEXT NOT NULL
)"""


async def _migrate(conn: asyncpg.Connection, where: str) -> tuple[int, int]:
    """Apply the missing migrations in one transaction, under a session advisory lock so that
    two processes starting together do not both run them; (version before, version after)."""
    migrations = bundled_migrations()
    latest = migrations[-1].version if migrations else 0
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        async with conn.transaction():
            await conn.execute(_SCHEMA_TABLE)
            current = int(
                await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM amabot_schema")
            )
            if current > latest:
                raise StoreError(
                    f"{where}: schema version {current} is newer than this amabot supports "
                    f"({latest}); upgrade amabot or point storage.database elsewhere"
                )
            for migration in migrations:
                if migration.version <= current:
                    continue
                try:
                    await conn.execute(migration.sql)
                except asyncpg.PostgresError as exc:
                    raise StoreError(
                        f"{where}: migration {migration.version:04d}_{migration.name} failed: {exc}"
                    ) from exc
                await conn.execute(
                    "INSERT INTO amabot_schema (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    if latest != current:
        log.info("%s: database schema migrated from version %d to %d", where, current, latest)
    return current, latest


# --- the dialect ---------------------------------------------------------------------------

DIALECT = Dialect(
    name="postgres",
    text="::text",
    check_violation=asyncpg.CheckViolationError,
    unique_violation=asyncpg.UniqueViolationError,
    no_limit=None,  # LIMIT NULL
    greatest="GREATEST",
    if_new_key=" ON CONFLICT (key) DO NOTHING",
    advisory_lock="SELECT pg_advisory_xact_lock(?)",
    array_params=True,
    lock_calendar_sequences="LOCK TABLE calendar_sequences IN SHARE ROW EXCLUSIVE MODE",
    bigint="::bigint",
    for_update=" FOR UPDATE",
    for_no_key_update=" FOR NO KEY UPDATE",
    for_update_in_id_order=" ORDER BY id FOR UPDATE",
    insert_or_ignore="INSERT INTO",
    on_conflict_do_nothing=" ON CONFLICT DO NOTHING",
    member_ids="string_agg(member_id::text, ',')",
)


# --- the pool --------------------------------------------------------------------------------


class _Reads:
    """Reads, the same on the pool and inside a transaction."""

    _on: asyncpg.Pool | asyncpg.Connection

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self._on.fetch(numbered(sql), *params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._on.fetchrow(numbered(sql), *params)
        return row

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        return await self._on.fetchval(numbered(sql), *params)

    async def text(self, sql: str, params: Params = ()) -> str | None:
        """The first column of the first row as text (None: no row, or NULL)."""
        value = await self.scalar(sql, params)
        return None if value is None else str(value)


class Transaction(_Reads):
    """Statements inside one transaction on one connection (see `Database.transaction`)."""

    def __init__(self, conn: asyncpg.Connection):
        self._on = conn
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        return rowcount(await self.conn.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        rows = list(rows)
        if rows:
            await self.conn.executemany(numbered(sql), rows)


class Database(_Reads):
    """The pool every store module shares, and the fence every write goes through."""

    def __init__(self, pool: asyncpg.Pool, where: str, *, schema_before: int, schema: int):
        self._on = pool
        self.pool = pool
        self.where = where  # the URL without its password
        self.schema_before = schema_before  # 0 = the database was empty
        self.schema = schema
        self._fence: tuple[str, int] | None = None
        self._on_refused: Callable[[FencedOut], None] | None = None

    @classmethod
    async def open(cls, url: str, *, password: str | None = None) -> Database:
        where = redacted(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                password=password,
                min_size=POOL_MIN,
                max_size=POOL_MAX,
                timeout=CONNECT_TIMEOUT,
                # Statements are prepared per connection (asyncpg's cache): connect directly
                # or through PgBouncer in session mode, not transaction mode (README).
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise StoreError(f"{where}: cannot connect to the database: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                before, after = await _migrate(conn, where)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, where, schema_before=before, schema=after)

    async def close(self) -> None:
        await self.pool.close()

    # --- the fence -------------------------------------------------------------------------

    def fence(
        self, holder: str, term: int, on_refused: Callable[[FencedOut], None] | None = None
    ) -> None:
        self._fence = (holder, int(term))
        self._on_refused = on_refused

    async def _check_fence(self, conn: asyncpg.Connection) -> None:
        """Inside the write's transaction: the lease must still be ours at our term.

        ``FOR SHARE`` keeps the lease row locked until this transaction ends. A takeover is
        an UPDATE of that row, which needs a lock FOR SHARE conflicts with, so it waits until
        every fenced write in flight has committed or rolled back; and a fenced write that
        starts after the takeover committed reads the new holder and term (under READ
        COMMITTED, a locking read waits for a concurrent updater and then sees its row) and
        is refused. Either the write commits before the new term exists, or it does not
        commit at all: nothing written under an old term lands after a new one.

        Only the holder and term are checked, not the expiry: a lease that ran out but was
        not taken over is still this process's tenure (the lease keeper renews or steps down
        on its own clock)."""
        if self._fence is None:
            return
        holder, term = self._fence
        # The same statement caps how long this transaction may sit idle: a leader paused
        # (SIGSTOP, a VM frozen) between two statements of it would otherwise hold the lease
        # row FOR SHARE for as long as it is paused, and the takeover would wait forever. The
        # server ends such a session after `FENCED_IDLE_LIMIT`; its write never commits.
        row = await conn.fetchrow(
            "SELECT holder, term, set_config('idle_in_transaction_session_timeout', $2, true)"
            " FROM lease WHERE name = $1 FOR SHARE",
            LEASE_NAME,
            FENCED_IDLE_LIMIT,
        )
        if row is None or row["holder"] != holder or row["term"] != term:
            held_by = (
                "nobody"
                if row is None or not row["holder"]
                else f"{row['holder']} (term {row['term']})"
            )
            refused = FencedOut(
                f"{self.where}: the lease is no longer {holder}'s at term {term}: "
                f"held by {held_by}; nothing was written"
            )
            if self._on_refused is not None:
                self._on_refused(refused)
            raise refused

    # --- writes ----------------------------------------------------------------------------

    async def write(self, sql: str, params: Params = ()) -> list[Row]:
        """One writing statement, atomic on its own; returns its RETURNING rows, if any."""
        if self._fence is None:
            return await self.fetchall(sql, params)
        async with self.transaction() as tx:
            return await tx.fetchall(sql, params)

    async def write_unfenced(self, sql: str, params: Params = ()) -> list[Row]:
        """`write` without the fence: only for the lease's own statements (they are what the
        fence reads; their row locks make a takeover wait for fenced writes in flight)."""
        return await self.fetchall(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One READ COMMITTED transaction on one pooled connection; fenced when the store
        is. Read-then-write transactions lock the rows they decide on (``FOR UPDATE``), as
        SQLite's single writer gets for free."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self._check_fence(conn)
            yield Transaction(conn)
