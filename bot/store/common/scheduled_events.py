"""The Discord scheduled events the bot made, and the calendar feed's SEQUENCE numbers.

The table is the only link between an episode and its Discord event: a restart reads it and
never creates a second event, and only ids found here are ever edited, so events people made
are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.store.common.db import Db, Dialect, from_db, to_db
from bot.store.interface import EVENT_ERROR_OTHER as OTHER
from bot.store.interface import EVENT_ERROR_PERMISSION as PERMISSION
from bot.store.interface import StoredEvent


class EventStore:
    def __init__(self, db: Db, dialect: Dialect):
        self._db = db
        self._d = dialect

    async def get(self, key: str) -> StoredEvent | None:
        row = await self._db.fetchone("SELECT * FROM guild_events WHERE key = ?", (key,))
        return None if row is None else _stored(row)

    async def all(self, *, series: str | None = None) -> dict[str, StoredEvent]:
        """Every event of ours (with `series`, that series' only), by key."""
        rows = await self._db.fetchall("SELECT * FROM guild_events ORDER BY key")
        return {r["key"]: _stored(r) for r in rows if series is None or r["series"] == series}

    async def key_for(self, discord_id: int) -> str | None:
        """The event key of one of our Discord events (for the gateway's user add/remove)."""
        return await self._db.text(
            "SELECT key FROM guild_events WHERE discord_id = ?", (int(discord_id),)
        )

    async def upsert(
        self,
        key: str,
        *,
        discord_id: int | None,
        spec_hash: str,
        status: int,
        body: Mapping[str, Any],
        now: datetime,
        series: str | None = None,
    ) -> None:
        """Record a successful create or edit; clears any error of the key. A new row is
        `series`' (None: the home series'); the series of a row never changes."""
        await self._db.write(
            self._d.sql(
                """INSERT INTO guild_events (key, discord_id, spec_hash, status, body, last_error,
                                         error_kind, updated_at, series)
               VALUES (?, ?, ?, ?, ?, NULL, NULL, ?,
                       COALESCE(?{text}, (SELECT value FROM state WHERE key = 'series.home'), ''))
               ON CONFLICT (key) DO UPDATE SET
                   discord_id = excluded.discord_id, spec_hash = excluded.spec_hash,
                   status = excluded.status, body = excluded.body, last_error = NULL,
                   error_kind = NULL, updated_at = excluded.updated_at"""
            ),
            (
                key,
                discord_id,
                spec_hash,
                int(status),
                json.dumps(dict(body), sort_keys=True, ensure_ascii=False),
                to_db(now),
                series,
            ),
        )

    async def mark_error(
        self,
        key: str,
        error: str,
        now: datetime,
        *,
        permission: bool = False,
        series: str | None = None,
    ) -> None:
        """Keep the row as it was (or create an id-less one) and note why Discord refused."""
        await self._db.write(
            self._d.sql(
                """INSERT INTO guild_events (key, discord_id, spec_hash, status, last_error,
                                         error_kind, updated_at, series)
               VALUES (?, NULL, '', 1, ?, ?, ?,
                       COALESCE(?{text}, (SELECT value FROM state WHERE key = 'series.home'), ''))
               ON CONFLICT (key) DO UPDATE SET last_error = excluded.last_error,
                   error_kind = excluded.error_kind, updated_at = excluded.updated_at"""
            ),
            (key, error, PERMISSION if permission else OTHER, to_db(now), series),
        )

    async def note_status(self, discord_id: int, status: int, now: datetime) -> str | None:
        """Discord told us (gateway GUILD_SCHEDULED_EVENT_UPDATE/DELETE) an event of ours
        changed status, perhaps by a person's hand; returns its key, or None if not ours."""
        rows = await self._db.write(
            "UPDATE guild_events SET status = ?, updated_at = ? WHERE discord_id = ? RETURNING key",
            (int(status), to_db(now), int(discord_id)),
        )
        return rows[0]["key"] if rows else None

    async def delete(self, key: str) -> bool:
        return bool(
            await self._db.write("DELETE FROM guild_events WHERE key = ? RETURNING key", (key,))
        )

    async def permission_error(self) -> str | None:
        """The latest "Manage Events missing" error still standing, for /healthz and
        `amabot plan`; None once every key has gone through again."""
        return await self._db.text(
            "SELECT last_error FROM guild_events WHERE error_kind = ?"
            " ORDER BY updated_at DESC, key LIMIT 1",
            (PERMISSION,),
        )

    async def clear_permission_errors(self) -> int:
        rows = await self._db.write(
            "UPDATE guild_events SET last_error = NULL, error_kind = NULL"
            " WHERE error_kind = ? RETURNING key",
            (PERMISSION,),
        )
        return len(rows)

    async def errors(self) -> dict[str, str]:
        rows = await self._db.fetchall(
            "SELECT key, last_error FROM guild_events WHERE last_error IS NOT NULL ORDER BY key"
        )
        return {r["key"]: r["last_error"] for r in rows}

    # -- the calendar feed ---------------------------------------------------------------

    async def calendar_sequences(self, hashes: Mapping[str, str], now: datetime) -> dict[str, int]:
        """uid -> SEQUENCE for the feed: 0 when first seen, +1 each time its hash changes.

        Calendar clients only take an updated event when its SEQUENCE grows, so the number
        must survive restarts; it is bumped once per change however often the feed is read.
        """
        at = to_db(now)
        out: dict[str, int] = {}
        async with self._db.transaction() as tx:
            # Two feed reads at once would both insert a new uid: one writer at a time.
            if self._d.lock_calendar_sequences:
                await tx.execute(self._d.lock_calendar_sequences)
            rows = await tx.fetchall("SELECT uid, hash, sequence FROM calendar_sequences")
            known = {r["uid"]: (r["hash"], r["sequence"]) for r in rows}
            for uid, digest in hashes.items():
                if uid not in known:
                    await tx.execute(
                        "INSERT INTO calendar_sequences (uid, hash, sequence, updated_at)"
                        " VALUES (?, ?, 0, ?)",
                        (uid, digest, at),
                    )
                    out[uid] = 0
                    continue
                old_hash, sequence = known[uid]
                if old_hash != digest:
                    sequence += 1
                    await tx.execute(
                        "UPDATE calendar_sequences SET hash = ?, sequence = ?, updated_at = ?"
                        " WHERE uid = ?",
                        (digest, sequence, at, uid),
                    )
                out[uid] = sequence
        return out


def _stored(row: Any) -> StoredEvent:
    try:
        body = json.loads(row["body"] or "{}")
    except ValueError:
        body = {}
    return StoredEvent(
        discord_id=row["discord_id"],
        spec_hash=row["spec_hash"],
        status=row["status"],
        body=body if isinstance(body, dict) else {},
        last_error=row["last_error"],
        error_kind=row["error_kind"],
        updated_at=from_db(row["updated_at"]),
        key=row["key"],
    )
