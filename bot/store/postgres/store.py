"""The PostgreSQL store: one database (a ``postgresql://`` URL) holding every table of
`bot.store.interface.Store`, shared by the bot processes of one deployment (a leader and its
standbys: the lease says which acts, its term fences the others' writes)."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType

from bot.clock import Clock, system_clock
from bot.store.common.ama import AmaStore
from bot.store.common.db import to_db
from bot.store.common.lease import Leases
from bot.store.common.optin import OptinStore
from bot.store.common.scheduled_events import EventStore
from bot.store.common.state import Audit, State
from bot.store.interface import HOME_SERIES_KEY
from bot.store.postgres.db import DIALECT, Database
from bot.store.postgres.outbox import Outbox

INITIALISED_KEY = "outbox.initialised_at"  # the same flag bot/services/posting.py sets
# The tables whose rows name their series (migration 0002); the AMA's had it from the start.
_SERIES_TABLES = ("outbox", "guild_events", "optin_prefs", "optin_interested")
_HOME_SERIES_LOCK = 0x616D61626F74_02  # pg_advisory_xact_lock's key: one claim at a time


class PostgresStore:
    """`bot.store.interface.Store` on a PostgreSQL database. Open it with
    ``await bot.store.open_store("postgresql://...", clock=...)`` (or ``PostgresStore.open``)."""

    def __init__(self, db: Database, clock: Clock, *, first_start: bool):
        self.db = db
        self.clock = clock
        self.outbox = Outbox(db, DIALECT)
        self.state = State(db, clock)
        self.audit = Audit(db)
        self.events = EventStore(db, DIALECT)
        self.optin = OptinStore(db, DIALECT)
        self.leases = Leases(db)
        self.ama = AmaStore(db, DIALECT)
        self._first_start = first_start

    @classmethod
    async def open(
        cls, url: str, *, clock: Clock = system_clock, password: str | None = None
    ) -> PostgresStore:
        db = await Database.open(url, password=password)
        first_start = await db.scalar("SELECT 1 FROM state WHERE key = ?", (INITIALISED_KEY,))
        return cls(db, clock, first_start=first_start is None)

    @property
    def description(self) -> str:
        return self.db.where

    @property
    def schema_version(self) -> int:
        return self.db.schema

    @property
    def created(self) -> bool:
        """The database was empty when opened (its schema was created just now)."""
        return self.db.schema_before == 0

    @property
    def first_start(self) -> bool:
        """No start against this database has finished its first-start work yet."""
        return self._first_start

    def fence(self, holder: str, term: int) -> None:
        """Every later write through this store checks, in its own transaction, that the
        lease is still `holder`'s at `term` (`Database._check_fence`), else `FencedOut`."""
        self.db.fence(holder, term)

    async def mark_initialised(self, now: datetime | None = None) -> None:
        await self.state.set(INITIALISED_KEY, (now or self.clock()).isoformat())
        self._first_start = False

    async def claim_home_series(self, series: str, now: datetime) -> str:
        """The series owning the bare key namespace: the one recorded, else `series`, recorded
        now, with every row written before several series existed (series '') adopted by it,
        in one transaction: once per database (two processes starting at once take turns on
        an advisory lock: the second reads what the first recorded)."""
        async with self.db.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (_HOME_SERIES_LOCK,))
            rows = await tx.fetchall("SELECT value FROM state WHERE key = ?", (HOME_SERIES_KEY,))
            if rows:
                return str(rows[0]["value"])
            for table in _SERIES_TABLES:
                await tx.execute(
                    f"UPDATE {table} SET series = ? WHERE series = ''",  # noqa: S608 - fixed names
                    (series,),
                )
            await tx.execute(
                "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)",
                (HOME_SERIES_KEY, series, to_db(now)),
            )
        return series

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
