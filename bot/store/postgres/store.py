"""The PostgreSQL store: one database (a ``postgresql://`` URL) holding every table of
`bot.store.interface.Store`, shared by the bot processes of one deployment (a leader and its
standbys: the lease says which acts, its term fences the others' writes)."""

from __future__ import annotations

from bot.clock import Clock, system_clock
from bot.store.common.store import SharedStore, is_first_start
from bot.store.postgres.db import DIALECT, Database
from bot.store.postgres.outbox import Outbox


class PostgresStore(SharedStore[Database]):
    """`bot.store.interface.Store` on a PostgreSQL database. Open it with
    ``await bot.store.open_store("postgresql://...", clock=...)`` (or ``PostgresStore.open``)."""

    def __init__(self, db: Database, clock: Clock, *, first_start: bool):
        super().__init__(db, DIALECT, clock, outbox=Outbox(db, DIALECT), first_start=first_start)

    @classmethod
    async def open(
        cls, url: str, *, clock: Clock = system_clock, password: str | None = None
    ) -> PostgresStore:
        db = await Database.open(url, password=password)
        return cls(db, clock, first_start=await is_first_start(db))

    @property
    def description(self) -> str:
        return self.db.where
