"""Reminders before every livestream and AMA: the role they ping, their plan,
and the keys `/announce skip` cancels. Pure: `now` is always passed in. (Recap
announcements are planned in `recaps`, the late policy is `late`, the key format and the
channel are declared in `kinds`.)

Reminders are planned for episodes whose status is ``scheduled`` *or* ``live``: an
organiser who flips an episode to ``live`` during Monday's livestream must not lose the
reminders for Friday's AMA. ``tbd``, ``published`` and ``cancelled`` episodes get none.
A reminder already past its deadline is still listed as long as its event has not ended,
so the reconciler writes the row and delivery records it as ``skipped`` with the reason:
`amabot plan` then shows why it never went out. Once the event has ended, its reminders
are no longer produced at all: a bot started against an old content folder plans nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace as dc_replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from bot.config import Settings
from bot.content.models import EVENT_KINDS, Episode, EpisodeStatus, EventKind, ShowEvent, utc
from bot.plan.kinds import channel_for, parse_reminder_key_at, reminder_key, scoped_id
from bot.plan.kinds import instant_label as instant_label  # its old home, still imported
from bot.plan.posts import PlannedPost, Post
from bot.render.messages import (
    reminder_message,
)
from bot.render.superseded import reminder_cancelled, reminder_moved

REMINDED_STATUSES = frozenset({EpisodeStatus.SCHEDULED, EpisodeStatus.LIVE})


def parse_reminder_key(key: str) -> tuple[str, EventKind, timedelta]:
    """``reminder:s2-e05:ama:1h@…`` -> (``s2-e05``, ``ama``, 1 hour). Episode ids may hold
    colons. Old keys without the instant parse too (the format: bot/plan/kinds.py)."""
    episode_id, kind, offset, _ = parse_reminder_key_at(key)
    return episode_id, kind, offset


def reminder_role(settings: Settings, kind: EventKind) -> int:
    """The role a reminder pings: `[reminders]` for that kind, else that stream's opt-in role
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
        for kind, event, event_start in episode.timed_events():
            start = utc(event_start)
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
                        key=reminder_key(scoped_id(settings, episode.id), kind, offset, start),
                        kind="reminder",
                        due_at=due,
                        channel_id=channel_for("reminder", settings, kind),
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
        keys.extend(reminder_key(episode.id, k, off, event.start) for off in offsets)
    return keys


# How far back a sent reminder's event may lie and still be followed up: a week covers any
# reschedule people make in practice, and keeps the scan to a handful of rows.
FOLLOW_UP_WINDOW = timedelta(days=7)


def plan_reminder_followups(
    sent: Iterable[Post],
    planned_keys: Collection[str],
    episodes: Mapping[str, Episode],
    settings: Settings,
    now: datetime,
) -> list[tuple[str, dict[str, Any]]]:
    """(key, new payload) for the sent reminders whose event moved or was cancelled. Pure.

    A sent reminder no longer in the plan is about an instant the content has left: the
    episode was cancelled (the message is struck through and says so), made TBD (struck
    through, "new time to be announced") or moved (struck through, the new timestamp). The
    payload is rendered from the key's own instant, never from the stored (possibly already
    edited) message, so planning it again yields the same payload: the edit happens once.
    A reminder for an event that has ended, at its old time and at any new one, is history
    and is left alone; so is one whose episode left the content (it may only be renamed).
    """
    now = utc(now)
    out: list[tuple[str, dict[str, Any]]] = []
    for post in sent:
        if post.kind != "reminder" or post.key in planned_keys:
            continue
        try:
            episode_id, kind, offset, old_start = parse_reminder_key_at(post.key)
        except ValueError:
            continue
        episode = episodes.get(episode_id)
        if episode is None:
            continue
        role_id = reminder_role(settings, kind)
        payload = followup_payload(
            episode,
            kind,
            old_start or post.event_start,
            partial(_reminder_as_sent, kind, offset, role_id, settings),
            now,
        )
        if payload is not None:
            out.append((post.key, payload))
    return out


def _reminder_as_sent(
    kind: EventKind, offset: timedelta, role_id: int, settings: Settings, old: Episode
) -> dict[str, Any]:
    """The channel reminder's wording for `old`, the episode with its `kind` event put back
    at the instant the reminder was sent for."""
    event = old.event(kind)
    if event is None:  # followup_payload always puts the event back
        raise ValueError(f"{old.id}: no {kind} event to word a reminder for")
    return reminder_message(old, event, offset, role_id=role_id, settings=settings)


def followup_payload(
    episode: Episode,
    kind: EventKind,
    old_start: datetime | None,
    render: Callable[[Episode], dict[str, Any]],
    now: datetime,
) -> dict[str, Any] | None:
    """What a sent reminder of `episode`'s `kind` event at `old_start` becomes now, or None
    when it stays as it is (same instant, history, no instant known). `render` gives the
    message as it was sent, from the episode with that event put back at `old_start`: the
    channel reminder's wording or a member's DM. Shared by channel and DM follow-ups."""
    if old_start is None:
        return None
    now = utc(now)
    event = episode.event(kind)
    template = event or ShowEvent(kind, None, timedelta(0), timezone=episode.timezone)
    old_over = old_start + template.duration <= now
    original = render(episode.with_event(kind, dc_replace(template, start=old_start)))
    if episode.status is EpisodeStatus.CANCELLED:
        return None if old_over else reminder_cancelled(original)
    new_start = None
    if event is not None and event.start is not None and episode.status is not EpisodeStatus.TBD:
        new_start = utc(event.start)
    if new_start == old_start:
        return None  # same instant, just no longer planned (published, ended): history
    new_over = new_start is not None and new_start + template.duration <= now
    if old_over and (new_start is None or new_over):
        return None
    return reminder_moved(original, new_start)
