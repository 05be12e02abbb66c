"""The SQLite store: one file holding every table of `bot.store.interface.Store`."""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock, system_clock
from bot.store.common.store import SharedStore, is_first_start
from bot.store.interface import StoreError
from bot.store.sqlite.db import DIALECT, Database
from bot.store.sqlite.outbox import Outbox


class SqliteStore(SharedStore[Database]):
    """`bot.store.interface.Store` on one SQLite file. Open it with
    ``await bot.store.open_store(path, clock=...)`` (or ``SqliteStore.open``)."""

    def __init__(self, db: Database, clock: Clock, *, first_start: bool):
        super().__init__(db, DIALECT, clock, outbox=Outbox(db, DIALECT), first_start=first_start)

    @classmethod
    async def open(cls, path: Path, *, clock: Clock = system_clock) -> SqliteStore:
        path = Path(path)
        if str(path) != ":memory:":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{path}: cannot create its folder: {exc}") from exc
        db = await Database.open(path)
        return cls(db, clock, first_start=await is_first_start(db))

    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def description(self) -> str:
        return str(self.db.path)
