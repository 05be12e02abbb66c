"""The vocabulary of the outbox, shared by planning, the store and delivery.

A *planned* post is what planning (pure) says should exist; a *post* is an outbox row with its
delivery state. A post's key is deterministic (``recap:s2-e05``, ``reminder:s2-e05:ama:1h``,
``announce:42``) so planning the same content twice yields the same rows. The kinds, their
key formats and what each kind's posts do are declared in bot/plan/kinds.py.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.plan.kinds import outbox_kind

# The name of a kind declared in bot/plan/kinds.py (`OUTBOX_KINDS`): a planned post of any
# other kind is refused when it is made.
PostKind = str


class PostStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its due time
    SENDING = "sending"  # claimed by delivery; after a crash it is resent with the same nonce
    SENT = "sent"
    SKIPPED = "skipped"  # deliberately not sent; `reason` says why (backlog, late, skipped week)
    FAILED = "failed"  # Discord refused for good (403/404); `reason` says why
    CANCELLED = "cancelled"  # the event was cancelled or moved away, or an organiser cancelled


FINAL_STATUSES = frozenset(
    {PostStatus.SENT, PostStatus.SKIPPED, PostStatus.FAILED, PostStatus.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class PlannedPost:
    """A post that should exist, as planning computes it from content, settings and now."""

    key: str
    kind: PostKind
    due_at: datetime  # aware UTC
    channel_id: int
    payload: dict[str, Any]  # Discord message JSON: content, embeds, components, allowed_mentions
    # Latest moment the post still makes sense (due + grace for reminders); None = no limit.
    deadline: datetime | None = None
    # When the thing it is about starts (a reminder's event); a post is never sent after it.
    event_start: datetime | None = None
    subject: str = ""  # the episode or recap id it is about, for cancelling and listing
    created_by: int | None = None  # the organiser who made it, for `announce:` posts
    # What a reader would call "the content" when it is narrower than the whole payload: a
    # sent post is edited only when this changes (a recap's title, summary or link), not
    # when a new version of the bot renders the same recap differently.
    fingerprint: str | None = None
    # The series (show) it belongs to, by id; "" = none (an organiser's note to all). Set by
    # the reconcile of that series' plan, so planners need not repeat it.
    series: str = ""

    def __post_init__(self) -> None:
        outbox_kind(self.kind)  # UnknownKind for a kind nobody declared

    @property
    def content_hash(self) -> str:
        return self.hash_for(self.channel_id)

    def hash_for(self, channel_id: int) -> str:
        if self.fingerprint is None:
            return payload_hash(self.payload, channel_id)
        return payload_hash({"fingerprint": self.fingerprint}, channel_id)


@dataclass(frozen=True, slots=True)
class Post:
    """One outbox row."""

    key: str
    kind: PostKind
    due_at: datetime
    channel_id: int
    payload: dict[str, Any]
    status: PostStatus
    content_hash: str
    deadline: datetime | None = None
    event_start: datetime | None = None
    subject: str = ""
    attempts: int = 0
    last_error: str | None = None
    reason: str | None = None  # why skipped / failed / cancelled
    message_id: int | None = None
    created_by: int | None = None
    cancelled_by: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sent_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Set by a retry: not claimed before this even though due. None = as soon as due.
    next_attempt_at: datetime | None = None
    # Sent, but planning changed its payload since: delivery should edit the message.
    edit_pending: bool = False
    # Delivery's memory of the current attempt (bot/services/delivery.py):
    claimed_at: datetime | None = None
    attempt_since: datetime | None = None  # the first send attempt; history is read from here
    target_channel_id: int | None = None  # where the attempts went (a DM channel for `dm`)
    variants: tuple[dict[str, Any], ...] = ()  # what was put on the wire, recorded beforehand
    unsure: bool = False  # an attempt may have reached Discord: look before sending again
    publish_status: str | None = None  # pending, done, dropped, failed; None = not wanted
    publish_attempts: int = 0
    published_at: datetime | None = None
    publish_reason: str | None = None
    edit_attempts: int = 0
    edit_next_at: datetime | None = None
    series: str = ""  # the series (show) it belongs to; see PlannedPost.series

    @property
    def wake_at(self) -> datetime:
        """When delivery should next look at this post: its due time, or a later retry."""
        if self.next_attempt_at is not None and self.next_attempt_at > self.due_at:
            return self.next_attempt_at
        return self.due_at

    @property
    def nonce(self) -> str:
        return nonce_for(self.key)


def payload_hash(payload: dict[str, Any], channel_id: int = 0) -> str:
    blob = json.dumps([channel_id, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def nonce_for(key: str) -> str:
    """Discord nonces are at most 25 characters; derive a stable one from the post key."""
    return hashlib.sha256(key.encode()).hexdigest()[:25]
