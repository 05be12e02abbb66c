"""What both backends' `Store` do alike: its parts over one database and dialect, the
first-start flag, the fence, and the home series' claim. Each backend's `store.py` opens its
database and describes it; everything else is here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from bot.clock import Clock
from bot.store.common.ama import AmaStore
from bot.store.common.db import Db, Dialect, to_db
from bot.store.common.lease import Leases
from bot.store.common.optin import OptinStore
from bot.store.common.outbox import Outbox
from bot.store.common.scheduled_events import EventStore
from bot.store.common.state import Audit, State
from bot.store.interface import HOME_SERIES_KEY, FencedOut

INITIALISED_KEY = "outbox.initialised_at"  # the same flag bot/services/posting.py sets
# The tables whose rows name their series; the AMA's had it from the start.
_SERIES_TABLES = ("outbox", "guild_events", "optin_prefs", "optin_interested")
HOME_SERIES_LOCK = 0x616D61626F74_02  # `Dialect.advisory_lock`'s key: one claim at a time


class StoreDb(Db, Protocol):
    """A backend's `Database` as its store holds it: opened, migrated, fenced, closed."""

    @property
    def schema(self) -> int: ...

    @property
    def schema_before(self) -> int: ...

    def fence(
        self, holder: str, term: int, on_refused: Callable[[FencedOut], None] | None = None
    ) -> None: ...

    async def close(self) -> None: ...


D = TypeVar("D", bound=StoreDb)


async def is_first_start(db: Db) -> bool:
    """No start against `db` has finished its first-start work yet."""
    return await db.scalar("SELECT 1 FROM state WHERE key = ?", (INITIALISED_KEY,)) is None


class SharedStore(Generic[D]):
    """`bot.store.interface.Store`, but for opening and describing the database (the
    backend's subclass: `SqliteStore`, `PostgresStore`)."""

    def __init__(self, db: D, dialect: Dialect, clock: Clock, *, outbox: Outbox, first_start: bool):
        self.db = db
        self.dialect = dialect
        self.clock = clock
        self.outbox = outbox
        self.state = State(db, clock)
        self.audit = Audit(db)
        self.events = EventStore(db, dialect)
        self.optin = OptinStore(db, dialect)
        self.leases = Leases(db)
        self.ama = AmaStore(db, dialect)
        self._first_start = first_start

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

    def fence(
        self, holder: str, term: int, on_refused: Callable[[FencedOut], None] | None = None
    ) -> None:
        """From now on every write checks, inside its own transaction, that the lease is
        still `holder`'s at `term`; otherwise it tells `on_refused`, raises `FencedOut` and
        writes nothing (each backend's `db.Database`, its one write path)."""
        self.db.fence(holder, term, on_refused)

    async def mark_initialised(self, now: datetime | None = None) -> None:
        await self.state.set(INITIALISED_KEY, (now or self.clock()).isoformat())
        self._first_start = False

    async def claim_home_series(self, series: str, now: datetime) -> str:
        """The series owning the bare key namespace: the one recorded, else `series`, recorded
        now, with every row written before several series existed (series '') adopted by it,
        in one transaction: once per database (on PostgreSQL, two processes starting at once
        take turns on an advisory lock: the second reads what the first recorded)."""
        async with self.db.transaction() as tx:
            if self.dialect.advisory_lock:
                await tx.execute(self.dialect.advisory_lock, (HOME_SERIES_LOCK,))
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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
