"""A read-only look at the database for `amabot doctor`: can it be written, which schema it
has, who holds the lease. Plain sqlite3 in read-only mode (the caller runs it in a thread):
the doctor never migrates or writes.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.store.sqlite.db import bundled_migrations


@dataclass(frozen=True, slots=True)
class DatabaseReport:
    error: str | None  # cannot be created, written or read
    schema: int | None  # None: no database yet
    latest: int
    lease: str | None  # the lease row, when the schema has a lease table


def inspect_database(path: Path) -> DatabaseReport:
    latest = bundled_migrations()[-1].version
    path = Path(path)
    if not path.exists():
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            return DatabaseReport(f"cannot create it: {folder} is not a folder", None, latest, None)
        if not os.access(folder, os.W_OK):
            return DatabaseReport(f"cannot create it: {folder} is not writable", None, latest, None)
        return DatabaseReport(None, None, latest, None)
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        # SQLite writes the -wal and -shm files beside the database.
        return DatabaseReport(f"{path} or its folder is not writable", None, latest, None)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return DatabaseReport(f"cannot open it: {exc}", None, latest, None)
    try:
        schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        lease = None
        table = next((t for t in ("lease", "leases") if t in tables), None)
        if table is not None:
            cursor = conn.execute(f"SELECT * FROM {table} LIMIT 1")  # noqa: S608 - fixed names
            row = cursor.fetchone()
            if row is None:
                lease = "free"
            else:
                cols = [d[0] for d in cursor.description]
                lease = ", ".join(f"{c}={v}" for c, v in zip(cols, row, strict=True))
        return DatabaseReport(None, schema, latest, lease)
    except sqlite3.Error as exc:
        return DatabaseReport(f"not an amabot database: {exc}", None, latest, None)
    finally:
        conn.close()
