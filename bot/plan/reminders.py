"""Reminders before every livestream and AMA: their keys, the role they ping, their plan,
and the keys `/announce skip` cancels. Pure: `now` is always passed in. (Recap
announcements are planned in `recaps`, the late policy is `late`.)

Reminders are planned for episodes whose status is ``scheduled`` *or* ``live``: an
organiser who flips an episode to ``live`` during Monday's livestream must not lose the
reminders for Friday's AMA. ``tbd``, ``published`` and ``cancelled`` episodes get none.
A reminder already past its deadline is still listed as long as its event has not ended,
so the reconciler writes the row and delivery records it as ``skipped`` with the reason:
`amabot plan` then shows why it never went out. Once the event has ended, its reminders
are no longer produced at all: a bot started against an old content folder plans nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.config import Settings
from bot.content.models import EVENT_KINDS, Episode, EpisodeStatus, EventKind, utc
from bot.durations import duration_label, parse_duration_label
from bot.plan.posts import PlannedPost
from bot.render.messages import (
    reminder_message,
)

REMINDED_STATUSES = frozenset({EpisodeStatus.SCHEDULED, EpisodeStatus.LIVE})


def reminder_key(episode_id: str, kind: EventKind, offset: timedelta) -> str:
    return f"reminder:{episode_id}:{kind}:{duration_label(offset)}"


def parse_reminder_key(key: str) -> tuple[str, EventKind, timedelta]:
    """``reminder:s2-e05:ama:1h`` -> (``s2-e05``, ``ama``, 1 hour). Episode ids may hold colons."""
    prefix, _, rest = key.partition(":")
    episode_id, _, tail = rest.rpartition(":")
    episode_id, _, kind = episode_id.rpartition(":")
    if prefix != "reminder" or kind not in EVENT_KINDS or not episode_id:
        raise ValueError(f"not a reminder key: {key!r}")
    return episode_id, kind, parse_duration_label(tail)  # type: ignore[return-value]


def reminder_role(settings: Settings, kind: EventKind) -> int:
    """The role a reminder pings: `[reminders]` for that kind, else the series' opt-in role
    (members who chose "ping me" get pinged even when the channel-wide ping is off)."""
    if kind == "livestream":
        optin = settings.optin.livestream_role_id
    else:
        optin = settings.optin.ama_role_id
    return settings.reminders.role_for(kind) or optin


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
        for kind, event in episode.timed_events():
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
