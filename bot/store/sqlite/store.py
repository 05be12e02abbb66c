"""The SQLite store: one file holding every table of `bot.store.interface.Store`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import TracebackType

from bot.clock import Clock, system_clock
from bot.store.common.ama import AmaStore
from bot.store.common.lease import Leases
from bot.store.common.optin import OptinStore
from bot.store.common.scheduled_events import EventStore
from bot.store.common.state import Audit, State
from bot.store.interface import HOME_SERIES_KEY, StoreError
from bot.store.sqlite.db import DIALECT, Database, to_db
from bot.store.sqlite.outbox import Outbox

INITIALISED_KEY = "outbox.initialised_at"  # the same flag bot/services/posting.py sets
# The tables whose rows name their series (migration 0007); the AMA's had it from the start.
_SERIES_TABLES = ("outbox", "guild_events", "optin_prefs", "optin_interested")


class SqliteStore:
    """`bot.store.interface.Store` on one SQLite file. Open it with
    ``await bot.store.open_store(path, clock=...)`` (or ``SqliteStore.open``)."""

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
    async def open(cls, path: Path, *, clock: Clock = system_clock) -> SqliteStore:
        path = Path(path)
        if str(path) != ":memory:":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path}: cannot create its folder: {exc}") from exc
        db = await Database.open(path)
        first_start = await db.scalar("SELECT 1 FROM state WHERE key = ?", (INITIALISED_KEY,))
        return cls(db, clock, first_start=first_start is None)

    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def description(self) -> str:
        return str(self.db.path)

    @property
    def schema_version(self) -> int:
        return self.db.schema

    @property
    def created(self) -> bool:
        """The database was empty when opened (its schema was created just now)."""
        return self.db.schema_before == 0

    @property
    def first_start(self) -> bool:
        """No start against this database has finished its first-start work yet (e.g. the
        recap backlog). Stays true after a crash until `mark_initialised` is called."""
        return self._first_start

    def fence(self, holder: str, term: int) -> None:
        """From now on every write checks, inside its own transaction, that the lease is
        still `holder`'s at `term`; otherwise it raises `FencedOut` and writes nothing
        (bot/store/sqlite/db.py, the one write path)."""
        self.db.fenced_by = (holder, term)

    async def mark_initialised(self, now: datetime | None = None) -> None:
        await self.state.set(INITIALISED_KEY, (now or self.clock()).isoformat())
        self._first_start = False

    async def claim_home_series(self, series: str, now: datetime) -> str:
        """The series owning the bare key namespace: the one recorded, else `series`, recorded
        now, with every row written before several series existed (series '') adopted by it,
        in one transaction: once per database."""
        async with self.db.transaction() as tx:
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

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
