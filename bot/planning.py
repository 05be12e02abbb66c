"""Content + settings + now -> the posts that should exist, and what to do with a late one.

Pure and Discord-free: no I/O, `now` is always passed in. The reconciler writes the plan to
the outbox; delivery asks `late_decision` before sending a row.

Choices worth knowing:

- Reminders are planned for episodes whose status is ``scheduled`` *or* ``live``: an
  organiser who flips an episode to ``live`` during Monday's livestream must not lose the
  reminders for Friday's AMA. ``tbd``, ``published`` and ``cancelled`` episodes get none.
- A reminder already past its deadline is still listed as long as its event has not ended,
  so the reconciler writes the row and delivery records it as ``skipped`` with the reason
  (``late by 1h12m: past its 15m grace``): `amabot plan` then shows why it never went out.
  Once the event has ended, its reminders are no longer produced at all: a bot started
  against an old content folder plans nothing for the past.
- Recap announcements have no deadline: a late one still goes out. On the very first start,
  recaps published before `backlog_cutoff` are recorded as skipped ``backlog``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.content.models import Author, Episode, EpisodeStatus, EventKind, Recap, utc
from bot.posts import PlannedPost, Post
from bot.render import (
    live_now_message,
    mark_delayed,
    recap_announcement,
    recap_url_for,
    reminder_message,
)

__all__ = [
    "ANNOUNCE_LATE_LIMIT",
    "EVENT_KINDS",
    "LATE_TOLERANCE",
    "Action",
    "Decision",
    "backlog_cutoff",
    "format_duration",
    "late_decision",
    "offset_label",
    "parse_offset_label",
    "parse_reminder_key",
    "payload_for",
    "plan_recap_announcements",
    "plan_reminders",
    "reminder_key",
    "skip_week",
]

EVENT_KINDS: tuple[EventKind, ...] = ("livestream", "ama")
REMINDED_STATUSES = frozenset({EpisodeStatus.SCHEDULED, EpisodeStatus.LIVE})

# Sent this much after its due time, a post is on time: the scheduler wakes a little late
# and a send takes a moment; nobody should read "(delayed)" for that.
LATE_TOLERANCE = timedelta(seconds=60)
# An organiser announcement more than this late is skipped (a bot down for a day should not
# post "the AMA starts in 5 minutes" written for yesterday); within it, it is sent "(delayed)".
ANNOUNCE_LATE_LIMIT = timedelta(hours=1)


# -- keys and labels ---------------------------------------------------------------------


def offset_label(td: timedelta) -> str:
    """Canonical offset label used in keys: ``24h``, ``1h``, ``10m``, ``0m``, ``1h30m``."""
    total = int(td.total_seconds())
    if total < 0 or td != timedelta(seconds=total):
        raise ValueError(f"offset must be a non-negative whole number of seconds, got {td!r}")
    if total == 0:
        return "0m"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)


def parse_offset_label(label: str) -> timedelta:
    """Inverse of `offset_label`."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", label)
    if not label or not m:
        raise ValueError(f"not an offset label: {label!r}")
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def reminder_key(episode_id: str, kind: EventKind, offset: timedelta) -> str:
    return f"reminder:{episode_id}:{kind}:{offset_label(offset)}"


def parse_reminder_key(key: str) -> tuple[str, EventKind, timedelta]:
    """``reminder:s2-e05:ama:1h`` -> (``s2-e05``, ``ama``, 1 hour). Episode ids may hold colons."""
    prefix, _, rest = key.partition(":")
    episode_id, _, tail = rest.rpartition(":")
    episode_id, _, kind = episode_id.rpartition(":")
    if prefix != "reminder" or kind not in EVENT_KINDS or not episode_id:
        raise ValueError(f"not a reminder key: {key!r}")
    return episode_id, kind, parse_offset_label(tail)  # type: ignore[return-value]


def format_duration(td: timedelta) -> str:
    """Short human duration for reasons: ``45s``, ``12m``, ``1h12m``, ``2d3h``."""
    total = int(abs(td).total_seconds())
    if total < 60:
        return f"{total}s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    if days:
        parts = parts[:2]  # minutes are noise once a post is days late
    return "".join(f"{n}{u}" for n, u in parts if n) or "0m"


# -- planning ------------------------------------------------------------------------------


def reminder_role(settings: Settings, kind: EventKind) -> int:
    """The role a reminder pings: `[reminders]` for that kind, else the series' opt-in role
    (members who chose "ping me" get pinged even when the channel-wide ping is off)."""
    if kind == "livestream":
        optin = settings.optin.livestream_role_id
    else:
        optin = settings.optin.ama_role_id
    return settings.reminders.role_for(kind) or optin


def recap_role(settings: Settings) -> int:
    """`[announcements] role_id`, else the recaps opt-in role."""
    return settings.announcements.role_id or settings.optin.recaps_role_id


def plan_reminders(
    episodes: Iterable[Episode], settings: Settings, now: datetime
) -> list[PlannedPost]:
    """One reminder per offset before each livestream and AMA that still matters."""
    now = utc(now)
    cfg = settings.reminders
    planned: list[PlannedPost] = []
    for episode in episodes:
        if episode.status not in REMINDED_STATUSES:
            continue
        for kind in EVENT_KINDS:
            event = episode.event(kind)
            if event is None or event.start is None:
                continue
            start = utc(event.start)
            end = start + event.duration
            if end <= now:
                continue
            for offset in cfg.offsets:
                due = start - offset
                grace = cfg.grace_for(offset)
                deadline = due + grace if offset <= timedelta(0) else min(due + grace, start)
                role_id = reminder_role(settings, kind)
                planned.append(
                    PlannedPost(
                        key=reminder_key(episode.id, kind, offset),
                        kind="reminder",
                        due_at=due,
                        channel_id=cfg.channel_for(kind),
                        payload=reminder_message(
                            episode, event, offset, role_id=role_id, settings=settings
                        ),
                        deadline=deadline,
                        event_start=start,
                        subject=episode.id,
                    )
                )
    planned.sort(key=lambda p: (p.due_at, p.key))
    return planned


def plan_recap_announcements(
    recaps: Iterable[Recap],
    *,
    episodes: Mapping[str, Episode],
    authors: Mapping[str, Author],
    settings: Settings,
    now: datetime,
) -> list[PlannedPost]:
    """One announcement per published recap, oldest first; due at its publication time."""
    now = utc(now)
    planned: list[PlannedPost] = []
    for recap in recaps:
        if not recap.is_published(now):
            continue
        episode = episodes.get(recap.episode_id) if recap.episode_id else None
        url = recap_url_for(recap, settings)
        planned.append(
            PlannedPost(
                key=f"recap:{recap.id}",
                kind="recap",
                due_at=utc(recap.published),
                channel_id=settings.announcements.channel_id,
                payload=recap_announcement(
                    recap,
                    episode=episode,
                    authors=authors,
                    recap_url=url,
                    role_id=recap_role(settings),
                ),
                subject=recap.id,
                fingerprint=json.dumps(
                    [
                        recap.title,
                        recap.summary,
                        url,
                        recap.image,
                        episode.code if episode else None,
                        episode.title if episode else None,
                    ]
                ),
            )
        )
    planned.sort(key=lambda p: (p.due_at, p.key))
    return planned


def backlog_cutoff(settings: Settings, now: datetime) -> datetime:
    """On the first start, recaps published before this are recorded as skipped ``backlog``."""
    return utc(now) - timedelta(days=max(settings.announcements.backlog_days, 0))


def skip_week(
    episode: Episode,
    kind: EventKind | None,
    now: datetime,
    *,
    offsets: Iterable[timedelta] | None = None,
) -> list[str]:
    """Keys of the reminders to cancel for `/announce skip` (kind None = both events).

    Only events that have not ended count: skipping is about this week, not history. The
    caller cancels the keys that are still pending; the reconciler must leave cancelled rows
    alone so the next plan does not bring them back.
    """
    now = utc(now)
    offsets = tuple(offsets) if offsets is not None else Settings().reminders.offsets
    keys: list[str] = []
    for k in EVENT_KINDS if kind is None else (kind,):
        event = episode.event(k)
        if event is None or event.start is None or utc(event.start) + event.duration <= now:
            continue
        keys.extend(reminder_key(episode.id, k, off) for off in offsets)
    return keys


# -- lateness --------------------------------------------------------------------------------


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
    """What delivery does with a post it is about to send at `now` (DESIGN "Posting" step 5).

    - recap announcements: always SEND (late ones too, unmarked: "new recap" is still true);
    - reminders with an offset > 0: on time -> SEND; late within grace -> SEND_DELAYED; past
      the deadline -> SKIP; once the event has started -> SKIP ("starts in 1 hour" is never
      sent after the start) unless the offset is <= `live_now_upto` and the event is still
      running (`event_end` known) -> LIVE_NOW;
    - the ``0m`` "starting now" reminder: on time -> SEND; later but within grace (the event
      is running) -> LIVE_NOW; past grace -> SKIP;
    - organiser announcements: on time -> SEND; up to `announce_late_limit` late (or its
      explicit deadline when it has one) -> SEND_DELAYED; beyond -> SKIP.

    A post asked about before its due time is SEND: when to wake up is the scheduler's job.
    """
    now = utc(now)
    due = utc(post.due_at)
    late = now - due
    if post.kind == "recap":
        return Decision(Action.SEND, late_by=max(late, timedelta(0)))
    on_time = Decision(Action.SEND, late_by=max(late, timedelta(0))) if late <= tolerance else None

    if post.kind == "announce":
        if on_time:
            return on_time
        limit = utc(post.deadline) if post.deadline is not None else due + announce_late_limit
        if now <= limit:
            return Decision(Action.SEND_DELAYED, late_by=late)
        return Decision(
            Action.SKIP,
            f"late by {format_duration(late)}: past its {format_duration(limit - due)} limit",
            late,
        )

    # reminders
    start = utc(post.event_start) if post.event_start is not None else None
    offset = (start - due) if start is not None else None
    deadline = utc(post.deadline) if post.deadline is not None else start
    grace_text = format_duration(deadline - due) if deadline is not None else "?"
    if on_time and deadline is not None and now > deadline:
        on_time = None  # a grace shorter than the on-time tolerance still holds

    if offset is not None and offset <= timedelta(0):
        # The "starting now" reminder: its event is running from the moment it is due.
        if on_time:
            return on_time
        if deadline is None or now <= deadline:
            return Decision(Action.LIVE_NOW, late_by=late)
        return Decision(
            Action.SKIP, f"late by {format_duration(late)}: past its {grace_text} grace", late
        )

    if start is not None and now >= start:
        running = event_end is not None and now < utc(event_end)
        if offset is not None and offset <= live_now_upto and running:
            return Decision(Action.LIVE_NOW, late_by=late)
        return Decision(
            Action.SKIP,
            f"late by {format_duration(late)}: "
            f"event already started {format_duration(now - start)} ago",
            late,
        )
    if on_time:
        return on_time
    if deadline is None or now <= deadline:
        return Decision(Action.SEND_DELAYED, late_by=late)
    return Decision(
        Action.SKIP, f"late by {format_duration(late)}: past its {grace_text} grace", late
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
    if decision.action is Action.LIVE_NOW and post.kind == "reminder":
        try:
            episode_id, kind, _ = parse_reminder_key(post.key)
        except ValueError:
            episode_id, kind = post.subject, None
        episode = episodes.get(episode_id)
        event = episode.event(kind) if episode is not None and kind is not None else None
        if episode is not None and event is not None and event.start is not None:
            return live_now_message(episode, event, reminder_role(settings, event.kind), settings)
    return mark_delayed(post.payload)
