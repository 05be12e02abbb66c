"""Members' reminder choices per stream, their "Interested" marks, and whose DMs are closed.

The streams (livestream, ama, recaps) are checked by the table's CHECK constraint, the one
list the database holds; `bot.plan.optin` owns the names the code uses."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.content.models import EVENT_KINDS
from bot.plan.optin import Interest, Mode, Preference
from bot.store.common.db import Db, Dialect, Row, from_db, to_db


class OptinStore:
    def __init__(self, db: Db, dialect: Dialect):
        self._db = db
        self._d = dialect

    # -- preferences -----------------------------------------------------------------------

    async def set_pref(
        self,
        member_id: int,
        stream: str,
        mode: Mode | str,
        lead: timedelta,
        now: datetime,
        *,
        series: str | None = None,
    ) -> Preference:
        """Record a member's choice for one series' stream. Choosing DMs again reopens a
        member whose DMs were recorded as closed: they asked anew."""
        mode = Mode(mode)
        seconds = int(lead.total_seconds())
        async with self._db.transaction() as tx:
            try:
                rows = await tx.fetchall(
                    self._d.sql(
                        """INSERT INTO optin_prefs
                            (member_id, series, stream, mode, lead_seconds, updated_at)
                       VALUES (?, COALESCE(?{text}, (SELECT value FROM state
                                               WHERE key = 'series.home'), ''),
                               ?, ?, ?, ?)
                       ON CONFLICT (member_id, series, stream) DO UPDATE
                           SET mode = excluded.mode, lead_seconds = excluded.lead_seconds,
                               updated_at = excluded.updated_at
                       RETURNING series"""
                    ),
                    (int(member_id), series, stream, mode.value, seconds, to_db(now)),
                )
            except self._d.check_violation as exc:  # the CHECK on `stream` (mode: above)
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
            series=rows[0]["series"],
        )

    async def opt_out(
        self, member_id: int, stream: str, now: datetime, *, series: str | None = None
    ) -> None:
        """ "Stop these": the series' stream off, and the member's Interested marks for it
        dropped."""
        pref = await self.pref(member_id, stream, series=series)
        lead = pref.lead if pref is not None else timedelta(hours=1)
        await self.set_pref(member_id, stream, Mode.OFF, lead, now, series=series)
        if stream in EVENT_KINDS:
            await self._db.write(
                self._d.sql(
                    "DELETE FROM optin_interested WHERE member_id = ? AND event_key LIKE ?"
                    " AND series = COALESCE(?{text}, (SELECT value FROM state"
                    " WHERE key = 'series.home'), '')"
                ),
                (int(member_id), f"event:%:{stream}", series),
            )

    async def pref(
        self, member_id: int, stream: str, *, series: str | None = None
    ) -> Preference | None:
        row = await self._db.fetchone(
            self._d.sql(
                "SELECT * FROM optin_prefs WHERE member_id = ? AND stream = ?"
                " AND series = COALESCE(?{text}, (SELECT value FROM state"
                " WHERE key = 'series.home'), '')"
            ),
            (int(member_id), stream, series),
        )
        return None if row is None else _pref(row)

    async def prefs_of(self, member_id: int, *, series: str | None = None) -> list[Preference]:
        rows = await self._db.fetchall(
            self._d.sql(
                "SELECT * FROM optin_prefs WHERE member_id = ? AND (?{text} IS NULL OR series = ?)"
                " ORDER BY series, stream"
            ),
            (int(member_id), series, series),
        )
        return [_pref(r) for r in rows]

    async def prefs(self, *, series: str | None = None) -> list[Preference]:
        rows = await self._db.fetchall(
            self._d.sql(
                "SELECT * FROM optin_prefs WHERE ?{text} IS NULL OR series = ?"
                " ORDER BY member_id, series, stream"
            ),
            (series, series),
        )
        return [_pref(r) for r in rows]

    # -- "Interested" on our Discord events ------------------------------------------------

    async def add_interest(
        self, member_id: int, event_key: str, now: datetime, *, series: str | None = None
    ) -> bool:
        rows = await self._db.write(
            self._d.sql(
                "INSERT INTO optin_interested (member_id, event_key, created_at, series)"
                " VALUES (?, ?, ?, COALESCE(?{text}, (SELECT value FROM state"
                " WHERE key = 'series.home'), ''))"
                " ON CONFLICT DO NOTHING RETURNING member_id"
            ),
            (int(member_id), event_key, to_db(now), series),
        )
        return bool(rows)

    async def remove_interest(self, member_id: int, event_key: str) -> bool:
        rows = await self._db.write(
            "DELETE FROM optin_interested WHERE member_id = ? AND event_key = ?"
            " RETURNING member_id",
            (int(member_id), event_key),
        )
        return bool(rows)

    async def interested(self, *, series: str | None = None) -> list[Interest]:
        rows = await self._db.fetchall(
            self._d.sql(
                "SELECT member_id, event_key FROM optin_interested"
                " WHERE ?{text} IS NULL OR series = ?"
                " ORDER BY event_key, member_id"
            ),
            (series, series),
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


def _pref(row: Row) -> Preference:
    # Positional, as in `set_pref`: member, stream, mode, lead.
    return Preference(
        row["member_id"],
        row["stream"],
        Mode(row["mode"]),
        timedelta(seconds=row["lead_seconds"]),
        since=from_db(row["updated_at"]),
        series=row["series"],
    )
