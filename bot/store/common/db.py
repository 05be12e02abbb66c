"""The database API the shared store modules are written against, the dialect they are
written in, and the time columns (integer microseconds since the epoch, on both backends).

Statements are written once with ``{name}`` slots for the few fragments that differ
(`Dialect.sql` fills them): a cast PostgreSQL needs to type a bare parameter, a row lock
SQLite's single writer makes unnecessary (its slot is empty there), a conflict clause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

Params = Sequence[Any]
Row = Any  # sqlite3.Row or asyncpg.Record: both read as row["column"] and row[0]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# --- time columns ----------------------------------------------------------------------------


def to_db(when: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch (exact, and ordered in SQL)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when.isoformat()} given to the store; use aware UTC")
    return (when - EPOCH) // _MICROSECOND


def to_db_opt(when: datetime | None) -> int | None:
    return None if when is None else to_db(when)


def from_db(value: int) -> datetime:
    return EPOCH + value * _MICROSECOND


def from_db_opt(value: int | None) -> datetime | None:
    return None if value is None else from_db(value)


# --- the database API ------------------------------------------------------------------------


class Tx(Protocol):
    """Statements inside one transaction (both backends' `Transaction`)."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Params = ()) -> int: ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...


class Db(Protocol):
    """One database (both backends' `Database`): reads, one-statement writes (fenced when
    the store is), and transactions."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def scalar(self, sql: str, params: Params = ()) -> Any: ...

    async def text(self, sql: str, params: Params = ()) -> str | None: ...

    async def write(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def write_unfenced(self, sql: str, params: Params = ()) -> list[Row]: ...

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...


# --- the dialect -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Dialect:
    """The fragments of SQL that differ between the backends, and the one driver error the
    shared code must recognise. A string field `x` fills the slot ``{x}`` of a statement."""

    name: str
    # Appended to a parameter whose type PostgreSQL cannot infer (``COALESCE(?, ...)``,
    # ``? IS NULL``); empty on SQLite.
    text: str
    # The errors a CHECK constraint and a taken primary key raise.
    check_violation: type[Exception]
    unique_violation: type[Exception]
    # The LIMIT parameter meaning "no limit".
    no_limit: int | None
    # The larger of two values (a scalar function, not the aggregate).
    greatest: str
    # Appended to an outbox INSERT so that a key already there is left as it is (the head's
    # ``INSERT OR IGNORE`` does it on SQLite).
    if_new_key: str
    # A statement taking a transaction-long lock on one number (its parameter): one such
    # transaction at a time. Empty on SQLite, whose one writer already serialises them.
    advisory_lock: str
    # A list may be bound as one array parameter (``key = ANY(?)``).
    array_params: bool
    # Appended to a parameter PostgreSQL would otherwise type as text or int.
    bigint: str
    # Row locks for a read-then-write, appended to a SELECT (empty on SQLite: one writer).
    for_update: str
    for_no_key_update: str
    # The same for several rows, always locked in id order (two merges never deadlock).
    for_update_in_id_order: str
    # An INSERT ... SELECT that skips the rows already there: the statement's head and tail.
    insert_or_ignore: str
    on_conflict_do_nothing: str
    # The members' ids of a group, joined by commas (an aggregate over `member_id`).
    member_ids: str
    # A statement run first in the calendar feed's transaction so that two feed reads do
    # not both insert a new uid (empty: SQLite's one writer already serialises them).
    lock_calendar_sequences: str

    def sql(self, statement: str) -> str:
        """`statement` with its ``{slot}`` fragments filled in for this dialect."""
        return _fill(self, statement)


_SLOT = re.compile(r"\{([a-z_]+)\}")


@lru_cache(maxsize=1024)
def _fill(dialect: Dialect, statement: str) -> str:
    names = {f.name for f in fields(dialect) if isinstance(getattr(dialect, f.name), str)}

    def slot(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            raise KeyError(f"no fragment {match.group(1)!r} in the {dialect.name} dialect")
        return str(getattr(dialect, match.group(1)))

    return _SLOT.sub(slot, statement)
