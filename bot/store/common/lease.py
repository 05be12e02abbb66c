"""The lease: one bot process acting per database, and the term that fences the others.

A row per name (holder, term, acquired, renewed, expires). Taking it is one conditional
upsert (``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE``, both backends' syntax): it
succeeds when the row is free, expired, or already ours; the term (the fencing token, issue
22) grows by one unless we held it unexpired. Renewing is a conditional update on our own
holder id and keeps the term. Releasing keeps the row (holder '', expired), so that terms
never repeat: a term names one tenure for the database's whole life.

These statements are never fenced (`Db.write_unfenced`): taking the lease is how a term
starts, and they are what the fence reads. On PostgreSQL their row locks are what makes a
takeover wait for fenced writes in flight (`bot.store.postgres.db.Database._check_fence`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.common.db import Db, from_db, to_db
from bot.store.interface import LEASE_NAME, LeaseInfo

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
    """`bot.store.interface.Leases` on either backend."""

    def __init__(self, db: Db):
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
        if not holder:  # '' is how a released row reads: nobody
            raise ValueError("a lease holder needs a name")
        at = to_db(now)
        rows = await self._db.write_unfenced(
            _TAKE, (name, holder, at, at, to_db(now + ttl), replacing or "")
        )
        return bool(rows)

    async def renew(
        self, holder: str, now: datetime, ttl: timedelta, *, name: str = LEASE_NAME
    ) -> bool:
        """Extend our own lease; False when it is no longer ours (taken over after expiry)."""
        rows = await self._db.write_unfenced(
            """UPDATE lease SET renewed_at = ?, expires_at = ?
                WHERE name = ? AND holder = ?
            RETURNING holder""",
            (to_db(now), to_db(now + ttl), name, holder),
        )
        return bool(rows)

    async def release(self, holder: str, *, name: str = LEASE_NAME) -> bool:
        """Give the lease up at a clean stop, so the next start need not wait for expiry
        (a standby takes it at once). The row stays, holder-less and expired, with its term."""
        rows = await self._db.write_unfenced(
            """UPDATE lease SET holder = '', expires_at = 0
                WHERE name = ? AND holder = ? AND holder <> ''
            RETURNING holder""",
            (name, holder),
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
