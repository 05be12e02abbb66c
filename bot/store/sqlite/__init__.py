"""The SQLite backend of `bot.store.interface` (aiosqlite, one connection, one file).

Every piece of SQLite's dialect of the project lives in this package: its `db.DIALECT` (the
fragments `bot.store.common` fills in: ``INSERT OR IGNORE``, ``group_concat``, ``MAX``, no
casts and no row locks), ``strftime``, ``PRAGMA user_version`` and the other pragmas, the
numbered migrations in ``migrations/``, and the doctor's read-only look at the file (`inspect`).
"""

from bot.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
