"""The PostgreSQL backend of `bot.store.interface` (asyncpg, a small pool, one database that
several bot processes share: the lease and its term decide which one acts).

Every piece of PostgreSQL's dialect of the project lives in this package: its `db.DIALECT`
(the fragments `bot.store.common` fills in: casts, ``FOR UPDATE`` row locks, advisory locks,
``GREATEST``, ``ON CONFLICT DO NOTHING``, ``string_agg``), the ``FOR UPDATE SKIP LOCKED``
claim (`outbox`), the numbered migrations in ``migrations/`` (their own numbering: 0001 is
SQLite's 0001-0006 plus the lease's term), the fence (`db.Database._check_fence`) and the
copy from a SQLite file (`copy`, for ``amabot migrate``). Times are the bot's clock's, never
the server's.
"""

from bot.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
