"""The outbox on SQLite: what only SQLite says of it (the rest: `bot.store.common.outbox`)."""

from __future__ import annotations

from bot.store.common.outbox import Outbox as _SharedOutbox


class Outbox(_SharedOutbox):
    """The outbox on one SQLite file."""

    async def upgrade_reminder_keys(self) -> int:
        # ``UPDATE OR IGNORE``: a row whose new key is taken already stays as it is.
        upgraded = 0
        # Event DMs (``dm:<member>:<episode>:<kind>:<lead>``) too; recap DMs have no event.
        for low, high in (("reminder:", "reminder;"), ("dm:", "dm;")):
            rows = await self._db.write(
                """UPDATE OR IGNORE outbox
                      SET key = key || '@' || strftime('%Y%m%dT%H%M%SZ', event_start / 1000000,
                                                       'unixepoch')
                    WHERE key >= ? AND key < ? AND instr(key, '@') = 0
                      AND event_start IS NOT NULL
                RETURNING key""",
                (low, high),
            )
            upgraded += len(rows)
        return upgraded
