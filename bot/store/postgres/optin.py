"""PostgreSQL: members' reminder choices per stream, their "Interested" marks, and whose
DMs are closed.

The streams (livestream, ama, recaps) are checked by the table's CHECK constraint, the one
list the database holds; `bot.plan.optin` owns the names the code uses."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from bot.content.models import EVENT_KINDS
from bot.plan.optin import Interest, Mode, Preference
from bot.store.postgres.db import Database
from bot.store.sqlite.db import from_db, to_db


class OptinStore:
    def __init__(self, db: Database):
        self._db = db

    # -- preferences -----------------------------------------------------------------------

    async def set_pref(
        self, member_id: int, stream: str, mode: Mode | str, lead: timedelta, now: datetime
    ) -> Preference:
        """Record a member's choice for one stream. Choosing DMs again reopens a member whose
        DMs were recorded as closed: they asked anew."""
        mode = Mode(mode)
        seconds = int(lead.total_seconds())
        async with self._db.transaction() as tx:
            try:
                await tx.execute(
                    """INSERT INTO optin_prefs (member_id, stream, mode, lead_seconds, updated_at)
                       VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (member_id, stream) DO UPDATE SET mode = excluded.mode,
                           lead_seconds = excluded.lead_seconds,
                           updated_at = excluded.updated_at""",
                    (int(member_id), stream, mode.value, seconds, to_db(now)),
                )
            except asyncpg.CheckViolationError as exc:  # the CHECK on `stream` (mode: above)
                raise ValueError(f"unknown stream {stream!r}") from exc
            if mode is Mode.DM:
                await tx.execute(
                    "DELETE FROM optin_dm_closed WHERE member_id = ?", (int(member_id),)
                )
        # Positional: the field is `series` before issue 19's rename and `stream` after.
        return Preference(
            int(member_id),
            stream,  # type: ignore[arg-type]
            mode,
            timedelta(seconds=seconds),
            since=now,
        )

    async def opt_out(self, member_id: int, stream: str, now: datetime) -> None:
        """ "Stop these": the stream off, and the member's Interested marks for it dropped."""
        pref = await self.pref(member_id, stream)
        lead = pref.lead if pref is not None else timedelta(hours=1)
        await self.set_pref(member_id, stream, Mode.OFF, lead, now)
        if stream in EVENT_KINDS:
            await self._db.write(
                "DELETE FROM optin_interested WHERE member_id = ? AND event_key LIKE ?",
                (int(member_id), f"event:%:{stream}"),
            )

    async def pref(self, member_id: int, stream: str) -> Preference | None:
        row = await self._db.fetchone(
            "SELECT * FROM optin_prefs WHERE member_id = ? AND stream = ?",
            (int(member_id), stream),
        )
        return None if row is None else _pref(row)

    async def prefs_of(self, member_id: int) -> list[Preference]:
        rows = await self._db.fetchall(
            "SELECT * FROM optin_prefs WHERE member_id = ? ORDER BY stream", (int(member_id),)
        )
        return [_pref(r) for r in rows]

    async def prefs(self) -> list[Preference]:
        rows = await self._db.fetchall("SELECT * FROM optin_prefs ORDER BY member_id, stream")
        return [_pref(r) for r in rows]

    # -- "Interested" on our Discord events ------------------------------------------------

    async def add_interest(self, member_id: int, event_key: str, now: datetime) -> bool:
        rows = await self._db.write(
            "INSERT INTO optin_interested (member_id, event_key, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING member_id",
            (int(member_id), event_key, to_db(now)),
        )
        return bool(rows)

    async def remove_interest(self, member_id: int, event_key: str) -> bool:
        rows = await self._db.write(
            "DELETE FROM optin_interested WHERE member_id = ? AND event_key = ?"
            " RETURNING member_id",
            (int(member_id), event_key),
        )
        return bool(rows)

    async def interested(self) -> list[Interest]:
        rows = await self._db.fetchall(
            "SELECT member_id, event_key FROM optin_interested ORDER BY event_key, member_id"
        )
        return [Interest(r["member_id"], r["event_key"]) for r in rows]

    # -- closed DMs --------------------------------------------------------------------------

    async def mark_dm_closed(self, member_id: int, reason: str, now: datetime) -> None:
        await self._db.write(
            """INSERT INTO optin_dm_closed (member_id, reason, closed_at) VALUES (?, ?, ?)
               ON CONFLICT (member_id) DO UPDATE SET reason = excluded.reason,
                                                     closed_at = excluded.closed_at""",
            (int(member_id), reason, to_db(now)),
        )

    async def dm_closed(self) -> frozenset[int]:
        rows = await self._db.fetchall("SELECT member_id FROM optin_dm_closed")
        return frozenset(r["member_id"] for r in rows)

    async def is_dm_closed(self, member_id: int) -> bool:
        return (
            await self._db.scalar(
                "SELECT 1 FROM optin_dm_closed WHERE member_id = ?", (int(member_id),)
            )
            is not None
        )


def _pref(row: asyncpg.Record) -> Preference:
    # Positional, as in `set_pref`: member, stream, mode, lead.
    return Preference(
        row["member_id"],
        row["stream"],
        Mode(row["mode"]),
        timedelta(seconds=row["lead_seconds"]),
        since=from_db(row["updated_at"]),
    )
