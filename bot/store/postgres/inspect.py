"""A read-only look at the PostgreSQL database for `amabot doctor`: can it be reached, which
schema it has, who holds the lease. Runs in a thread (as SQLite's does), on a connection of
its own that only reads: the doctor never migrates or writes."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.store.common.db import from_db
from bot.store.postgres.db import CONNECT_TIMEOUT, bundled_migrations, redacted
from bot.store.sqlite.inspect import DatabaseReport


def inspect_database(url: str, password: str | None = None) -> DatabaseReport:
    return asyncio.run(_inspect(url, password))


async def _inspect(url: str, password: str | None) -> DatabaseReport:
    latest = len(bundled_migrations())
    try:
        conn = await asyncpg.connect(url, password=password, timeout=CONNECT_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        return DatabaseReport(f"cannot connect to {redacted(url)}: {exc}", None, latest, None)
    try:
        if await conn.fetchval("SELECT to_regclass('amabot_schema')") is None:
            return DatabaseReport(None, None, latest, None)
        schema = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM amabot_schema"))
        row = await conn.fetchrow("SELECT * FROM lease WHERE holder <> '' LIMIT 1")
        lease = (
            "free"
            if row is None
            else f"holder={row['holder']}, term={row['term']}, "
            f"expires_at={from_db(row['expires_at']).isoformat()}"
        )
        return DatabaseReport(None, schema, latest, lease)
    except asyncpg.PostgresError as exc:
        return DatabaseReport(f"not an amabot database: {exc}", None, latest, None)
    finally:
        await conn.close()
