"""The outbox dispatcher: claims due posts, sends each once, records the outcome.

Discord-free: it talks to a `Sender` (the Discord one lives in bot/discord/sender.py), so the
whole state machine is tested with a real SQLite file and a recording sender.

Once-and-never-lost rests on three things:
- a post is claimed with a conditional UPDATE (pending -> sending), so two wake-ups for the
  same key cannot both send;
- the send carries a nonce derived from the key with `enforce_nonce`, so a resend after a
  crash between send and record returns Discord's existing message instead of a second one;
- every exit from `sending` is recorded: sent (with the message id), skipped or failed with a
  reason, or back to pending with the error and a retry time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.plan.late import Action, Decision, late_decision
from bot.plan.optin import dm_recipient
from bot.plan.posts import Post
from bot.render.messages import mark_delayed

log = logging.getLogger("amabot.delivery")

# Kinds whose posts in one channel must be read in due order.
ORDERED_KINDS = frozenset({"recap", "announce"})

# Transient failures back off exponentially up to this cap; the row stays pending meanwhile.
MAX_BACKOFF = timedelta(minutes=10)
FIRST_BACKOFF = timedelta(seconds=2)
MIN_BACKOFF = timedelta(milliseconds=500)


class PermanentSendError(Exception):
    """Discord refused for good (403 missing permission, 404 deleted channel, 400 bad body)."""


class TransientSendError(Exception):
    """Worth retrying later (429 beyond discord.py's own retries, 5xx, network)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Sender(Protocol):
    async def send(self, channel_id: int, payload: dict[str, Any], *, nonce: str) -> int: ...

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

PROBLEMS_KEPT = 50


@dataclass(frozen=True, slots=True)
class DeliveryProblem:
    """Something delivery could not do, kept for /healthz: a failed send, edit or publish."""

    at: datetime
    key: str
    action: str  # "send", "edit", "publish"
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
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    edited: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds, sent minus due


class Dispatcher:
    """Sends due posts: in due order within a channel, channels side by side.

    Every wake-up, sweep and content change ends in `deliver_due()`. Within one channel a lock
    makes the sends strictly sequential and oldest first (ten recaps merged at once arrive in
    their order); a slow or refusing channel never holds up another one.
    """

    def __init__(
        self,
        outbox: Any,  # bot.store.outbox.Outbox
        sender: Sender,
        *,
        clock: Clock,
        payload_for: PayloadFor | None = None,
        on_failure: FailureHook | None = None,
        on_retry: RetryHook | None = None,
        first_backoff: timedelta = FIRST_BACKOFF,
        max_backoff: timedelta = MAX_BACKOFF,
    ):
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self._payload_for = payload_for or _planned_payload
        self._on_failure = on_failure
        self._on_retry = on_retry
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._edit_lock = asyncio.Lock()
        self._channel_locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._recovered: set[str] = set()  # keys a crash left in `sending`
        self.stats = DeliveryStats()
        self.problems: deque[DeliveryProblem] = deque(maxlen=PROBLEMS_KEPT)

    async def recover(self) -> list[str]:
        """After a crash: rows left in `sending` go back to pending, to be resent with the same
        nonce (Discord then returns the message it already has)."""
        recovered = await self._outbox.recover_sending(self._clock())
        self._recovered.update(p.key for p in recovered)
        for post in recovered:
            log.warning(
                "post %s was being sent when the bot stopped; resending with its nonce", post.key
            )
        return [p.key for p in recovered]

    async def _find_sent(self, post: Post) -> tuple[int, datetime] | None:
        finder = getattr(self._sender, "find_sent", None)
        if finder is None or post.kind == "dm":
            return None
        try:
            return await finder(post.channel_id, post.payload, since=post.due_at)
        except Exception as exc:  # looking is a courtesy; the nonce still guards a resend
            log.warning("could not look for %s in channel %s: %s", post.key, post.channel_id, exc)
            return None

    async def deliver_due(self) -> int:
        """Deliver every post due now. Returns how many were handled.

        Safe to call from any number of wake-ups at once: a post is sent only by the caller
        that claims it. Recap announcements and organiser announcements keep their order in
        a channel (ten recaps merged at once read oldest first), so they go out one after the
        other; reminders and DMs are each on their own clock and go out side by side, so one
        slow send cannot make the next reminder miss its event."""
        ordered: dict[tuple[int, str], list[str]] = {}
        independent: list[str] = []
        for key, kind, channel_id in await self._outbox.due_keys(self._clock()):
            if kind in ORDERED_KINDS:
                ordered.setdefault((channel_id, kind), []).append(key)
            else:
                independent.append(key)
        counts = await asyncio.gather(
            *(self._deliver_in_order(queue, keys) for queue, keys in ordered.items()),
            *(self.deliver(key) for key in independent),
        )
        await self.apply_edits()
        return sum(int(c) for c in counts)

    async def _deliver_in_order(self, queue: tuple[int, str], keys: list[str]) -> int:
        handled = 0
        async with self._channel_locks.setdefault(queue, asyncio.Lock()):
            for key in keys:
                outcome = await self._deliver_one(key)
                if outcome is None:
                    continue
                handled += 1
                if outcome == "retry":
                    # The channel is in trouble (5xx, long rate limit): the posts behind this
                    # one wait for its retry rather than overtake it and break the order.
                    break
        return handled

    async def deliver(self, key: str) -> bool:
        """Deliver one post if it is still pending and due. Safe to call for any key, any
        number of times: only the caller that claims the row sends it."""
        return await self._deliver_one(key) is not None

    async def _deliver_one(self, key: str) -> str | None:
        """None: not claimable (not due, or someone else has it). Otherwise what happened:
        "sent", "skipped", "failed" or "retry"."""
        now = self._clock()
        post = await self._outbox.claim(key, now)
        if post is None:
            return None
        if key in self._recovered:
            self._recovered.discard(key)
            found = await self._find_sent(post)
            if found is not None:
                # The crash came after Discord took the message: record it (with the time
                # Discord took it), whatever the lateness now, rather than call a post that
                # exists "skipped".
                found, created_at = found
                await self._outbox.mark_sent(key, found, created_at)
                self.stats.sent += 1
                log.info(
                    "found %s already in channel %s as message %s", key, post.channel_id, found
                )
                await self._publish(post, found)
                return "sent"
        decision = late_decision(post, now)
        if decision.action is Action.SKIP:
            await self._outbox.mark_skipped(key, decision.reason, now)
            self.stats.skipped += 1
            log.info("skipped %s: %s", key, decision.reason)
            return "skipped"
        try:
            payload = self._payload_for(decision, post) or post.payload
            channel_id = await self._channel_of(post)
            message_id = await self._sender.send(channel_id, payload, nonce=post.nonce)
        except PermanentSendError as exc:
            reason = str(exc)
            await self._outbox.mark_failed(key, reason, self._clock())
            self.stats.failed += 1
            log.error("post %s to channel %s failed for good: %s", key, post.channel_id, reason)
            self._note(post.key, "send", post.channel_id, reason)
            await self._report_failure(post, reason)
            return "failed"
        except TransientSendError as exc:
            await self._retry_later(post, str(exc), exc.retry_after)
            return "retry"
        except Exception as exc:  # unknown trouble: keep the row, try again later, tell the log
            log.exception("unexpected error sending %s", key)
            await self._retry_later(post, f"{type(exc).__name__}: {exc}", None)
            return "retry"
        sent_at = self._clock()
        await self._outbox.mark_sent(key, message_id, sent_at)
        self.stats.sent += 1
        self.stats.lateness.append((sent_at - post.due_at).total_seconds())
        log.info("sent %s to channel %s as message %s", key, post.channel_id, message_id)
        if post.kind != "dm":
            await self._publish(post, message_id)
        return "sent"

    async def _channel_of(self, post: Post) -> int:
        """Where a post goes: its channel, or for a ``dm:`` post the member's DM channel
        (the member is named in the key; the outbox row's channel is 0)."""
        if post.kind != "dm":
            return post.channel_id
        try:
            member_id = dm_recipient(post.key)
        except ValueError as exc:
            raise PermanentSendError(f"not a DM key: {post.key}") from exc
        return await self._sender.open_dm(member_id)

    async def apply_edits(self) -> int:
        """PATCH the original message of sent posts whose content changed since: one edit per
        change, never a new message."""
        done = 0
        async with self._edit_lock:
            for post in await self._outbox.edits_pending():
                if post.message_id is None:
                    continue
                try:
                    channel_id = await self._channel_of(post)
                    await self._sender.edit(channel_id, post.message_id, post.payload)
                except PermanentSendError as exc:
                    # The message is gone or out of reach: give the edit up, say why.
                    reason = str(exc)
                    log.error("could not edit %s (message %s): %s", post.key, post.message_id, exc)
                    self._note(post.key, "edit", post.channel_id, reason)
                    await self._outbox.mark_edited(
                        post.key, self._clock(), content_hash=post.content_hash, error=reason
                    )
                    continue
                except Exception as exc:
                    log.warning("edit of %s failed, will retry: %s", post.key, exc)
                    continue
                # Only this version: if the content changed again meanwhile, that edit stays due.
                await self._outbox.mark_edited(
                    post.key, self._clock(), content_hash=post.content_hash
                )
                self.stats.edited += 1
                done += 1
                log.info("edited %s (message %s)", post.key, post.message_id)
        return done

    async def _publish(self, post: Post, message_id: int) -> None:
        try:
            if not await self._sender.is_announcement_channel(post.channel_id):
                return
            await self._sender.publish(post.channel_id, message_id)
        except Exception as exc:  # the post itself is out; publishing is a courtesy
            log.error("could not publish %s (message %s): %s", post.key, message_id, exc)
            self._note(post.key, "publish", post.channel_id, str(exc))

    async def _retry_later(self, post: Post, error: str, retry_after: float | None) -> None:
        now = self._clock()
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
        await self._outbox.retry_later(post.key, error, when, now)
        self.stats.retried += 1
        log.warning(
            "post %s not sent (%s); retrying in %ss", post.key, error, backoff.total_seconds()
        )
        if self._on_retry is not None:
            try:
                self._on_retry(post.key, when)
            except Exception:  # the sweep still finds it
                log.exception("could not schedule the retry of %s", post.key)

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
