"""The bot's storage: the typed interface (`interface`) and its backends (today `sqlite`).

Everything outside this package reaches stored data through `open_store` and the
`bot.store.interface` Protocols; no SQL lives anywhere else.
"""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock, system_clock
from bot.store.interface import (
    Audit,
    AuditEntry,
    DuplicateKeyError,
    EventStore,
    LeaseInfo,
    Leases,
    OptinStore,
    Outbox,
    ReconcileReport,
    State,
    Store,
    StoredEvent,
    StoreError,
)
from bot.store.sqlite import SqliteStore
from bot.store.sqlite.inspect import DatabaseReport, inspect_database

__all__ = [
    "Audit",
    "AuditEntry",
    "DatabaseReport",
    "DuplicateKeyError",
    "EventStore",
    "LeaseInfo",
    "Leases",
    "OptinStore",
    "Outbox",
    "ReconcileReport",
    "State",
    "Store",
    "StoreError",
    "StoredEvent",
    "inspect_database",
    "open_store",
]


async def open_store(database: str | Path, *, clock: Clock = system_clock) -> Store:
    """Open (creating and migrating as needed) the database named by `storage.database`.

    Today a path opens the SQLite file. The PostgreSQL backend adds its branch here for
    ``postgresql://`` URLs (and `inspect_database`, the doctor's look, its own); nothing
    else in the bot needs to know which backend it got.
    """
    return await SqliteStore.open(Path(database), clock=clock)
