"""The outbox table (DESIGN "Posting"): every post the bot makes on its own is a row first.

Each delivery transition is one conditional UPDATE (`... WHERE key = ? AND status = ...`), so
of two deliverers racing for a row exactly one wins, even across processes (under READ
COMMITTED PostgreSQL re-checks the condition on the row as the winner left it). What differs
between the backends is each one's `Outbox` subclass (the upgrade of old reminder keys, and
PostgreSQL's ``SKIP LOCKED`` claim) or a slot of its `Dialect`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.plan.posts import PlannedPost, Post, PostStatus, payload_hash
from bot.store.common.db import (
    Db,
    Dialect,
    Params,
    Row,
    Tx,
    from_db,
    from_db_opt,
    to_db,
    to_db_opt,
)
from bot.store.interface import DuplicateKeyError, ReconcileReport, StoreError

ANNOUNCE_SEQUENCE = "announce"
_KEYS_PER_QUERY = 500  # under SQLite's limit of bound parameters per statement
# One reconcile at a time (`Dialect.advisory_lock`'s key): two planning passes racing over a
# scope would both insert its new keys. SQLite's single writer gives this for free.
RECONCILE_LOCK = 0x616D61626F74_01


_INSERT = """
    INSERT INTO outbox (key, kind, status, due_at, deadline, event_start, channel_id, payload,
                        content_hash, subject, reason, created_by, created_at, updated_at,
                        series)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

# Keys already in the outbox are left as they are (the insert changes no row).
_INSERT_IF_NEW = _INSERT.strip().replace("INSERT INTO", "{insert_or_ignore}", 1) + "{if_new_key}"

# A pending row takes the plan's values; a new due time also drops any retry back-off.
_MOVE = """
    UPDATE outbox
       SET next_attempt_at = CASE WHEN due_at = ? THEN next_attempt_at END,
           due_at = ?, deadline = ?, event_start = ?, channel_id = ?, payload = ?,
           content_hash = ?, subject = ?, updated_at = ?
     WHERE key = ? AND status = 'pending'
"""

# The message stays where it was posted: the new payload is hashed with that channel.
_NEEDS_EDIT = """
    UPDATE outbox SET payload = ?, content_hash = ?, edit_pending = 1, updated_at = ?,
                      edit_attempts = 0, edit_next_at = NULL
     WHERE key = ? AND status = 'sent'
"""

_REVIVE = """
    UPDATE outbox
       SET status = 'pending', reason = NULL, next_attempt_at = NULL, last_error = NULL,
           due_at = ?, deadline = ?, event_start = ?, channel_id = ?, payload = ?,
           content_hash = ?, subject = ?, updated_at = ?
     WHERE key = ? AND status = 'cancelled' AND cancelled_by IS NULL
"""

_RECONCILE_SELECT = """SELECT key, status, due_at, deadline, event_start, channel_id, content_hash,
                             subject, cancelled_by, unsure, series FROM outbox"""

# An `unsure` row may already be in Discord: delivery's lookup settles it (sent, or skipped
# as late), never the plan.
_CANCEL_UNPLANNED = """
    UPDATE outbox SET status = 'cancelled', reason = ?, cancelled_by = NULL, updated_at = ?
     WHERE key = ? AND status = 'pending' AND unsure = 0
"""


class Outbox(ABC):
    """`bot.store.interface.Outbox` on either backend; each backend's subclass adds what only
    it can say (`upgrade_reminder_keys`, and PostgreSQL's claim)."""

    def __init__(self, db: Db, dialect: Dialect):
        self._db = db
        self._d = dialect

    # --- reading ---------------------------------------------------------------------------

    async def get(self, key: str) -> Post | None:
        row = await self._db.fetchone("SELECT * FROM outbox WHERE key = ?", (key,))
        return None if row is None else post_of(row)

    async def all(self) -> list[Post]:
        rows = await self._db.fetchall("SELECT * FROM outbox ORDER BY due_at, key")
        return [post_of(r) for r in rows]

    async def pending(self, limit: int | None = None, offset: int = 0) -> list[Post]:
        rows = await self._db.fetchall(
            "SELECT * FROM outbox WHERE status = 'pending' ORDER BY due_at, key LIMIT ? OFFSET ?",
            (self._d.no_limit if limit is None else limit, offset),
        )
        return [post_of(r) for r in rows]

    async def due_keys(self, now: datetime) -> list[tuple[str, str, int]]:
        """(key, kind, channel id) of the pending posts whose due time (and retry time, if
        any) has come, oldest first: what delivery needs to queue them, without decoding a
        thousand payloads on the event loop each wake-up."""
        at = to_db(now)
        rows = await self._db.fetchall(
            """SELECT key, kind, channel_id FROM outbox
                WHERE status = 'pending' AND due_at <= ?
                  AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                ORDER BY due_at, key""",
            (at, at),
        )
        return [(r["key"], r["kind"], r["channel_id"]) for r in rows]

    async def next_due_at(self) -> datetime | None:
        """The earliest moment a pending post needs attention (due time or retry time)."""
        value = await self._db.scalar(
            self._d.sql(
                "SELECT MIN({greatest}(due_at, COALESCE(next_attempt_at, due_at))) FROM outbox"
                " WHERE status = 'pending'"
            )
        )
        return from_db_opt(value)

    async def wake_times(self) -> list[tuple[str, datetime]]:
        """(key, when to look at it) for every pending post: what the scheduler should hold."""
        rows = await self._db.fetchall(
            self._d.sql(
                "SELECT key, {greatest}(due_at, COALESCE(next_attempt_at, due_at)) AS wake"
                " FROM outbox WHERE status = 'pending' ORDER BY wake, key"
            )
        )
        return [(r["key"], from_db(r["wake"])) for r in rows]

    async def recent(self, statuses: Iterable[PostStatus], limit: int = 20) -> list[Post]:
        """The latest changed posts in these statuses, newest first."""
        wanted = [PostStatus(s).value for s in statuses]
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        rows = await self._db.fetchall(
            f"SELECT * FROM outbox WHERE status IN ({marks})"  # noqa: S608 - only '?' marks
            " ORDER BY updated_at DESC, key LIMIT ?",
            (*wanted, limit),
        )
        return [post_of(r) for r in rows]

    async def counts(self) -> dict[PostStatus, int]:
        rows = await self._db.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        counts = dict.fromkeys(PostStatus, 0)
        counts.update({PostStatus(r[0]): r[1] for r in rows})
        return counts

    async def keys_with_prefix(
        self, prefix: str, statuses: Iterable[PostStatus] | None = None
    ) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT key, status FROM outbox WHERE substr(key, 1, ?) = ? ORDER BY due_at, key",
            (len(prefix), prefix),
        )
        wanted = None if statuses is None else {PostStatus(s) for s in statuses}
        return [r["key"] for r in rows if wanted is None or PostStatus(r["status"]) in wanted]

    async def unsent_or_sent_since(
        self, prefix: str, since: datetime, *, series: str | None = None
    ) -> list[Post]:
        """Rows under `prefix` still to go out (pending, sending) or sent at or after `since`,
        by due time: the recap announcements that members' recap DMs follow. With `series`,
        that series' rows only."""
        rows = await self._db.fetchall(
            """SELECT * FROM outbox
                WHERE substr(key, 1, ?) = ?
                  AND (status IN ('pending', 'sending') OR (status = 'sent' AND sent_at >= ?))
                ORDER BY due_at, key""",
            (len(prefix), prefix, to_db(since)),
        )
        return [post_of(r) for r in rows if series is None or r["series"] == series]

    async def edits_pending(self, now: datetime | None = None) -> list[Post]:
        """Sent rows whose message needs an edit; with `now`, only those not backing off."""
        rows = await self._db.fetchall(
            self._d.sql(
                """SELECT * FROM outbox WHERE edit_pending = 1 AND status = 'sent'
                 AND (?{bigint} IS NULL OR edit_next_at IS NULL OR edit_next_at <= ?)
               ORDER BY updated_at"""
            ),
            (to_db_opt(now), to_db_opt(now)),
        )
        return [post_of(r) for r in rows]

    # --- planning writes -------------------------------------------------------------------

    async def reconcile(
        self,
        planned: Iterable[PlannedPost],
        *,
        scope: str,
        now: datetime,
        reason_missing: str = "no longer planned",
        only: Iterable[str] | None = None,
        series: str | None = None,
    ) -> ReconcileReport:
        """Make the rows whose key starts with `scope` match the plan, in one transaction.

        With `series`, only that series' rows are looked at (another series' rows under the
        same scope are never cancelled, moved or touched) and the plan's posts are written
        as that series'.

        With `only`, just those keys are looked at (the plan must lie within them): an
        incremental plan of the few recaps a merge touched, not the whole archive.

        New key: pending. Pending and changed: updated in place. Sent and changed: new
        payload stored and flagged for an edit. Pending but no longer planned: cancelled.
        Cancelled by planning and planned again: pending again. Cancelled by an organiser,
        skipped and failed rows are left alone.
        """
        plan = _checked_plan(planned, scope, series)
        changes = _ReconcileChanges(ReconcileReport(scope), to_db(now))
        keys = None if only is None else sorted(set(only))
        if keys is not None and not set(plan) <= set(keys):
            raise ValueError("an incremental plan must lie within its `only` keys")
        async with self._db.transaction() as tx:
            if self._d.advisory_lock:
                await tx.execute(self._d.advisory_lock, (RECONCILE_LOCK,))
            existing = await _rows_in_scope(self._d, tx, scope, keys)
            if series is not None:
                existing = {k: r for k, r in existing.items() if r["series"] == series}
            for key, post in plan.items():
                changes.plan(key, post, existing.get(key))
            for key, row in existing.items():
                if key not in plan:
                    changes.unplanned(key, row, reason_missing)
            await changes.apply(tx)
        return changes.report

    async def sent_with_event_after(
        self, prefix: str, after: datetime, *, series: str | None = None
    ) -> list[Post]:
        """Sent rows under `prefix` whose event starts after `after`: the reminders a
        reschedule or a cancellation may have to follow up. With `series`, that series'."""
        rows = await self._db.fetchall(
            """SELECT * FROM outbox
                WHERE key >= ? AND key < ? AND status = 'sent' AND event_start > ?
                ORDER BY due_at, key""",
            (*_prefix_range(prefix), to_db(after)),
        )
        return [post_of(r) for r in rows if series is None or r["series"] == series]

    async def series_with_pending(self) -> set[str]:
        """The series of the rows still to go out (pending), "" included when some have none."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT series FROM outbox WHERE status = 'pending'"
        )
        return {r["series"] for r in rows}

    async def cancel_series(self, series: str, reason: str, now: datetime) -> list[str]:
        """A series gone from the config: its pending rows cancelled with `reason` (those
        surely unsent: an unsure row is settled by delivery's lookup); its history stays."""
        rows = await self._db.write(
            """UPDATE outbox SET status = 'cancelled', reason = ?, cancelled_by = NULL,
                                 updated_at = ?
                WHERE series = ? AND status = 'pending' AND unsure = 0 RETURNING key""",
            (reason, to_db(now), series),
        )
        return sorted(r["key"] for r in rows)

    async def request_edit(self, key: str, payload: dict[str, Any], now: datetime) -> bool:
        """Store a new payload for a sent post and flag it for an edit, unless it already
        holds exactly that payload (so asking twice edits once)."""
        row = await self._db.fetchone(
            "SELECT channel_id FROM outbox WHERE key = ? AND status = 'sent'", (key,)
        )
        if row is None:
            return False
        new_hash = payload_hash(payload, row["channel_id"])
        return await self._update(
            """UPDATE outbox SET payload = ?, content_hash = ?, edit_pending = 1, updated_at = ?
                WHERE key = ? AND status = 'sent' AND content_hash != ?""",
            (_json(payload), new_hash, to_db(now), key, new_hash),
        )

    @abstractmethod
    async def upgrade_reminder_keys(self) -> int:
        """Give round-1 reminder and DM rows (``reminder:<episode>:<kind>:<offset>``, no instant)
        the instant of the event they were planned for, from their own `event_start`, so a
        database from the previous version keeps working: a sent reminder is not sent again
        under its new-style key. Idempotent; a no-op once done. A row whose new key is taken
        already stays as it is. Each backend's own statements."""

    async def insert_skipped(
        self, planned: PlannedPost | Iterable[PlannedPost], reason: str, now: datetime
    ) -> list[str]:
        """Record posts (one or many) as deliberately not sent (e.g. the backlog on the first
        start). Keys already in the outbox are left as they are; returns the keys inserted."""
        if isinstance(planned, PlannedPost):
            planned = [planned]
        at = to_db(now)
        inserted: list[str] = []
        async with self._db.transaction() as tx:
            for post in planned:
                changed = await tx.execute(
                    self._d.sql(_INSERT_IF_NEW),
                    _insert_params(post, PostStatus.SKIPPED, reason, at),
                )
                if changed:
                    inserted.append(post.key)
        return inserted

    async def add(self, planned: PlannedPost, now: datetime) -> Post:
        """Insert one pending post (an organiser's announcement); the key must be new."""
        try:
            await self._db.write(
                _INSERT, _insert_params(planned, PostStatus.PENDING, None, to_db(now))
            )
        except self._d.unique_violation as exc:
            raise DuplicateKeyError(f"a post with key {planned.key!r} already exists") from exc
        post = await self.get(planned.key)
        if post is None:  # only if someone deleted it in between: no code path does
            raise StoreError(f"post {planned.key!r} vanished right after being added")
        return post

    async def next_announcement_id(self) -> int:
        """1, 2, 3 ... for `announce:<id>` keys; never reused, also across restarts."""
        rows = await self._db.write(
            """INSERT INTO sequences (name, value) VALUES (?, 1)
               ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1
               RETURNING value""",
            (ANNOUNCE_SEQUENCE,),
        )
        return int(rows[0][0])

    # --- delivery transitions --------------------------------------------------------------

    async def claim(self, key: str, now: datetime) -> Post | None:
        """pending -> sending if due; the caller that gets the Post back is the one to send it."""
        at = to_db(now)
        rows = await self._db.write(
            """UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ?,
                      claimed_at = ?
                WHERE key = ? AND status = 'pending' AND due_at <= ?
                  AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
            RETURNING *""",
            (at, at, key, at, at),
        )
        return post_of(rows[0]) if rows else None

    async def note_attempt(
        self, key: str, target_channel_id: int, variants: list[dict[str, Any]], now: datetime
    ) -> bool:
        """Just before a send: where it goes and every variant put on the wire so far. From
        here until the outcome is recorded the row is `unsure`: a crash, an unclear 5xx or a
        timeout is settled by looking in that channel's history, from `attempt_since` on."""
        return await self._update(
            """UPDATE outbox SET unsure = 1, attempt_since = COALESCE(attempt_since, ?),
                      target_channel_id = ?, variants = ?, updated_at = ?
                WHERE key = ? AND status = 'sending'""",
            (to_db(now), target_channel_id, _json(variants), to_db(now), key),
        )

    async def mark_sent(
        self, key: str, message_id: int, now: datetime, *, publish: bool = False
    ) -> bool:
        """sending -> sent (`now`: when Discord took it). Also from cancelled: an organiser may
        cancel while the send is in flight, and once the message exists the row must say so,
        or it could be revived and posted twice. With `publish`, the crosspost is queued in
        the same write, so a crash cannot lose it."""
        return await self._update(
            """UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, updated_at = ?,
                      last_error = NULL, next_attempt_at = NULL, claimed_at = NULL, unsure = 0,
                      publish_status = CASE WHEN ? THEN 'pending' ELSE publish_status END,
                      publish_next_at = CASE WHEN ? THEN ? ELSE publish_next_at END
                WHERE key = ? AND status IN ('sending', 'cancelled')""",
            (message_id, to_db(now), to_db(now), publish, publish, to_db(now), key),
        )

    async def mark_failed(self, key: str, reason: str, now: datetime) -> bool:
        """pending/sending -> failed for good (Discord refused: 403, 404)."""
        return await self._finish(key, PostStatus.FAILED, reason, now)

    async def mark_skipped(self, key: str, reason: str, now: datetime) -> bool:
        """pending/sending -> skipped on purpose (too late, skipped week)."""
        return await self._finish(key, PostStatus.SKIPPED, reason, now)

    async def retry_later(
        self,
        key: str,
        error: str,
        next_attempt_at: datetime,
        now: datetime,
        *,
        unsure: bool | None = None,
        count_attempt: bool = True,
    ) -> bool:
        """sending -> pending, not claimable before next_attempt_at. `unsure`: whether an
        attempt may have reached Discord (None: leave as recorded). `count_attempt=False`
        gives the claim's attempt back (nothing was tried: e.g. the token was refused)."""
        return await self._update(
            """UPDATE outbox SET status = 'pending', last_error = ?, next_attempt_at = ?,
                      updated_at = ?, claimed_at = NULL, unsure = COALESCE(?, unsure),
                      attempts = attempts - ?
                WHERE key = ? AND status = 'sending'""",
            (
                error,
                to_db(next_attempt_at),
                to_db(now),
                None if unsure is None else int(unsure),
                0 if count_attempt else 1,
                key,
            ),
        )

    async def cancel(self, key: str, reason: str, now: datetime, by: int | None = None) -> bool:
        """pending/sending -> cancelled. `by` is the organiser; a post cancelled by an
        organiser stays cancelled, one cancelled by planning (by=None) may be planned again."""
        return await self._update(
            """UPDATE outbox SET status = 'cancelled', reason = ?, cancelled_by = ?, updated_at = ?
                WHERE key = ? AND status IN ('pending', 'sending')""",
            (reason, by, to_db(now), key),
        )

    async def retry_refused(
        self, channel_ids: Iterable[int], now: datetime
    ) -> tuple[list[str], list[str]]:
        """After a permission is fixed: posts Discord refused with a 403 in these channels go
        back to pending if still within their deadline, else are recorded as skipped with both
        reasons. (revived keys, skipped keys)."""
        ids = sorted(set(channel_ids))
        if not ids:
            return [], []
        marks = ", ".join("?" * len(ids))
        refused = (
            f"status = 'failed' AND kind != 'dm' AND reason LIKE '403%' AND channel_id IN ({marks})"
        )
        at = to_db(now)
        async with self._db.transaction() as tx:
            revived = await tx.fetchall(
                f"""UPDATE outbox SET status = 'pending', reason = NULL, next_attempt_at = NULL,
                          last_error = reason, updated_at = ?
                     WHERE {refused} AND (deadline IS NULL OR deadline >= ?)
                 RETURNING key""",  # noqa: S608 - only '?' marks
                (at, *ids, at),
            )
            skipped = await tx.fetchall(
                f"""UPDATE outbox SET status = 'skipped', updated_at = ?,
                          reason = reason || '; then past its deadline when the permission '
                                 || 'came back'
                     WHERE {refused} AND deadline < ?
                 RETURNING key""",  # noqa: S608 - only '?' marks
                (at, *ids, at),
            )
        return [r["key"] for r in revived], [r["key"] for r in skipped]

    async def recover_sending(self, now: datetime) -> list[Post]:
        """At start-up (under the lease, so no other process is sending): every row left in
        `sending` goes back to pending. A row whose send was already on its way stays
        `unsure`, so delivery looks in Discord's history before it sends again."""
        rows = await self._db.write(
            """UPDATE outbox SET status = 'pending', next_attempt_at = NULL, claimed_at = NULL,
                      updated_at = ?
                WHERE status = 'sending'
            RETURNING *""",
            (to_db(now),),
        )
        return sorted((post_of(r) for r in rows), key=lambda p: (p.due_at, p.key))

    async def stuck(self, claimed_before: datetime) -> list[Post]:
        """Rows in `sending` whose claim is older than `claimed_before` (a record step that
        failed, a wake-up that died): the periodic sweep recovers them."""
        rows = await self._db.fetchall(
            """SELECT * FROM outbox WHERE status = 'sending'
                 AND COALESCE(claimed_at, updated_at) < ? ORDER BY due_at, key""",
            (to_db(claimed_before),),
        )
        return [post_of(r) for r in rows]

    async def recover_stuck(self, key: str, claimed_before: datetime, now: datetime) -> bool:
        """One stuck row back to pending, if it is still stuck (its `unsure` flag stays)."""
        return await self._update(
            """UPDATE outbox SET status = 'pending', next_attempt_at = NULL, claimed_at = NULL,
                      updated_at = ?
                WHERE key = ? AND status = 'sending' AND COALESCE(claimed_at, updated_at) < ?""",
            (to_db(now), key, to_db(claimed_before)),
        )

    async def overdue(self, now: datetime, late_by: datetime) -> list[Post]:
        """Pending rows due before `late_by` (still not out), and `sending` rows claimed before
        it: what /healthz reports."""
        rows = await self._db.fetchall(
            """SELECT * FROM outbox
                WHERE (status = 'pending' AND due_at < ?)
                   OR (status = 'sending' AND COALESCE(claimed_at, updated_at) < ?)
                ORDER BY due_at, key LIMIT 20""",
            (to_db(late_by), to_db(late_by)),
        )
        return [post_of(r) for r in rows]

    async def dm_channel_of(self, member_id: int) -> int | None:
        """The DM channel an earlier ``dm:`` row of this member went to (Discord keeps one
        per member): a restart need not open it again (opening DMs is rate limited, 40003)."""
        prefix = f"dm:{int(member_id)}:"
        value = await self._db.scalar(
            """SELECT target_channel_id FROM outbox
                WHERE substr(key, 1, ?) = ? AND target_channel_id IS NOT NULL
                ORDER BY updated_at DESC LIMIT 1""",
            (len(prefix), prefix),
        )
        return None if value is None else int(value)

    async def owner_of_message(self, message_id: int) -> str | None:
        """The row that recorded this Discord message as its own, if any."""
        return await self._db.text(
            "SELECT key FROM outbox WHERE message_id = ? LIMIT 1", (message_id,)
        )

    async def add_once(self, planned: PlannedPost, now: datetime) -> bool:
        """Insert one pending post unless its key exists (an organiser alert: one per post)."""
        changed = await self._db.write(
            self._d.sql(_INSERT_IF_NEW + " RETURNING key"),
            _insert_params(planned, PostStatus.PENDING, None, to_db(now)),
        )
        return bool(changed)

    # --- publishing (crossposts), paced per channel ---------------------------------------

    async def publishes_due(self, now: datetime) -> list[Post]:
        rows = await self._db.fetchall(
            """SELECT * FROM outbox WHERE publish_status = 'pending'
                 AND COALESCE(publish_next_at, 0) <= ? ORDER BY sent_at, key""",
            (to_db(now),),
        )
        return [post_of(r) for r in rows]

    async def published_since(self, channel_id: int, since: datetime) -> list[datetime]:
        """When this channel's posts were published since `since`, oldest first."""
        # The publish_status term (every value its CHECK allows: a published post has one)
        # lets SQLite seek the outbox_publish index instead of scanning the whole outbox:
        # one publish per merge must not cost more with 10,000 old rows.
        rows = await self._db.fetchall(
            """SELECT published_at FROM outbox
                WHERE publish_status IN ('pending', 'done', 'dropped', 'failed')
                  AND channel_id = ? AND published_at IS NOT NULL AND published_at >= ?
                ORDER BY published_at""",
            (channel_id, to_db(since)),
        )
        return [from_db(r[0]) for r in rows]

    async def publish_later(
        self, key: str, when: datetime, reason: str, now: datetime, *, attempt: bool
    ) -> bool:
        return await self._update(
            """UPDATE outbox SET publish_next_at = ?, publish_reason = ?, updated_at = ?,
                      publish_attempts = publish_attempts + ?
                WHERE key = ? AND publish_status = 'pending'""",
            (to_db(when), reason, to_db(now), int(attempt), key),
        )

    async def publish_done(
        self, key: str, status: str, now: datetime, reason: str | None = None
    ) -> bool:
        """pending -> done (published now), dropped (stale) or failed (with the reason)."""
        return await self._update(
            """UPDATE outbox SET publish_status = ?, publish_reason = ?, updated_at = ?,
                      published_at = CASE WHEN ?{text} = 'done' THEN ? ELSE published_at END,
                      publish_next_at = NULL
                WHERE key = ? AND publish_status = 'pending'""",
            (status, reason, to_db(now), status, to_db(now), key),
        )

    async def mark_edited(
        self,
        key: str,
        now: datetime,
        *,
        content_hash: str | None = None,
        error: str | None = None,
    ) -> bool:
        """The pending edit is done (or given up, with `error`). With `content_hash`, only if
        the payload has not changed again since it was read: that newer edit stays pending."""
        return await self._update(
            """UPDATE outbox SET edit_pending = 0, last_error = ?, updated_at = ?,
                      edit_attempts = 0, edit_next_at = NULL
                WHERE key = ? AND edit_pending = 1 AND (?{text} IS NULL OR content_hash = ?)""",
            (error, to_db(now), key, content_hash, content_hash),
        )

    async def shown(self, key: str, payload: dict[str, Any], now: datetime) -> bool:
        """A sent post's message now shows `payload` (edited through the answer to a click on
        it, not by delivery): remember it, so planning the same payload asks for no edit. An
        edit already pending stays pending (it then sends this payload)."""
        row = await self._db.fetchone(
            "SELECT channel_id FROM outbox WHERE key = ? AND status = 'sent'", (key,)
        )
        if row is None:
            return False
        return await self._update(
            "UPDATE outbox SET payload = ?, content_hash = ?, updated_at = ? "
            "WHERE key = ? AND status = 'sent'",
            (_json(payload), payload_hash(payload, row["channel_id"]), to_db(now), key),
        )

    async def edit_later(self, key: str, when: datetime, error: str, now: datetime) -> bool:
        """An edit Discord refused for now (30046, 20022, 429, 5xx): not before `when`."""
        return await self._update(
            """UPDATE outbox SET edit_next_at = ?, last_error = ?, updated_at = ?,
                      edit_attempts = edit_attempts + 1
                WHERE key = ? AND edit_pending = 1""",
            (to_db(when), error, to_db(now), key),
        )

    async def _finish(self, key: str, status: PostStatus, reason: str, now: datetime) -> bool:
        return await self._update(
            """UPDATE outbox SET status = ?, reason = ?, next_attempt_at = NULL, updated_at = ?
                WHERE key = ? AND status IN ('pending', 'sending')""",
            (status.value, reason, to_db(now), key),
        )

    async def _update(self, sql: str, params: Params) -> bool:
        """One conditional UPDATE (its ``{slots}`` filled); True when it changed the row."""
        rows = await self._db.write(self._d.sql(sql.strip() + " RETURNING key"), params)
        return bool(rows)


# --- reconcile's steps ---------------------------------------------------------------------


def _checked_plan(
    planned: Iterable[PlannedPost], scope: str, series: str | None = None
) -> dict[str, PlannedPost]:
    """The plan by key; every key within `scope`, none twice; with `series`, every post that
    series' (stamped with it when the planner left it out)."""
    if not scope:
        raise ValueError("reconcile needs a non-empty key scope such as 'reminder:'")
    plan: dict[str, PlannedPost] = {}
    for post in planned:
        if series is not None and post.series != series:
            if post.series:
                raise ValueError(f"planned post {post.key!r} is of series {post.series!r}")
            post = replace(post, series=series)
        if not post.key.startswith(scope):
            raise ValueError(f"planned post {post.key!r} is outside the scope {scope!r}")
        if post.key in plan:
            raise ValueError(f"planned post {post.key!r} appears twice in the plan")
        plan[post.key] = post
    return plan


async def _rows_in_scope(d: Dialect, tx: Tx, scope: str, keys: list[str] | None) -> dict[str, Row]:
    """The outbox rows under `scope` (only those of `keys`, when given), by key."""
    if keys is None:
        # A key range, not substr(): the primary key's index answers it, so planning
        # the reminders does not read the 10,000 recap rows.
        rows = await tx.fetchall(
            f"{_RECONCILE_SELECT} WHERE key >= ? AND key < ?", _prefix_range(scope)
        )
    else:
        rows = []
        for i in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[i : i + _KEYS_PER_QUERY]
            if d.array_params:  # one array parameter: one statement to prepare, not one per size
                rows.extend(await tx.fetchall(f"{_RECONCILE_SELECT} WHERE key = ANY(?)", (chunk,)))
                continue
            marks = ", ".join("?" * len(chunk))
            rows.extend(await tx.fetchall(f"{_RECONCILE_SELECT} WHERE key IN ({marks})", chunk))
    return {r["key"]: r for r in rows if r["key"].startswith(scope)}


class _ReconcileChanges:
    """The writes one reconcile decided, batched per statement, and its report."""

    def __init__(self, report: ReconcileReport, at: int):
        self.report = report
        self._at = at
        self._inserts: list[tuple[Any, ...]] = []
        self._moves: list[tuple[Any, ...]] = []
        self._edits: list[tuple[Any, ...]] = []
        self._revives: list[tuple[Any, ...]] = []
        self._cancels: list[tuple[Any, ...]] = []

    def plan(self, key: str, post: PlannedPost, row: Row | None) -> None:
        """A planned post against its row (None: not in the outbox yet)."""
        at, report = self._at, self.report
        status = None if row is None else PostStatus(row["status"])
        if row is None:
            self._inserts.append(_insert_params(post, PostStatus.PENDING, None, at))
            report.inserted.append(key)
        elif status is PostStatus.PENDING and _differs(row, post):
            self._moves.append((to_db(post.due_at), *_plan_values(post), at, key))
            report.moved.append(key)
        elif status is PostStatus.SENT:
            new_hash = post.hash_for(row["channel_id"])
            if new_hash != row["content_hash"]:
                self._edits.append((_json(post.payload), new_hash, at, key))
                report.edit_needed.append(key)
            else:
                report.unchanged += 1
        elif status is PostStatus.CANCELLED and row["cancelled_by"] is None:
            self._revives.append((*_plan_values(post), at, key))
            report.revived.append(key)
        else:
            report.unchanged += 1

    def unplanned(self, key: str, row: Row, reason: str) -> None:
        """A row in scope the plan no longer has: cancelled if pending and surely unsent."""
        if row["status"] == PostStatus.PENDING and not row["unsure"]:
            self._cancels.append((reason, self._at, key))
            self.report.cancelled.append(key)

    async def apply(self, tx: Tx) -> None:
        await tx.executemany(_INSERT, self._inserts)
        await tx.executemany(_MOVE, self._moves)
        await tx.executemany(_NEEDS_EDIT, self._edits)
        await tx.executemany(_REVIVE, self._revives)
        await tx.executemany(_CANCEL_UNPLANNED, self._cancels)


def _prefix_range(prefix: str) -> tuple[str, str]:
    """(low, high) such that `low <= key < high` is "key starts with prefix" (binary order)."""
    if not prefix:
        raise ValueError("an empty key prefix")
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _json(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _plan_values(post: PlannedPost) -> tuple[Any, ...]:
    """due_at, deadline, event_start, channel_id, payload, content_hash, subject."""
    return (
        to_db(post.due_at),
        to_db_opt(post.deadline),
        to_db_opt(post.event_start),
        post.channel_id,
        _json(post.payload),
        post.content_hash,
        post.subject,
    )


def _insert_params(
    post: PlannedPost, status: PostStatus, reason: str | None, at: int
) -> tuple[Any, ...]:
    return (
        post.key,
        post.kind,
        status.value,
        *_plan_values(post),
        reason,
        post.created_by,
        at,
        at,
        post.series,
    )


def _differs(row: Row, post: PlannedPost) -> bool:
    return bool(
        row["due_at"] != to_db(post.due_at)
        or row["deadline"] != to_db_opt(post.deadline)
        or row["event_start"] != to_db_opt(post.event_start)
        or row["channel_id"] != post.channel_id
        or row["content_hash"] != post.content_hash
        or row["subject"] != post.subject
    )


def post_of(row: Row) -> Post:
    """A row of the outbox as the `Post` the rest of the bot reads."""
    return Post(
        key=row["key"],
        kind=row["kind"],
        due_at=from_db(row["due_at"]),
        channel_id=row["channel_id"],
        payload=json.loads(row["payload"]),
        status=PostStatus(row["status"]),
        content_hash=row["content_hash"],
        deadline=from_db_opt(row["deadline"]),
        event_start=from_db_opt(row["event_start"]),
        subject=row["subject"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        reason=row["reason"],
        message_id=row["message_id"],
        created_by=row["created_by"],
        cancelled_by=row["cancelled_by"],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        sent_at=from_db_opt(row["sent_at"]),
        extra=json.loads(row["extra"]),
        next_attempt_at=from_db_opt(row["next_attempt_at"]),
        edit_pending=bool(row["edit_pending"]),
        claimed_at=from_db_opt(row["claimed_at"]),
        attempt_since=from_db_opt(row["attempt_since"]),
        target_channel_id=row["target_channel_id"],
        variants=tuple(json.loads(row["variants"])),
        unsure=bool(row["unsure"]),
        publish_status=row["publish_status"],
        publish_attempts=row["publish_attempts"],
        published_at=from_db_opt(row["published_at"]),
        publish_reason=row["publish_reason"],
        edit_attempts=row["edit_attempts"],
        edit_next_at=from_db_opt(row["edit_next_at"]),
        series=row["series"],
    )
