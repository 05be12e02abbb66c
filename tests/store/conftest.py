from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.plan.posts import PlannedPost
from bot.store import Store

T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)


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


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "amabot.sqlite3"


@pytest.fixture
async def store(db_path, clock):
    async with await Store.open(db_path, clock=clock) as opened:
        yield opened
