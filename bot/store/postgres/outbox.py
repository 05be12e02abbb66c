"""The outbox on PostgreSQL: what only PostgreSQL says of it (the shared rest, every other
statement with the dialect's slots filled: `bot.store.common.outbox`).

A claim takes the row ``FOR UPDATE SKIP LOCKED`` in a sub-select and updates it in the same
statement: of two deliverers (or two processes) racing for a row, one gets it and the other
moves on at once instead of queueing behind the first. Every other delivery transition is one
conditional UPDATE (``WHERE key = ? AND status = ...``); under READ COMMITTED PostgreSQL
re-checks that condition on the row as the winner left it, so exactly one of two racing
transitions happens, as on SQLite.
"""

from __future__ import annotations

from datetime import datetime

from bot.plan.posts import Post
from bot.store.common.db import from_db, to_db
from bot.store.common.outbox import Outbox as _SharedOutbox
from bot.store.common.outbox import post_of

# The instant appended to round 1's reminder keys (SQLite: strftime('%Y%m%dT%H%M%SZ', ...)).
_KEY_INSTANT = "%Y%m%dT%H%M%SZ"


class Outbox(_SharedOutbox):
    """The outbox on a PostgreSQL database that several bot processes share."""

    async def upgrade_reminder_keys(self) -> int:
        upgraded = 0
        async with self._db.transaction() as tx:
            # Event DMs (``dm:<member>:<episode>:<kind>:<lead>``) too; recap DMs have no event.
            for low, high in (("reminder:", "reminder;"), ("dm:", "dm;")):
                rows = await tx.fetchall(
                    """SELECT key, event_start FROM outbox
                        WHERE key >= ? AND key < ? AND strpos(key, '@') = 0
                          AND event_start IS NOT NULL ORDER BY key FOR UPDATE""",
                    (low, high),
                )
                for row in rows:
                    instant = from_db(row["event_start"] // 1_000_000 * 1_000_000)
                    new_key = f"{row['key']}@{instant.strftime(_KEY_INSTANT)}"
                    upgraded += await tx.execute(
                        """UPDATE outbox SET key = ? WHERE key = ?
                              AND NOT EXISTS (SELECT 1 FROM outbox WHERE key = ?)""",
                        (new_key, row["key"], new_key),
                    )
        return upgraded

    async def claim(self, key: str, now: datetime) -> Post | None:
        """pending -> sending if due; the caller that gets the Post back is the one to send it."""
        at = to_db(now)
        # A row another transaction holds (a rival claim, an organiser's cancel) is skipped,
        # not waited for: the rival decides it, and a due row left pending is claimed again
        # at the next wake-up.
        rows = await self._db.write(
            """UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ?,
                      claimed_at = ?
                WHERE key = (SELECT key FROM outbox
                              WHERE key = ? AND status = 'pending' AND due_at <= ?
                                AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                                FOR UPDATE SKIP LOCKED)
            RETURNING *""",
            (at, at, key, at, at),
        )
        return post_of(rows[0]) if rows else None
