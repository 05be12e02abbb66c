"""The lease: one bot process per database (issue 14, "One instance per database").

A row per name (holder, term, acquired, renewed, expires). Taking it is one conditional
upsert: it succeeds when the row is free, expired, or already ours; the term (the fencing
token, issue 22) grows by one unless we held it unexpired. Renewing is a conditional update
on our own holder id and keeps the term. Releasing keeps the row (and so the term) with no
holder, so the next holder's term is still a new one. Nothing here needs SQLite's file
locks (``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE`` is PostgreSQL's syntax too).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.interface import LEASE_NAME, LeaseInfo
from bot.store.sqlite.db import Database, from_db, to_db

_TAKE = """
    INSERT INTO lease (name, holder, acquired_at, renewed_at, expires_at, term)
    VALUES (?, ?, ?, ?, ?, 1)
    ON CONFLICT (name) DO UPDATE
       SET holder = excluded.holder,
           term = CASE WHEN lease.holder = excluded.holder
                        AND lease.expires_at > excluded.renewed_at
                       THEN lease.term ELSE lease.term + 1 END,
           acquired_at = CASE WHEN lease.holder = excluded.holder
                               AND lease.expires_at > excluded.renewed_at
                              THEN lease.acquired_at ELSE excluded.acquired_at END,
           renewed_at = excluded.renewed_at,
           expires_at = excluded.expires_at
     WHERE lease.holder = excluded.holder OR lease.expires_at <= excluded.renewed_at
        OR lease.holder = ?
    RETURNING holder
"""


class Leases:
    def __init__(self, db: Database):
        self._db = db

    async def take(
        self,
        holder: str,
        now: datetime,
        ttl: timedelta,
        *,
        name: str = LEASE_NAME,
        replacing: str | None = None,
    ) -> bool:
        """Take (or keep) the lease for `ttl`. False when someone else holds a live one.

        `replacing`: a holder known to be dead (its process is gone on this very host) whose
        lease may be taken before it expires."""
        at = to_db(now)
        rows = await self._db.write(
            _TAKE, (name, holder, at, at, to_db(now + ttl), replacing or ""), fenced=False
        )
        return bool(rows)

    async def renew(
        self, holder: str, now: datetime, ttl: timedelta, *, name: str = LEASE_NAME
    ) -> bool:
        """Extend our own lease; False when it is no longer ours (taken over after expiry)."""
        rows = await self._db.write(
            """UPDATE lease SET renewed_at = ?, expires_at = ?
                WHERE name = ? AND holder = ?
            RETURNING holder""",
            (to_db(now), to_db(now + ttl), name, holder),
            fenced=False,
        )
        return bool(rows)

    async def release(self, holder: str, *, name: str = LEASE_NAME) -> bool:
        """Give the lease up at a clean stop, so the next start need not wait for expiry
        (a standby takes it at once). The row stays, holder-less and expired, with its term."""
        rows = await self._db.write(
            """UPDATE lease SET holder = '', expires_at = 0
                WHERE name = ? AND holder = ? AND holder <> ''
            RETURNING holder""",
            (name, holder),
            fenced=False,
        )
        return bool(rows)

    async def get(self, *, name: str = LEASE_NAME) -> LeaseInfo | None:
        """Who holds the lease now; None when nobody ever took it or it was released."""
        row = await self._db.fetchone("SELECT * FROM lease WHERE name = ?", (name,))
        if row is None or not row["holder"]:
            return None
        return LeaseInfo(
            row["name"],
            row["holder"],
            from_db(row["acquired_at"]),
            from_db(row["renewed_at"]),
            from_db(row["expires_at"]),
            int(row["term"]),
        )
