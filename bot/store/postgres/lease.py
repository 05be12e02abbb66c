"""The lease: one bot process acting per database, and the term that fences the others.

The same conditional upsert as SQLite's: taking succeeds when the row is free, expired, or
already ours. `term` grows by one whenever the lease is taken by a holder that did not hold it
unexpired; renewals keep it. A release keeps the row (holder '', expired) so that terms never
repeat: a term names one tenure for the database's whole life.

These statements are never fenced: they are what the fence reads. Their row locks are what
makes a takeover wait for fenced writes in flight (see `Database._check_fence`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.interface import LEASE_NAME, LeaseInfo
from bot.store.postgres.db import Database
from bot.store.sqlite.db import from_db, to_db

_TAKE = """
    INSERT INTO lease AS l (name, holder, acquired_at, renewed_at, expires_at, term)
    VALUES (?, ?, ?, ?, ?, 1)
    ON CONFLICT (name) DO UPDATE
       SET holder = excluded.holder,
           acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at > excluded.renewed_at
                              THEN l.acquired_at ELSE excluded.acquired_at END,
           renewed_at = excluded.renewed_at,
           expires_at = excluded.expires_at,
           term = CASE WHEN l.holder = excluded.holder AND l.expires_at > excluded.renewed_at
                       THEN l.term ELSE l.term + 1 END
     WHERE l.holder = excluded.holder OR l.expires_at <= excluded.renewed_at
        OR l.holder = ?
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

        `replacing`: a holder known to be dead whose lease may be taken before it expires."""
        if not holder:
            raise ValueError("a lease holder needs a name")
        at = to_db(now)
        rows = await self._db.fetchall(
            _TAKE, (name, holder, at, at, to_db(now + ttl), replacing or "")
        )
        return bool(rows)

    async def renew(
        self, holder: str, now: datetime, ttl: timedelta, *, name: str = LEASE_NAME
    ) -> bool:
        """Extend our own lease; False when it is no longer ours (taken over after expiry)."""
        rows = await self._db.fetchall(
            """UPDATE lease SET renewed_at = ?, expires_at = ?
                WHERE name = ? AND holder = ?
            RETURNING holder""",
            (to_db(now), to_db(now + ttl), name, holder),
        )
        return bool(rows)

    async def release(self, holder: str, *, name: str = LEASE_NAME) -> bool:
        """Give the lease up at a clean stop, so the next start need not wait for expiry."""
        rows = await self._db.fetchall(
            """UPDATE lease SET holder = '', expires_at = 0
                WHERE name = ? AND holder = ? AND holder <> ''
            RETURNING name""",
            (name, holder),
        )
        return bool(rows)

    async def get(self, *, name: str = LEASE_NAME) -> LeaseInfo | None:
        row = await self._db.fetchone(
            "SELECT * FROM lease WHERE name = ? AND holder <> ''", (name,)
        )
        if row is None:
            return None
        return LeaseInfo(
            row["name"],
            row["holder"],
            from_db(row["acquired_at"]),
            from_db(row["renewed_at"]),
            from_db(row["expires_at"]),
            row["term"],
        )
