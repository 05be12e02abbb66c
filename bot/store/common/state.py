"""Small durable facts about the bot (last processed commit, command-sync hash, flags) and the
audit trail of what organisers did (both backends: no dialect of its own)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.store.common.db import Db, from_db, to_db
from bot.store.interface import AuditEntry


class State:
    """A key/value table of strings, with JSON helpers."""

    def __init__(self, db: Db, clock: Clock):
        self._db = db
        self._clock = clock

    async def get(self, key: str) -> str | None:
        return await self._db.text("SELECT value FROM state WHERE key = ?", (key,))

    async def set(self, key: str, value: str) -> None:
        await self._db.write(
            """INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                                               updated_at = excluded.updated_at""",
            (key, value, to_db(self._clock())),
        )

    async def with_prefix(self, prefix: str) -> dict[str, str]:
        """Every entry whose key starts with `prefix`, keyed without the prefix."""
        rows = await self._db.fetchall(
            "SELECT key, value FROM state WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return {r["key"][len(prefix) :]: r["value"] for r in rows}

    async def delete(self, key: str) -> bool:
        return bool(await self._db.write("DELETE FROM state WHERE key = ? RETURNING key", (key,)))

    async def get_json(self, key: str, default: Any = None) -> Any:
        value = await self.get(key)
        return default if value is None else json.loads(value)

    async def set_json(self, key: str, value: Any) -> None:
        await self.set(key, json.dumps(value, sort_keys=True, ensure_ascii=False))

    async def updated_at(self, key: str) -> datetime | None:
        value = await self._db.scalar("SELECT updated_at FROM state WHERE key = ?", (key,))
        return None if value is None else from_db(value)


class Audit:
    """Who cancelled, skipped or confirmed what, and when."""

    def __init__(self, db: Db):
        self._db = db

    async def record(
        self, action: str, key: str | None, actor_id: int | None, detail: str, now: datetime
    ) -> AuditEntry:
        rows = await self._db.write(
            "INSERT INTO audit (at, action, key, actor_id, detail) VALUES (?, ?, ?, ?, ?)"
            " RETURNING *",
            (to_db(now), action, key, actor_id, detail),
        )
        return _entry(rows[0])

    async def recent(self, limit: int = 20) -> list[AuditEntry]:
        rows = await self._db.fetchall(
            "SELECT * FROM audit ORDER BY at DESC, id DESC LIMIT ?", (limit,)
        )
        return [_entry(r) for r in rows]

    async def for_key(self, key: str) -> list[AuditEntry]:
        rows = await self._db.fetchall("SELECT * FROM audit WHERE key = ? ORDER BY at, id", (key,))
        return [_entry(r) for r in rows]


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=from_db(row["at"]),
        action=row["action"],
        key=row["key"],
        actor_id=row["actor_id"],
        detail=row["detail"],
    )
