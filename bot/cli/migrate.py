"""`amabot migrate --to postgresql://...`: move a deployment's SQLite database into an empty
PostgreSQL one (then point `storage.database` at the URL)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot.clock import system_clock
from bot.config import ConfigError, Settings
from bot.store import StoreError, copy_sqlite_to_postgres, is_database_url


async def _migrate(source: Path, url: str, password_env: str) -> int:
    report = await copy_sqlite_to_postgres(
        source, url, now=system_clock(), password_env=password_env
    )
    width = max(len(t) for t in report.counts)
    for table, count in report.counts.items():
        print(f"  {table:<{width}}  {count:>8}")
    print(
        f"copied {report.total} rows from {report.source} into {report.target}; the counts "
        "match on both sides.\nNext: set [storage] database to that URL and start the bot."
    )
    return 0


def run_migrate(settings: Settings, to: str, *, source: str | None = None) -> int:
    """Copy the SQLite database (`source`, default `storage.database`) into the empty
    PostgreSQL database `to`. 0 copied, 1 refused or failed (nothing written), 2 usage."""
    if not is_database_url(to):
        raise ConfigError(f"--to must be a postgresql:// URL, got {to!r}")
    if urlsplit(to).password:
        raise ConfigError(
            "--to holds a password; leave it out and set the environment variable named by "
            f"storage.password_env ({settings.storage.password_env}) instead"
        )
    database = source if source is not None else settings.storage.database
    if is_database_url(database):
        raise ConfigError(
            "storage.database is already a PostgreSQL URL: give the SQLite file with --from"
        )
    try:
        return asyncio.run(_migrate(Path(database), to, settings.storage.password_env))
    except StoreError as exc:
        print(f"amabot migrate: {exc}", file=sys.stderr)
        return 1
