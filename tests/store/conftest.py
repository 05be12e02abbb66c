"""The store's conformance suite: every test in tests/store/ (outside `sqlite/`) runs once per
backend through `bot.store.open_store` and the `bot.store.interface` Protocols only.

A new backend adds its name to `BACKENDS` and a branch to `database` (and, if its driver has
its own, to `integrity_error`); the same tests then run against it. Tests about one backend's
own file, pragmas or migrations live in a folder named after it (tests/store/sqlite/).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.plan.posts import PlannedPost
from bot.store import Store, open_store

T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)

BACKENDS = ["sqlite"]  # "postgres" joins here with its backend


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


@pytest.fixture
def database(backend: str, db_path: Path) -> str | Path:
    """A fresh, empty database of `backend`, as `storage.database` would name it."""
    if backend == "sqlite":
        return db_path
    raise NotImplementedError(backend)


@pytest.fixture
def integrity_error(backend: str) -> type[Exception]:
    """What the backend's driver raises when a table constraint refuses a write."""
    if backend == "sqlite":
        return sqlite3.IntegrityError
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
