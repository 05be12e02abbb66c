"""What delivery does with a post it is about to send late: send, "(delayed)", "live now"
or skip with the reason (DESIGN "Posting" step 5). Pure: `now` is always passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.content.models import Episode, utc
from bot.durations import short_duration
from bot.plan.kinds import Late, UnknownKind, declared
from bot.plan.posts import PlannedPost, Post
from bot.plan.reminders import parse_reminder_key, reminder_role
from bot.render.messages import (
    live_now_message,
    mark_delayed,
)

# Sent this much after its due time, a post is on time: the scheduler wakes a little late
# and a send takes a moment; nobody should read "(delayed)" for that.
LATE_TOLERANCE = timedelta(seconds=60)


# An organiser announcement more than this late is skipped (a bot down for a day should not
# post "the AMA starts in 5 minutes" written for yesterday); within it, it is sent "(delayed)".
ANNOUNCE_LATE_LIMIT = timedelta(hours=1)


class Action(enum.StrEnum):
    SEND = "send"
    SEND_DELAYED = "send_delayed"  # send with mark_delayed(payload)
    SKIP = "skip"  # record as skipped with `reason`
    LIVE_NOW = "live_now"  # send render.live_now_message(...) instead of the planned payload


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""
    late_by: timedelta = timedelta(0)

    @property
    def sends(self) -> bool:
        return self.action is not Action.SKIP


def late_decision(
    post: Post | PlannedPost,
    now: datetime,
    *,
    tolerance: timedelta = LATE_TOLERANCE,
    announce_late_limit: timedelta = ANNOUNCE_LATE_LIMIT,
    live_now_upto: timedelta = timedelta(0),
    event_end: datetime | None = None,
) -> Decision:
    """What delivery does with a post it is about to send at `now` (DESIGN "Posting" step 5),
    by the late policy its kind declares (bot/plan/kinds.py):

    - ``always`` (recap announcements, alerts, recap DMs): SEND, late ones too, unmarked
      ("new recap" is still true; an alert is never dropped);
    - ``limit`` (organiser announcements): on time -> SEND; up to `announce_late_limit` late
      (or its explicit deadline when it has one) -> SEND_DELAYED; beyond -> SKIP;
    - ``event`` (reminders, event DMs): see `_event_decision`.

    A post asked about before its due time is SEND: when to wake up is the scheduler's job.
    """
    now = utc(now)
    late = now - utc(post.due_at)
    policy = declared(post.kind).late_for(post.key)
    if policy is Late.ALWAYS:
        return Decision(Action.SEND, late_by=max(late, timedelta(0)))
    on_time = Decision(Action.SEND, late_by=max(late, timedelta(0))) if late <= tolerance else None
    if policy is Late.LIMIT:
        return on_time or _limit_decision(post, now, announce_late_limit)
    if policy is Late.EVENT:
        return _event_decision(post, now, on_time, live_now_upto, event_end)
    raise UnknownKind(f"a {post.kind!r} post has no late policy")


def _limit_decision(post: Post | PlannedPost, now: datetime, limit_after: timedelta) -> Decision:
    """A late post with a limit: "(delayed)" up to its deadline (else `limit_after` after its
    due time), skipped beyond."""
    due = utc(post.due_at)
    late = now - due
    limit = utc(post.deadline) if post.deadline is not None else due + limit_after
    if now <= limit:
        return Decision(Action.SEND_DELAYED, late_by=late)
    return Decision(
        Action.SKIP,
        f"late by {short_duration(late)}: past its {short_duration(limit - due)} limit",
        late,
    )


def _event_decision(
    post: Post | PlannedPost,
    now: datetime,
    on_time: Decision | None,
    live_now_upto: timedelta,
    event_end: datetime | None,
) -> Decision:
    """A post before an event (a reminder), `on_time` or not:

    - with an offset > 0: on time -> SEND; late within grace -> SEND_DELAYED; past the
      deadline -> SKIP; once the event has started -> SKIP ("starts in 1 hour" is never sent
      after the start) unless the offset is <= `live_now_upto` and the event is still
      running (`event_end` known) -> LIVE_NOW;
    - the ``0m`` "starting now" reminder: on time -> SEND; later but within grace (the event
      is running) -> LIVE_NOW; past grace -> SKIP.
    """
    due = utc(post.due_at)
    late = now - due
    start = utc(post.event_start) if post.event_start is not None else None
    offset = (start - due) if start is not None else None
    deadline = utc(post.deadline) if post.deadline is not None else start
    if on_time and deadline is not None and now > deadline:
        on_time = None  # a grace shorter than the on-time tolerance still holds
    within_grace = deadline is None or now <= deadline
    if offset is not None and offset <= timedelta(0):
        # The "starting now" reminder: its event is running from the moment it is due.
        if on_time:
            return on_time
        return Decision(Action.LIVE_NOW, late_by=late) if within_grace else _missed(post, now)
    if start is not None and now >= start:
        running = event_end is not None and now < utc(event_end)
        if offset is not None and offset <= live_now_upto and running:
            return Decision(Action.LIVE_NOW, late_by=late)
        return Decision(
            Action.SKIP,
            f"late by {short_duration(late)}: "
            f"event already started {short_duration(now - start)} ago",
            late,
        )
    if on_time:
        return on_time
    return Decision(Action.SEND_DELAYED, late_by=late) if within_grace else _missed(post, now)


def _missed(post: Post | PlannedPost, now: datetime) -> Decision:
    """SKIP for a reminder past its grace, saying how late and what the grace was."""
    due = utc(post.due_at)
    late = now - due
    start = utc(post.event_start) if post.event_start is not None else None
    deadline = utc(post.deadline) if post.deadline is not None else start
    grace_text = short_duration(deadline - due) if deadline is not None else "?"
    return Decision(
        Action.SKIP, f"late by {short_duration(late)}: past its {grace_text} grace", late
    )


def payload_for(
    decision: Decision,
    post: Post | PlannedPost,
    *,
    episodes: Mapping[str, Episode],
    settings: Settings,
) -> dict[str, Any] | None:
    """The message delivery sends for `decision`, or None when the post is skipped.

    LIVE_NOW re-renders from the episode as it is now; when the episode is gone from the
    index (or has lost its time), the planned payload goes out marked "(delayed)" instead.
    """
    if decision.action is Action.SKIP:
        return None
    if decision.action is Action.SEND:
        return post.payload
    if decision.action is Action.LIVE_NOW and declared(post.kind).live_now:
        try:
            episode_id, kind, _ = parse_reminder_key(post.key)
        except ValueError:
            episode_id, kind = post.subject, None
        episode = episodes.get(episode_id)
        event = episode.event(kind) if episode is not None and kind is not None else None
        if episode is not None and event is not None and event.start is not None:
            return live_now_message(episode, event, reminder_role(settings, event.kind), settings)
    return mark_delayed(post.payload)
