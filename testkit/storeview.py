"""The tests' one way to look at (and, to stage a scene, tamper with) a stopped bot's database.

Tests and the test kit read stored state through the store interface (`bot.store`), like the
bot does: `outbox_rows` opens the database with `open_store` and reads it through
`Store.outbox`. What the interface rightly does not offer lives here, in one place, each
function saying which scene it stages: a database left by an older or a newer amabot, a
write the bot "never made" (a crash between Discord's answer and the store's), the file's
own consistency check. These are the only statements outside bot/store/ that touch a
database; they speak the backend's dialect, so a new backend adds its branch to each (see
`_sqlite`), and a test that uses them runs against whichever backend the bot was given.

Here rather than in bot/store/: they exist only to stage tests, and the product must not ship
a way to rewrite its own keys or schema version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.clock import system_clock
from bot.plan.posts import Post
from bot.store import open_store


async def outbox_rows(database: str | Path) -> dict[str, Post]:
    """Every outbox row by key, read through the store interface (the bot must be stopped:
    one process per database)."""
    async with await open_store(database, clock=system_clock) as store:
        return {p.key: p for p in await store.outbox.all()}


def is_consistent(database: str | Path) -> bool:
    """The database passes its own integrity check (after a clean stop, a crash...)."""
    with _sqlite(database) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def set_schema_version(database: str | Path, version: int) -> None:
    """Stage a database written by another amabot (e.g. a newer one: version 99)."""
    with _sqlite(database) as conn:
        conn.execute(f"PRAGMA user_version = {int(version):d}")


def strip_reminder_instants(database: str | Path) -> None:
    """Stage round 1's reminder keys: ``reminder:<episode>:<kind>:<lead>`` without the
    ``@<instant>`` the bot appends since (what the previous version wrote)."""
    with _sqlite(database) as conn:
        conn.execute(
            "UPDATE outbox SET key = substr(key, 1, instr(key, '@') - 1) WHERE instr(key, '@') > 0"
        )


@contextmanager
def _sqlite(database: str | Path) -> Iterator[sqlite3.Connection]:
    """One transaction on the SQLite file, committed on success, then closed."""
    conn = sqlite3.connect(database)
    try:
        with conn:
            yield conn
    finally:
        conn.close()
