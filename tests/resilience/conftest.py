"""Resilience runs: the bot as a process (killed, faulted, loaded) against a sandbox process.

Each test prints its table (run pytest with -s to see it). The seed comes from
AMABOT_CHAOS_SEED when set (to replay a failure), else a fixed default; it is printed.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("AMABOT_CHAOS_SEED", "20250714"))
    print(f"\nseed {value} (replay with AMABOT_CHAOS_SEED={value})")
    return value
