"""The bot's storage: the typed interface (`interface`) and its backends (`sqlite`, `postgres`).

Everything outside this package reaches stored data through `open_store` and the
`bot.store.interface` Protocols; no SQL lives anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

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
from bot.store.sqlite.inspect import DatabaseReport
from bot.store.sqlite.inspect import inspect_database as inspect_sqlite

if TYPE_CHECKING:
    from bot.store.postgres.copy import CopyReport

__all__ = [
    "DEFAULT_PASSWORD_ENV",
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
    "copy_sqlite_to_postgres",
    "database_password",
    "inspect_database",
    "is_database_url",
    "open_store",
]

# Where the PostgreSQL password comes from unless `storage.password_env` names another
# variable (bot.config's default is this same name). Never from the config file or the URL.
DEFAULT_PASSWORD_ENV = "AMABOT_DATABASE_PASSWORD"  # noqa: S105 - a variable's name
_URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(database: str | Path) -> bool:
    """`storage.database` names a PostgreSQL server (else it is a SQLite file's path)."""
    return isinstance(database, str) and database.startswith(_URL_SCHEMES)


def database_password(
    password_env: str = DEFAULT_PASSWORD_ENV, environ: Mapping[str, str] | None = None
) -> str | None:
    """The PostgreSQL password from the environment (None: unset, e.g. local trust auth)."""
    environ = os.environ if environ is None else environ
    return environ.get(password_env) or None


async def open_store(
    database: str | Path,
    *,
    clock: Clock = system_clock,
    password_env: str = DEFAULT_PASSWORD_ENV,
    environ: Mapping[str, str] | None = None,
) -> Store:
    """Open (creating and migrating as needed) the database named by `storage.database`.

    A ``postgresql://`` URL opens the PostgreSQL backend, with the password from the
    environment variable `password_env` (`storage.password_env`); anything else is a SQLite
    file's path. Nothing else in the bot needs to know which backend it got.
    """
    if is_database_url(database):
        from bot.store.postgres import PostgresStore  # asyncpg only when it is used

        return await PostgresStore.open(
            str(database), clock=clock, password=database_password(password_env, environ)
        )
    return await SqliteStore.open(Path(database), clock=clock)


async def copy_sqlite_to_postgres(
    source: Path, url: str, *, now: datetime, password_env: str = DEFAULT_PASSWORD_ENV
) -> CopyReport:
    """`amabot migrate`: the SQLite file `source` copied into the empty PostgreSQL database
    at `url` (created and migrated first); raises `StoreError` (nothing written) if it
    cannot be done. See `bot.store.postgres.copy`."""
    from bot.store.postgres import PostgresStore
    from bot.store.postgres.copy import copy_into

    async with await PostgresStore.open(url, password=database_password(password_env)) as target:
        return await copy_into(target, Path(source), now)


def inspect_database(
    database: str | Path, *, password_env: str = DEFAULT_PASSWORD_ENV
) -> DatabaseReport:
    """The doctor's read-only look at the database, whichever backend (run it in a thread)."""
    if is_database_url(database):
        from bot.store.postgres.inspect import inspect_database as inspect_postgres

        return inspect_postgres(str(database), database_password(password_env))
    return inspect_sqlite(Path(database))
