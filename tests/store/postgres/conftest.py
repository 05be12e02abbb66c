"""Tests about the PostgreSQL backend itself (its migrations, terms and fence, `amabot
migrate`): they reach the server directly, which only the store's own tests may do, and run
for PostgreSQL only (skipped, saying why, where no server can start)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
async def sql(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test's database, to look at (or stage) what the store wrote."""
    conn = await asyncpg.connect(postgres_url)
    yield conn
    await conn.close()
