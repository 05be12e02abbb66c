"""A SQLite database copied into an empty PostgreSQL one (`amabot migrate --to`).

Every table the bot keeps is copied row for row (times, ids and flags have the same
representation in both backends), in one PostgreSQL transaction: the copy lands whole or
not at all. The SQLite side is read inside its own write transaction, so no bot can change
it half-way (and one that holds its lease is refused before anything is read). Each table's
row count is checked on both sides before the commit; the identity sequences (audit, AMA
ids) are moved past the copied ids so new rows never collide with them. The lease is not
copied: the first bot started on PostgreSQL takes it afresh.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.store.interface import StoreError
from bot.store.postgres.db import Transaction
from bot.store.postgres.store import PostgresStore
from bot.store.sqlite.db import Transaction as SqliteTransaction
from bot.store.sqlite.store import SqliteStore

# Parents before children (the AMA's foreign keys); a question's canonical_id pointing at a
# later question is fine: PostgreSQL checks foreign keys at the end of each COPY statement.
TABLES = (
    "outbox",
    "state",
    "audit",
    "sequences",
    "guild_events",
    "calendar_sequences",
    "optin_prefs",
    "optin_interested",
    "optin_dm_closed",
    "ama_sessions",
    "ama_questions",
    "ama_askers",
    "ama_votes",
    "ama_log",
)
IDENTITIES = ("audit", "ama_sessions", "ama_questions", "ama_log")


class TargetNotEmpty(StoreError):
    """The PostgreSQL database already holds amabot data: nothing was copied."""


@dataclass(slots=True)
class CopyReport:
    """Rows per table, as counted on each side after the copy (equal, or it was undone)."""

    source: str
    target: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def copy_into(target: PostgresStore, source: Path, now: datetime) -> CopyReport:
    """Copy the SQLite file `source` into `target` (opened, so migrated, and empty). The
    source is opened as the bot would open it, so an older file is first brought up to date
    by SQLite's own migrations."""
    if not await asyncio.to_thread(Path(source).is_file):  # else opening would create it
        raise StoreError(f"{source}: no SQLite database there")
    await _check_empty(target)
    async with await SqliteStore.open(Path(source)) as sqlite:
        lease = await sqlite.leases.get()
        if lease is not None and lease.expires_at > now:
            raise StoreError(
                f"{source}: a bot ({lease.holder}) holds its lease until "
                f"{lease.expires_at.isoformat()}; stop it before migrating"
            )
        report = CopyReport(str(source), target.description)
        async with sqlite.db.transaction() as read, target.db.transaction() as write:
            for table in TABLES:
                rows = await read.fetchall(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
                columns = await _columns(read, table)
                missing = set(columns) - await _pg_columns(write, table)
                if missing:
                    raise StoreError(
                        f"{target.description}: table {table} has no column "
                        f"{', '.join(sorted(missing))}: this amabot's PostgreSQL schema is "
                        "behind its SQLite one"
                    )
                if rows:
                    await write.conn.copy_records_to_table(
                        table, records=[tuple(r) for r in rows], columns=columns
                    )
                copied = await write.scalar(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
                if copied != len(rows):
                    raise StoreError(
                        f"{table}: {len(rows)} rows in {source} but {copied} copied; "
                        "nothing was written"
                    )
                report.counts[table] = int(copied)
            for table in IDENTITIES:
                await write.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                    f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
    return report


async def _check_empty(target: PostgresStore) -> None:
    filled = []
    for table in (*TABLES, "lease"):
        if await target.db.scalar(f"SELECT EXISTS (SELECT 1 FROM {table})"):  # noqa: S608
            filled.append(table)
    if filled:
        raise TargetNotEmpty(
            f"{target.description} is not empty ({', '.join(filled)} hold rows): "
            "migrate copies into an empty database only; nothing was copied"
        )


async def _columns(read: SqliteTransaction, table: str) -> list[str]:
    rows = await read.fetchall(f"PRAGMA table_info({table})")
    return [r["name"] for r in rows]


async def _pg_columns(write: Transaction, table: str) -> set[str]:
    rows = await write.fetchall(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?",
        (table,),
    )
    return {r["column_name"] for r in rows}
