"""Tests about the SQLite backend itself (its file, pragmas, migrations of old files): they
open the file directly, which only the store's own tests may do, and run for SQLite only."""

from __future__ import annotations

import pytest


@pytest.fixture
def backend() -> str:
    return "sqlite"
