"""The outbox dispatcher: claims due posts, sends each once, records the outcome.

Discord-free: it talks to a `Sender` (the Discord one lives in bot/discord_sender.py), so the
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.planning import Action, Decision, late_decision
from bot.posts import Post, PostStatus
from bot.render import mark_delayed

log = logging.getLogger("amabot.delivery")

# Transient failures back off exponentially up to this cap; the row stays pending meanwhile.
MAX_BACKOFF = timedelta(minutes=10)
FIRST_BACKOFF = timedelta(seconds=2)


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


# The message to send for a decision: the planned payload, marked "(delayed)", or "live now".
PayloadFor = Callable[[Decision, Post], dict[str, Any] | None]
FailureHook = Callable[[Post, str], Awaitable[None]]


@dataclass
class DeliveryStats:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    edited: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds, sent minus due


class Dispatcher:
    def __init__(
        self,
        outbox: Any,  # bot.store.outbox.Outbox
        sender: Sender,
        *,
        clock: Clock,
        payload_for: PayloadFor | None = None,
        on_failure: FailureHook | None = None,
    ):
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self._payload_for = payload_for or _planned_payload
        self._on_failure = on_failure
        self._edit_lock = asyncio.Lock()
        self.stats = DeliveryStats()

    async def recover(self) -> list[str]:
        """After a crash: rows left in `sending` go back to pending, to be resent with the same
        nonce (Discord then returns the message it already has)."""
        recovered = await self._outbox.recover_sending(self._clock())
        for post in recovered:
            log.warning(
                "post %s was being sent when the bot stopped; resending with its nonce", post.key
            )
        return [p.key for p in recovered]

    async def deliver_due(self) -> int:
        """Deliver every post due now, oldest first. Returns how many were handled."""
        handled = 0
        for post in await self._outbox.due(self._clock()):
            if await self.deliver(post.key):
                handled += 1
        await self.apply_edits()
        return handled

    async def deliver(self, key: str) -> bool:
        """Deliver one post if it is still pending and due. Safe to call for any key, any
        number of times, from any wake-up: only the caller that claims the row sends it."""
        now = self._clock()
        post = await self._outbox.claim(key, now)
        if post is None:
            return False
        decision = late_decision(post, now)
        if decision.action is Action.SKIP:
            await self._outbox.mark_skipped(key, decision.reason, now)
            self.stats.skipped += 1
            log.info("skipped %s: %s", key, decision.reason)
            return True
        payload = self._payload_for(decision, post) or post.payload
        try:
            message_id = await self._sender.send(post.channel_id, payload, nonce=post.nonce)
        except PermanentSendError as exc:
            reason = str(exc)
            await self._outbox.mark_failed(key, reason, self._clock())
            self.stats.failed += 1
            log.error("post %s to channel %s failed for good: %s", key, post.channel_id, reason)
            await self._report_failure(post, reason)
            return True
        except TransientSendError as exc:
            await self._retry_later(post, str(exc), exc.retry_after)
            return True
        except Exception as exc:  # unknown trouble: keep the row, try again later, tell the log
            log.exception("unexpected error sending %s", key)
            await self._retry_later(post, f"{type(exc).__name__}: {exc}", None)
            return True
        sent_at = self._clock()
        await self._outbox.mark_sent(key, message_id, sent_at)
        self.stats.sent += 1
        self.stats.lateness.append((sent_at - post.due_at).total_seconds())
        log.info("sent %s to channel %s as message %s", key, post.channel_id, message_id)
        await self._publish(post, message_id)
        return True

    async def apply_edits(self) -> int:
        """PATCH the original message of sent posts whose content changed since."""
        done = 0
        async with self._edit_lock:
            for post in await self._outbox.edits_pending():
                if post.message_id is None:
                    continue
                try:
                    await self._sender.edit(post.channel_id, post.message_id, post.payload)
                except PermanentSendError as exc:
                    log.error("could not edit %s (message %s): %s", post.key, post.message_id, exc)
                    await self._outbox.mark_edited(post.key, self._clock())
                    continue
                except Exception as exc:
                    log.warning("edit of %s failed, will retry: %s", post.key, exc)
                    continue
                await self._outbox.mark_edited(post.key, self._clock())
                self.stats.edited += 1
                done += 1
                log.info("edited %s (message %s)", post.key, post.message_id)
        return done

    async def _publish(self, post: Post, message_id: int) -> None:
        if not await self._sender.is_announcement_channel(post.channel_id):
            return
        try:
            await self._sender.publish(post.channel_id, message_id)
        except Exception as exc:  # the post itself is out; publishing is a courtesy
            log.warning("could not publish %s (message %s): %s", post.key, message_id, exc)

    async def _retry_later(self, post: Post, error: str, retry_after: float | None) -> None:
        backoff = FIRST_BACKOFF * (2 ** max(post.attempts - 1, 0))
        if retry_after is not None:
            backoff = max(backoff, timedelta(seconds=retry_after))
        backoff = min(backoff, MAX_BACKOFF)
        now = self._clock()
        await self._outbox.retry_later(post.key, error, now + backoff, now)
        self.stats.retried += 1
        log.warning(
            "post %s not sent (%s); retrying in %ss", post.key, error, backoff.total_seconds()
        )

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


def is_final(post: Post) -> bool:
    return post.status in (
        PostStatus.SENT,
        PostStatus.SKIPPED,
        PostStatus.FAILED,
        PostStatus.CANCELLED,
    )


def seconds_until(when: datetime, now: datetime) -> float:
    return max((when - now).total_seconds(), 0.0)
