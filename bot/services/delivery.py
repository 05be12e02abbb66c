"""The outbox dispatcher: claims due posts, sends each once, records the outcome.

Discord-free: it talks to a `Sender` (the Discord one lives in bot/discord/sender.py), so the
whole state machine is tested with a real SQLite file and a recording sender.

Exactly once rests on these (issue 14):
- a post is claimed with a conditional UPDATE (pending -> sending), so two wake-ups for the
  same key cannot both send; one process per database holds the lease (bot/store/lease.py);
- before a send, the row records where it goes and the exact variant put on the wire
  (planned, "(delayed)", "live now") and turns `unsure`;
- an unsure row (a crash, an unclear 5xx, a timeout) is settled by looking in that channel's
  history (DMs too) from the first attempt on, paged, matching any recorded variant. A post
  found is recorded sent with Discord's time, never skipped; a lookup that fails is retried
  later, never read as "not sent". The nonce (`enforce_nonce`) still guards the few minutes
  Discord honours it;
- every exit from `sending` is recorded, each write retried; a sweep returns rows whose claim
  is older than `stuck_after` to pending (their `unsure` flag kept);
- publishing (crossposts) is its own queue, paced per channel and outside the send lock;
  edits back off per post; a refused token (401) stops delivery with the rows untouched.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.durations import short_duration
from bot.plan.kinds import Target, declared, dm_recipient
from bot.plan.late import Action, Decision, late_decision
from bot.plan.posts import Post
from bot.render.messages import mark_delayed
from bot.services.metrics import BotMetrics
from bot.store import Outbox
from bot.store.interface import FencedOut

log = logging.getLogger("amabot.delivery")

# Transient failures back off exponentially up to this cap; the row stays pending meanwhile.
MAX_BACKOFF = timedelta(minutes=10)
FIRST_BACKOFF = timedelta(seconds=2)
MIN_BACKOFF = timedelta(milliseconds=500)
# A claim older than this, with no send of ours in flight, is recovered by the sweep.
STUCK_AFTER = timedelta(minutes=2)
# History is read from the first attempt minus this (clocks of the bot and Discord differ).
LOOKUP_MARGIN = timedelta(minutes=1)
# A failed record step (database locked, disk full) is tried again this many times at once.
RECORD_TRIES = 5
RECORD_FIRST_WAIT = 0.05  # seconds, x4 per try
# Edits Discord refuses for now (30046, 20022, 429, 5xx): much later, a few times, then given up.
EDIT_FIRST_BACKOFF = timedelta(minutes=15)
EDIT_MAX_BACKOFF = timedelta(hours=6)
EDIT_MAX_ATTEMPTS = 5
# Publishing: Discord allows about 10 crossposts per hour per announcement channel.
PUBLISH_PER_HOUR = 10
PUBLISH_MAX_ATTEMPTS = 8
PUBLISH_FIRST_BACKOFF = timedelta(seconds=30)
# A publish of a post with no event (a recap) is pointless after this.
PUBLISH_STALE_AFTER = timedelta(hours=24)
# 40003 "opening direct messages too fast": the gap between DMs grows up to this.
DM_MAX_INTERVAL = timedelta(seconds=60)
DM_FIRST_INTERVAL = timedelta(seconds=2)
DM_RATE_CODE = 40003
ALREADY_CROSSPOSTED = 40033


class PermanentSendError(Exception):
    """Discord refused for good (403 missing permission, 404 deleted channel, 400 bad body)."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class TransientSendError(Exception):
    """Worth retrying later (429 beyond discord.py's own retries, 5xx, network).

    `maybe_sent`: the request may have taken effect although the answer says otherwise (a
    5xx, a dropped connection, a timeout): the next attempt looks in the history first."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        maybe_sent: bool = False,
        code: int = 0,
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        self.code = code


class HistoryUnreadable(PermanentSendError):
    """The channel's history cannot be read (no Read Message History: Discord answers an
    empty list), so whether an earlier attempt landed cannot be known. The post is not
    resent blind: it is recorded failed with the reason and the organisers are told."""


class AuthenticationError(Exception):
    """Discord refused the bot's token (401): nothing can be sent until a new one is set."""


class LeaseGuard(Protocol):
    """The lease as delivery sees it (bot/discord/lease.py): asked before each send, told
    when a write was fenced out (another process holds the lease now)."""

    def may_send(self) -> str | None: ...  # None: go; else why not
    def fenced_out(self, error: FencedOut) -> None: ...


class Sender(Protocol):
    async def send(self, channel_id: int, payload: dict[str, Any], *, nonce: str) -> int: ...

    async def find_sent(
        self, channel_id: int, variants: list[dict[str, Any]], *, since: datetime
    ) -> list[tuple[int, datetime]]:
        """The bot's own messages in `channel_id` since `since` that match one of `variants`
        (see `matches_variant`), oldest first, with the time Discord took each. Raises
        TransientSendError when the history cannot be read (never "found nothing")."""
        ...

    async def edit(self, channel_id: int, message_id: int, payload: dict[str, Any]) -> None: ...

    async def publish(self, channel_id: int, message_id: int) -> None: ...

    async def is_announcement_channel(self, channel_id: int) -> bool: ...

    async def open_dm(self, member_id: int) -> int:
        """The DM channel with a member, for ``dm:`` posts (channel_id 0 in the outbox)."""
        ...


# The message to send for a decision: the planned payload, marked "(delayed)", or "live now".
PayloadFor = Callable[[Decision, Post], dict[str, Any] | None]
FailureHook = Callable[[Post, str], Awaitable[None]]
# Told the time a post backing off should be looked at again (the scheduler's wake-up).
RetryHook = Callable[[str, datetime], None]
# Told once when delivery stops for good in this process (the token was refused).
StopHook = Callable[[str], None]

PROBLEMS_KEPT = 50


def variant_of(payload: dict[str, Any]) -> dict[str, Any]:
    """What identifies a sent message in history: its text and its embeds' titles and
    descriptions (history returns no nonces, and Discord trims the content's edges), and the
    names of the files it carries (our payload's ``files``, history's ``attachments``: Discord
    keeps a file's name, while the embed's ``attachment://`` image comes back as a CDN URL)."""
    variant: dict[str, Any] = {
        "content": str(payload.get("content") or "").strip(),
        "embeds": [
            [str(e.get("title") or ""), str(e.get("description") or "").strip()]
            for e in payload.get("embeds") or []
        ],
    }
    files = payload.get("files") or payload.get("attachments") or []
    names = sorted(str(f.get("filename") or "") for f in files if isinstance(f, dict))
    if names:  # absent when none, so variants recorded before files were named still match
        variant["files"] = names
    return variant


def matches_variant(message: dict[str, Any], variants: Iterable[dict[str, Any]]) -> bool:
    """Whether a history message is one of the recorded variants: the same text and embeds,
    and no file the variant did not carry (a file the sender could not read at send time
    went out without it, so fewer is fine)."""
    seen = variant_of(message)
    seen_files = set(seen.pop("files", ()))
    for v in variants:
        if not (v.get("content") or v.get("embeds")):
            continue
        if {"content": v.get("content"), "embeds": v.get("embeds")} != seen:
            continue
        if "files" not in v or seen_files <= set(v["files"]):
            return True
    return False


@dataclass(frozen=True, slots=True)
class DeliveryProblem:
    """Something delivery could not do, kept for /healthz: a failed send, edit or publish."""

    at: datetime
    key: str
    action: str  # "send", "edit", "publish", "lookup", "record"
    channel_id: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "key": self.key,
            "action": self.action,
            "channel_id": self.channel_id,
            "reason": self.reason,
        }


@dataclass
class DeliveryStats:
    sent: int = 0
    found: int = 0  # settled by the history lookup: Discord had it already
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    edited: int = 0
    published: int = 0
    recovered: int = 0  # stuck claims the sweep returned to pending
    lateness: list[float] = field(default_factory=list)  # seconds, sent minus due


@dataclass
class DeliveryPolicy:
    """The knobs (config `[announcements] publish_per_hour`, and the publish settings a
    post kind may name, such as `[reminders] publish`: bot/plan/kinds.py)."""

    stuck_after: timedelta = STUCK_AFTER
    publish_per_hour: int = PUBLISH_PER_HOUR
    # The names of the publish settings that are on (`kinds.publish_settings_on(settings)`).
    publish_settings: frozenset[str] = frozenset()
    edit_first_backoff: timedelta = EDIT_FIRST_BACKOFF
    edit_max_attempts: int = EDIT_MAX_ATTEMPTS
    publish_max_attempts: int = PUBLISH_MAX_ATTEMPTS


class DmPacer:
    """Spaces DM sends after Discord said 40003 (opening DMs too fast). Clock-based, never
    sleeps: a DM whose turn has not come is retried at its turn. Speeds up again after a
    run of successes."""

    def __init__(self) -> None:
        self.interval = timedelta(0)
        self._next: datetime | None = None
        self._ok = 0

    def turn(self, now: datetime) -> datetime | None:
        """None: go now (and hold the next turn). Else when to try again."""
        if self._next is not None and now < self._next:
            return self._next
        self._next = now + self.interval if self.interval else None
        return None

    def slow_down(self, now: datetime) -> datetime:
        self.interval = min(max(self.interval * 2, DM_FIRST_INTERVAL), DM_MAX_INTERVAL)
        self._ok = 0
        self._next = now + self.interval
        return self._next

    def went_out(self) -> None:
        self._ok += 1
        if self.interval and self._ok >= 20:
            self._ok = 0
            self.interval = self.interval / 2
            if self.interval < timedelta(milliseconds=250):
                self.interval = timedelta(0)


class _RecordFailed(Exception):
    """A database write failed RECORD_TRIES times; the sweep settles the row later."""


class Dispatcher:
    """Sends due posts: in due order within a channel, channels side by side.

    Every wake-up, sweep and content change ends in `deliver_due()`. Within one channel a lock
    makes the sends strictly sequential and oldest first (ten recaps merged at once arrive in
    their order); a slow or refusing channel never holds up another one.
    """

    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        *,
        clock: Clock,
        payload_for: PayloadFor | None = None,
        on_failure: FailureHook | None = None,
        on_retry: RetryHook | None = None,
        on_stop: StopHook | None = None,
        policy: DeliveryPolicy | None = None,
        first_backoff: timedelta = FIRST_BACKOFF,
        max_backoff: timedelta = MAX_BACKOFF,
    ):
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self._payload_for = payload_for or _planned_payload
        self._on_failure = on_failure
        self._on_retry = on_retry
        self._on_stop = on_stop
        self.policy = policy or DeliveryPolicy()
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._edit_lock = asyncio.Lock()
        self._publish_lock = asyncio.Lock()
        self._channel_locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._inflight: set[str] = set()  # keys this process is sending right now
        self.dm_pacer = DmPacer()
        self.stopped: str | None = None  # why delivery stopped (a refused token)
        self.stats = DeliveryStats()
        self.metrics: BotMetrics | None = None  # the app's, when it exports metrics
        self.lease_guard: LeaseGuard | None = None  # the app's, when it holds a lease
        self.problems: deque[DeliveryProblem] = deque(maxlen=PROBLEMS_KEPT)

    async def recover(self) -> list[str]:
        """At start-up, under the lease: rows left in `sending` go back to pending. Those whose
        send was on its way are looked up in Discord's history before anything is resent."""
        recovered = await self._outbox.recover_sending(self._clock())
        for post in recovered:
            log.warning(
                "post %s was being sent when the bot stopped; %s",
                post.key,
                "checking Discord's history before any resend" if post.unsure else "sending it",
            )
        return [p.key for p in recovered]

    async def sweep_stuck(self) -> list[str]:
        """Rows in `sending` for longer than `stuck_after` with no send of ours in flight (a
        record step that kept failing, a wake-up that died) go back to pending."""
        now = self._clock()
        bound = now - self.policy.stuck_after
        recovered = []
        for post in await self._outbox.stuck(bound):
            if post.key in self._inflight:
                continue
            if await self._outbox.recover_stuck(post.key, bound, now):
                self.stats.recovered += 1
                recovered.append(post.key)
                log.warning("post %s was stuck in `sending`; recovered by the sweep", post.key)
        return recovered

    async def deliver_due(self) -> int:
        """Deliver every post due now. Returns how many were handled.

        Safe to call from any number of wake-ups at once: a post is sent only by the caller
        that claims it. Recap announcements and organiser announcements keep their order in
        a channel (ten recaps merged at once read oldest first), so they go out one after the
        other; reminders and DMs are each on their own clock and go out side by side, so one
        slow send cannot make the next reminder miss its event. Publishing and edits follow,
        outside any channel's send lock."""
        if self.stopped:
            return 0
        await self.sweep_stuck()
        ordered: dict[tuple[int, str], list[str]] = {}
        independent: list[str] = []
        for key, kind, channel_id in await self._outbox.due_keys(self._clock()):
            if declared(kind).ordered:
                ordered.setdefault((channel_id, kind), []).append(key)
            else:
                independent.append(key)
        counts = await asyncio.gather(
            *(self._deliver_in_order(queue, keys) for queue, keys in ordered.items()),
            *(self.deliver(key) for key in independent),
        )
        await self.apply_edits()
        await self.publish_due()
        return sum(int(c) for c in counts)

    async def _deliver_in_order(self, queue: tuple[int, str], keys: list[str]) -> int:
        handled = 0
        async with self._channel_locks.setdefault(queue, asyncio.Lock()):
            for key in keys:
                outcome = await self._deliver_one(key)
                if outcome is None:
                    continue
                handled += 1
                if outcome in ("retry", "stopped"):
                    # The channel is in trouble (5xx, long rate limit): the posts behind this
                    # one wait for its retry rather than overtake it and break the order.
                    break
        return handled

    async def deliver(self, key: str) -> bool:
        """Deliver one post if it is still pending and due. Safe to call for any key, any
        number of times: only the caller that claims the row sends it."""
        return await self._deliver_one(key) is not None

    async def _deliver_one(self, key: str) -> str | None:
        """None: not claimable (not due, someone else has it, delivery stopped). Otherwise
        what happened: "sent", "skipped", "failed", "retry" or "stopped"."""
        if self.stopped or (self.lease_guard is not None and self.lease_guard.may_send()):
            return None
        try:
            post = await self._outbox.claim(key, self._clock())
            if post is None:
                return None
            self._inflight.add(key)
            try:
                return await self._attempt(post)
            finally:
                self._inflight.discard(key)
        except _RecordFailed:
            return "retry"  # the row stays `sending`; the sweep settles it
        except FencedOut as exc:  # another process leads now: nothing was written
            if self.lease_guard is not None:
                self.lease_guard.fenced_out(exc)
            self.stop(f"fenced out: {exc}")
            return "stopped"

    async def _attempt(self, post: Post) -> str:
        """One claimed post: settle an unsure one from Discord's history, apply the late
        policy, then send."""
        key = post.key
        if post.unsure:
            settled = await self._settle_unsure(post)
            if settled is not None:
                return settled
        now = self._clock()
        decision = late_decision(post, now)
        if decision.action is Action.SKIP:
            await self._record(key, lambda: self._outbox.mark_skipped(key, decision.reason, now))
            self.stats.skipped += 1
            if self.metrics is not None:
                self.metrics.post_outcome(post.kind, "skipped", series=post.series)
            log.info("skipped %s: %s", key, decision.reason)
            return "skipped"
        prepared = await self._prepare(post, decision, now)
        if isinstance(prepared, str):
            return prepared
        return await self._send(post, *prepared, now)

    async def _settle_unsure(self, post: Post) -> str | None:
        """An attempt may have reached Discord: look in the history. The outcome when that
        settles the post (found, or it cannot be known), None when it is to be sent."""
        key = post.key
        try:
            found = await self._lookup(post)
        except AuthenticationError as exc:
            return await self._auth_refused(post, str(exc))
        except PermanentSendError as exc:  # cannot know: never resend blind
            return await self._fail(post, f"not resent: {exc}")
        except Exception as exc:  # never read as "not sent": look again later
            # Not a problem on its own (/healthz reports the post once it is overdue).
            reason = f"could not check whether it was already sent: {exc}"
            retry_after = getattr(exc, "retry_after", None)
            await self._retry_later(post, reason, retry_after, unsure=True)
            return "retry"
        if found is None:
            return None
        message_id, created_at = found
        publish = await self._wants_publish(post)
        await self._record(
            key,
            lambda: self._outbox.mark_sent(key, message_id, created_at, publish=publish),
        )
        self.stats.sent += 1
        self.stats.found += 1
        if self.metrics is not None:
            self.metrics.post_outcome(post.kind, "sent", series=post.series)
        log.info("found %s already in Discord as message %s", key, message_id)
        return "sent"

    async def _prepare(
        self, post: Post, decision: Decision, now: datetime
    ) -> tuple[dict[str, Any], int, bool] | str:
        """(payload, channel, publish) for the send, or the outcome when it cannot go now
        (a DM's turn has not come, the channel is out of reach)."""
        try:
            payload = self._payload_for(decision, post) or post.payload
            if declared(post.kind).target is Target.MEMBER_DM:
                turn = self.dm_pacer.turn(now)
                if turn is not None:  # paced after a 40003: its turn comes at `turn`
                    await self._retry_later(post, "DMs paced", None, at=turn, count=False)
                    return "retry"
            channel_id = await self._channel_of(post)
            publish = await self._wants_publish(post)
        except PermanentSendError as exc:
            return await self._fail(post, str(exc))
        except TransientSendError as exc:
            if exc.code == DM_RATE_CODE:
                turn = self.dm_pacer.slow_down(self._clock())
                await self._retry_later(post, str(exc), exc.retry_after, at=turn)
                return "retry"
            await self._retry_later(post, str(exc), exc.retry_after)
            return "retry"
        except AuthenticationError as exc:
            return await self._auth_refused(post, str(exc))
        return payload, channel_id, publish

    async def _send(
        self, post: Post, payload: dict[str, Any], channel_id: int, publish: bool, now: datetime
    ) -> str:
        """Record where it goes and what is put on the wire, send, record the outcome."""
        key = post.key
        variants = [*post.variants]
        variant = variant_of(payload)
        if variant not in variants:
            variants.append(variant)
        noted = await self._record(
            key, lambda: self._outbox.note_attempt(key, channel_id, variants, now)
        )
        if not noted:
            return "retry"  # the row left `sending` meanwhile (cancelled and settled)
        # The one place a send starts: a leader that cannot trust its lease sends nothing
        # (the row stays `sending`, attempt noted: whoever leads next looks before resending).
        distrust = self.lease_guard.may_send() if self.lease_guard is not None else None
        if distrust is not None:
            log.warning("not sending %s: %s", key, distrust)
            return "stopped"
        try:
            message_id = await self._sender.send(channel_id, payload, nonce=post.nonce)
        except PermanentSendError as exc:
            return await self._fail(post, str(exc))
        except TransientSendError as exc:
            if exc.code == DM_RATE_CODE:
                turn = self.dm_pacer.slow_down(self._clock())
                await self._retry_later(post, str(exc), exc.retry_after, at=turn, unsure=False)
                return "retry"
            # Clearly refused (429): nothing landed, so no lookup is owed for this attempt.
            await self._retry_later(
                post, str(exc), exc.retry_after, unsure=True if exc.maybe_sent else post.unsure
            )
            return "retry"
        except AuthenticationError as exc:
            return await self._auth_refused(post, str(exc))
        except Exception as exc:  # unknown trouble: it may have landed; look before resending
            log.exception("unexpected error sending %s", key)
            await self._retry_later(post, f"{type(exc).__name__}: {exc}", None, unsure=True)
            return "retry"
        return await self._sent(post, channel_id, message_id, publish)

    async def _sent(self, post: Post, channel_id: int, message_id: int, publish: bool) -> str:
        key = post.key
        sent_at = self._clock()
        await self._record(
            key, lambda: self._outbox.mark_sent(key, message_id, sent_at, publish=publish)
        )
        if declared(post.kind).target is Target.MEMBER_DM:
            self.dm_pacer.went_out()
        self.stats.sent += 1
        lateness = (sent_at - post.due_at).total_seconds()
        self.stats.lateness.append(lateness)
        if self.metrics is not None:
            self.metrics.post_outcome(post.kind, "sent", lateness, series=post.series)
        log.info("sent %s to channel %s as message %s", key, channel_id, message_id)
        return "sent"

    async def _lookup(self, post: Post) -> tuple[int, datetime] | None:
        """Whether Discord already has this post: its channel's history (the DM channel for
        a DM) from the first attempt on, matched against every variant recorded."""
        if not post.variants:
            return None
        channel_id = post.target_channel_id or post.channel_id
        since = (post.attempt_since or post.claimed_at or post.due_at) - LOOKUP_MARGIN
        candidates = await self._sender.find_sent(channel_id, list(post.variants), since=since)
        for message_id, created_at in candidates:
            owner = await self._outbox.owner_of_message(message_id)
            if owner is None or owner == post.key:
                return message_id, created_at
        return None

    async def _wants_publish(self, post: Post) -> bool:
        if not declared(post.kind).may_publish(self.policy.publish_settings):
            return False
        try:
            return await self._sender.is_announcement_channel(post.channel_id)
        except Exception as exc:  # publishing is a courtesy; the post goes out anyway
            log.warning("could not tell whether channel %s publishes: %s", post.channel_id, exc)
            return False

    async def _fail(self, post: Post, reason: str) -> str:
        now = self._clock()
        await self._record(post.key, lambda: self._outbox.mark_failed(post.key, reason, now))
        self.stats.failed += 1
        if self.metrics is not None:
            self.metrics.post_outcome(post.kind, "failed", series=post.series)
        log.error("post %s to channel %s failed for good: %s", post.key, post.channel_id, reason)
        self._note(post.key, "send", post.channel_id, reason)
        await self._report_failure(post, reason)
        return "failed"

    async def _auth_refused(self, post: Post, reason: str) -> str:
        """The token was refused: the row goes back untouched (this attempt not counted) and
        delivery stops; a start with a new token resumes the same rows."""
        now = self._clock()
        await self._record(
            post.key,
            lambda: self._outbox.retry_later(
                post.key, f"token refused: {reason}", now, now, count_attempt=False
            ),
        )
        self.stop(f"Discord refused the bot's token ({reason})")
        return "stopped"

    def stop(self, reason: str) -> None:
        """No more claims in this process (rows stay pending for the next start)."""
        if self.stopped:
            return
        self.stopped = reason
        log.critical("delivery stopped: %s", reason)
        if self._on_stop is not None:
            try:
                self._on_stop(reason)
            except Exception:
                log.exception("the stop hook failed")

    async def _channel_of(self, post: Post) -> int:
        """Where a post goes: its channel, or for a post to a member (a ``dm:`` post) their
        DM channel (the member is named in the key; the outbox row's channel is 0)."""
        if declared(post.kind).target is not Target.MEMBER_DM:
            return post.channel_id
        if post.target_channel_id:
            return post.target_channel_id
        try:
            member_id = dm_recipient(post.key)
        except ValueError as exc:
            raise PermanentSendError(f"not a DM key: {post.key}") from exc
        known = await self._outbox.dm_channel_of(member_id)
        if known:
            return known
        return await self._sender.open_dm(member_id)

    # -- edits ---------------------------------------------------------------------------

    async def apply_edits(self) -> int:
        """PATCH the original message of sent posts whose content changed since: one edit per
        change, never a new message. An edit Discord refuses for now (30046 old-message edits,
        20022 while publishing is limited, 429, 5xx) backs off per post, much later each time,
        and is given up with the reason after `edit_max_attempts`."""
        if self.stopped:
            return 0
        # One pass edits at a time; a pass that waited reads the list again afterwards, so an
        # edit requested while another pass was editing is applied now, not at the next sweep.
        async with self._edit_lock:
            return await self._apply_edits_once()

    async def _apply_edits_once(self) -> int:
        done = 0
        for post in await self._outbox.edits_pending(self._clock()):
            if post.message_id is None:
                continue
            try:
                channel_id = await self._channel_of(post)
                await self._sender.edit(channel_id, post.message_id, post.payload)
            except PermanentSendError as exc:
                # The message is gone or out of reach: give the edit up, say why.
                await self._give_up_edit(post, str(exc))
                continue
            except AuthenticationError as exc:
                self.stop(f"Discord refused the bot's token ({exc})")
                return done
            except Exception as exc:
                await self._edit_later(post, exc)
                continue
            # Only this version: if the content changed again meanwhile, that edit stays due.
            await self._outbox.mark_edited(post.key, self._clock(), content_hash=post.content_hash)
            self.stats.edited += 1
            done += 1
            log.info("edited %s (message %s)", post.key, post.message_id)
        return done

    async def _edit_later(self, post: Post, exc: Exception) -> None:
        attempts = post.edit_attempts + 1
        if attempts >= self.policy.edit_max_attempts:
            await self._give_up_edit(post, f"given up after {attempts} attempts: {exc}")
            return
        now = self._clock()
        backoff = min(self.policy.edit_first_backoff * (2 ** (attempts - 1)), EDIT_MAX_BACKOFF)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            backoff = max(backoff, timedelta(seconds=retry_after))
        when = now + backoff
        await self._outbox.edit_later(post.key, when, str(exc), now)
        log.warning(
            "edit of %s refused for now (%s); trying again in %s",
            post.key,
            exc,
            short_duration(backoff),
        )
        self._schedule(post.key, when)

    async def _give_up_edit(self, post: Post, reason: str) -> None:
        log.error("could not edit %s (message %s): %s", post.key, post.message_id, reason)
        self._note(post.key, "edit", post.channel_id, reason)
        await self._outbox.mark_edited(
            post.key, self._clock(), content_hash=post.content_hash, error=reason
        )

    # -- publishing ------------------------------------------------------------------------

    async def publish_due(self) -> int:
        """Crosspost sent posts waiting to be published: at most `publish_per_hour` per
        announcement channel (counted from the store, so a restart does not reset it); a
        rate limit or 5xx is retried later; a publish that would arrive after the event it
        announces is dropped and recorded. Never inside a channel's send lock."""
        if self.stopped or self._publish_lock.locked():
            return 0
        done = 0
        async with self._publish_lock:
            for post in await self._outbox.publishes_due(self._clock()):
                if self.stopped:
                    break
                done += await self._publish_one(post)
        return done

    async def _publish_one(self, post: Post) -> int:
        now = self._clock()
        key = post.key
        if await self._publish_held(post, now):
            return 0
        try:
            await self._sender.publish(post.channel_id, int(post.message_id or 0))
        except PermanentSendError as exc:
            if exc.code == ALREADY_CROSSPOSTED:  # an earlier try got through before a 5xx
                await self._outbox.publish_done(key, "done", now)
                return 1
            await self._outbox.publish_done(key, "failed", now, str(exc))
            self._note(key, "publish", post.channel_id, str(exc))
            log.error("could not publish %s: %s", key, exc)
            return 0
        except AuthenticationError as exc:
            self.stop(f"Discord refused the bot's token ({exc})")
            return 0
        except Exception as exc:
            await self._publish_later(post, exc, now)
            return 0
        await self._outbox.publish_done(key, "done", self._clock())
        self.stats.published += 1
        return 1

    async def _publish_held(self, post: Post, now: datetime) -> bool:
        """Whether the publish is not to be tried now: dropped (it would reach followers
        after the event, or stale) or paced to the channel's hourly limit."""
        key = post.key
        limit = post.event_start or (post.sent_at or now) + PUBLISH_STALE_AFTER
        if now >= limit:
            reason = (
                f"dropped: it would reach followers after the event "
                f"({short_duration(now - limit)} past)"
                if post.event_start
                else f"dropped: stale, {short_duration(now - (post.sent_at or now))} after it"
            )
            await self._outbox.publish_done(key, "dropped", now, reason)
            log.warning("publish of %s %s", key, reason)
            return True
        per_hour = max(self.policy.publish_per_hour, 1)
        recent = await self._outbox.published_since(post.channel_id, now - timedelta(hours=1))
        if len(recent) < per_hour:
            return False
        when = recent[-per_hour] + timedelta(hours=1)
        if when >= limit:
            reason = "dropped: the channel's publish limit would hold it past the event"
            await self._outbox.publish_done(key, "dropped", now, reason)
            log.warning("publish of %s %s", key, reason)
            return True
        await self._outbox.publish_later(
            key, when, f"paced: {len(recent)} published in the last hour", now, attempt=False
        )
        self._schedule(key, when)
        return True

    async def _publish_later(self, post: Post, exc: Exception, now: datetime) -> None:
        """A publish refused for now (429, 5xx): backed off, given up after a few tries."""
        key = post.key
        attempts = post.publish_attempts + 1
        if attempts >= self.policy.publish_max_attempts:
            reason = f"given up after {attempts} attempts: {exc}"
            await self._outbox.publish_done(key, "failed", now, reason)
            self._note(key, "publish", post.channel_id, reason)
            return
        backoff = PUBLISH_FIRST_BACKOFF * (2 ** (attempts - 1))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            backoff = max(backoff, timedelta(seconds=retry_after))
        when = now + backoff
        await self._outbox.publish_later(key, when, str(exc), now, attempt=True)
        log.warning("publish of %s failed (%s); again in %s", key, exc, backoff)
        self._schedule(key, when)

    # -- recording -------------------------------------------------------------------------

    async def _record(self, key: str, write: Callable[[], Awaitable[bool]]) -> bool:
        """A delivery write, tried again at once if the database refuses it (locked, disk
        full). If it keeps failing the row stays in `sending`; the sweep recovers it later
        through the history lookup, so nothing is sent twice and nothing is lost."""
        wait = RECORD_FIRST_WAIT
        for attempt in range(1, RECORD_TRIES + 1):
            try:
                return await write()
            except FencedOut:
                raise  # not the database's trouble: another process leads; never retried
            except Exception as exc:
                if attempt == RECORD_TRIES:
                    log.error("could not record %s after %d tries: %s", key, attempt, exc)
                    raise _RecordFailed(str(exc)) from exc
                log.warning("recording %s failed (%s); trying again", key, exc)
                await asyncio.sleep(wait)
                wait *= 4
        return False  # not reached

    async def _retry_later(
        self,
        post: Post,
        error: str,
        retry_after: float | None,
        *,
        unsure: bool | None = None,
        at: datetime | None = None,
        count: bool = True,
    ) -> None:
        now = self._clock()
        if at is not None:
            backoff = max(at - now, timedelta(0))
        else:
            backoff = self.first_backoff * (2 ** max(post.attempts - 1, 0))
            limit = post.deadline or post.event_start
            if limit is not None:
                # A post with a deadline keeps trying often enough to make it: a third of the
                # time left, so a burst of 5xx does not back a reminder off past its event.
                backoff = min(backoff, max((limit - now) / 3, MIN_BACKOFF))
            if retry_after is not None:
                backoff = max(backoff, timedelta(seconds=retry_after))
            backoff = min(backoff, self.max_backoff)
        when = now + backoff
        await self._record(
            post.key,
            lambda: self._outbox.retry_later(
                post.key, error, when, now, unsure=unsure, count_attempt=count
            ),
        )
        if count:
            self.stats.retried += 1
            log.warning(
                "post %s not sent (%s); retrying in %ss", post.key, error, backoff.total_seconds()
            )
        self._schedule(post.key, when)

    def _schedule(self, key: str, when: datetime) -> None:
        if self._on_retry is not None:
            try:
                self._on_retry(key, when)
            except Exception:  # the sweep still finds it
                log.exception("could not schedule the retry of %s", key)

    def _note(self, key: str, action: str, channel_id: int, reason: str) -> None:
        self.problems.append(DeliveryProblem(self._clock(), key, action, channel_id, reason))

    async def _report_failure(self, post: Post, reason: str) -> None:
        if self._on_failure is None:
            return
        try:
            await self._on_failure(post, reason)
        except Exception:
            log.exception("could not tell the organisers that %s failed", post.key)


def _planned_payload(decision: Decision, post: Post) -> dict[str, Any]:
    if decision.action is Action.SEND:
        return post.payload
    return mark_delayed(post.payload)
