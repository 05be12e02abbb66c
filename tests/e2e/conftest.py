"""End-to-end fixtures: the real bot (discord.py) against the local Discord stand-in.

`harness` gives a started Harness (sandbox guild, git content repository, config written and
loaded) with the bot NOT yet running: call `await harness.start_bot()`. At teardown the bot is
stopped and every request it sent is checked against Discord's OpenAPI spec.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from testkit.harness import Harness


async def eventually(read, check, *, within: float = 10.0):
    """Re-read a store value until `check` holds. The store has no change events to await;
    this polls briefly and fails with the last value seen."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await read()
        if check(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {value!r}")
        await asyncio.sleep(0.01)


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock(datetime(2025, 7, 13, 16, 0, tzinfo=UTC))


@pytest.fixture
async def harness(tmp_path, request):
    marker = request.node.get_closest_marker("harness")
    kwargs = dict(marker.kwargs) if marker else {}
    h = Harness(tmp_path, **kwargs)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()
