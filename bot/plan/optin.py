"""Each member chooses how to be reminded: a role they give themselves, a DM, or nothing.

Pure and Discord-free: the cogs read and write the choices through `bot.store.optin`, and
`plan_dm_reminders` turns them into outbox posts of kind ``dm`` that the ordinary dispatcher
delivers (the sender opens the DM channel of the member named in the key).

Choices worth knowing:

- A DM is keyed ``dm:<member id>:<episode id>:<livestream|ama>:<lead>``, so a member, an
  event and a lead time make one post, however often the plan is made.
- Recaps by DM: one ``dm:<member id>:recap:<recap id>`` per recap announcement the channel
  gets, due with it, no deadline, its wording without the role ping. Planned from the
  announcement rows of the outbox, not from the content: a recap is "new" to a member when
  its announcement is still to go out (pending or sending) or went out at or after the
  member last set their recaps choice (`Preference.since`, the store's ``updated_at``). So
  opting in never brings the archive, backlog recaps (recorded as skipped) never DM, and a
  recap removed before its announcement went out DMs nobody.
- "Interested" on one of our Discord events counts as a DM opt-in for that one event when
  ``[optin] interested_dm`` is on, at the member's own lead time for its stream when they
  chose DMs, else `INTERESTED_LEAD`. A member who chose "off" for the stream still gets the
  DM: clicking Interested is the more specific wish. "Stop these" ends both.
- A member whose DMs are closed (Discord error 50007) is not planned again until they opt in
  anew; their pending DMs are then cancelled by the reconcile.
- A DM whose deadline has already passed when planned is not planned at all: a member who
  opts in 30 minutes before the AMA with a 1-day lead gets nothing rather than a pile of
  skipped rows. DMs are paced (`pace`) to `[optin] dm_rate_per_minute`; a paced DM keeps a
  deadline at least as late as its new due time; one pacing would push past the event's
  start is not planned.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from bot.config import Settings, default_grace
from bot.content.models import EVENT_KINDS, Episode, EpisodeStatus, EventKind, utc
from bot.durations import duration_label, parse_duration_label, spoken_duration
from bot.plan.kinds import KINDS, parse_recap_key, scoped_id

# The DM keys' formats are declared with their kind in bot/plan/kinds.py (also imported from here).
from bot.plan.kinds import RECAP_DM_INFIX as RECAP_DM_INFIX
from bot.plan.kinds import dm_key as dm_key
from bot.plan.kinds import dm_recipient as dm_recipient
from bot.plan.kinds import is_recap_dm_key as is_recap_dm_key
from bot.plan.kinds import parse_dm_key_at as parse_dm_key_at
from bot.plan.kinds import parse_recap_dm_key as parse_recap_dm_key
from bot.plan.kinds import recap_dm_key as recap_dm_key
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.plan.reminders import followup_payload
from bot.plan.scheduled_events import event_key
from bot.render.limits import allowed_mentions, fit_message
from bot.render.messages import reminder_message

# A reminder stream: what a member chooses reminders for. ("series" is the show itself.)
Stream = Literal["livestream", "ama", "recaps"]
STREAMS: tuple[Stream, ...] = ("livestream", "ama", "recaps")
STREAM_NAMES: dict[str, str] = {"livestream": "Livestreams", "ama": "AMAs", "recaps": "Recaps"}


class Mode(enum.StrEnum):
    ROLE = "role"
    DM = "dm"
    OFF = "off"


# The `/notify` choices: label -> lead time.
LEADS: dict[str, timedelta] = {
    "1 day": timedelta(days=1),
    "1 hour": timedelta(hours=1),
    "10 minutes": timedelta(minutes=10),
}
DEFAULT_LEAD = timedelta(hours=1)
INTERESTED_LEAD = timedelta(hours=1)  # for "Interested" members who chose no DM lead
PLANNED_STATUSES = frozenset({EpisodeStatus.SCHEDULED, EpisodeStatus.LIVE})

OPTOUT_PREFIX = "amabot:optout:"
BUTTON_SECONDARY = 2
DM_CLOSED_CODE = 50007  # "Cannot send messages to this user"


@dataclass(frozen=True, slots=True)
class Preference:
    member_id: int
    stream: Stream
    mode: Mode
    lead: timedelta = DEFAULT_LEAD
    # When the member last set this choice (the store's updated_at). Recap DMs start from
    # here; not part of equality, so a choice compares by what it is, not when it was made.
    since: datetime | None = field(default=None, compare=False)
    # The series (show) the choice is for, by id ("" in a database not bound to a series yet).
    series: str = ""


@dataclass(frozen=True, slots=True)
class Interest:
    member_id: int
    event_key: str  # event:<episode id>:<livestream|ama>


# -- custom ids and keys ------------------------------------------------------------------


def optout_custom_id(stream: str) -> str:
    """The "Stop these" button's id: ``amabot:optout:ama`` (well under Discord's 100)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}")
    return OPTOUT_PREFIX + stream


def parse_stream_custom_id(custom_id: str, prefix: str) -> Stream | None:
    """``amabot:optout:ama`` with prefix OPTOUT_PREFIX -> "ama"; anything else -> None."""
    if not isinstance(custom_id, str) or not custom_id.startswith(prefix):
        return None
    stream = custom_id[len(prefix) :]
    return stream if stream in STREAMS else None


def parse_dm_key(key: str) -> tuple[int, str, EventKind, str]:
    """``dm:42:s2-e05:ama:1h@…`` -> (42, "s2-e05", "ama", "1h"). Episode ids may hold
    colons; a key without the instant parses too."""
    member, episode_id, kind, lead, _ = parse_dm_key_at(key)
    return member, episode_id, kind, lead


def is_dm_closed_error(error: object) -> bool:
    """Whether a send failure means the member's DMs are closed (Discord code 50007)."""
    code = getattr(error, "code", None)
    if code == DM_CLOSED_CODE:
        return True
    text = str(error)
    return str(DM_CLOSED_CODE) in text or "Cannot send messages to this user" in text


def parse_lead(label: str) -> timedelta:
    """A `/notify` choice (``1 day``, ``1 hour``, ``10 minutes``, or ``1d``/``1h``/``10m``)."""
    text = str(label).strip().lower()
    for name, lead in LEADS.items():
        if text in (name, duration_label(lead)) or (text == "1d" and lead == timedelta(days=1)):
            return lead
    raise ValueError(f"{label!r} is not one of {', '.join(LEADS)}")


def lead_name(lead: timedelta) -> str:
    for name, value in LEADS.items():
        if value == lead:
            return name
    return spoken_duration(lead)


def stream_role(settings: Settings, stream: str) -> int:
    """The self-assigned role of a stream; 0 when the config offers none."""
    cfg = settings.optin
    return {
        "livestream": cfg.livestream_role_id,
        "ama": cfg.ama_role_id,
        "recaps": cfg.recaps_role_id,
    }.get(stream, 0)


# -- planning ------------------------------------------------------------------------------


def plan_dm_reminders(
    episodes: Iterable[Episode],
    prefs: Iterable[Preference],
    interested: Iterable[Interest],
    settings: Settings,
    now: datetime,
    *,
    dm_closed: Collection[int] = (),
    announcements: Iterable[Post] = (),
) -> list[PlannedPost]:
    """One DM per member who asked for it, per coming livestream/AMA, at their lead time,
    and per recap announcement new to them (`announcements`: the outbox's ``recap:`` rows),
    all paced to ``[optin] dm_rate_per_minute``."""
    now = utc(now)
    closed = frozenset(int(m) for m in dm_closed)
    prefs = list(prefs)
    # member -> stream -> lead, for members who chose DMs
    wants: dict[int, dict[str, timedelta]] = {}
    for pref in prefs:
        if pref.mode is Mode.DM and pref.stream in EVENT_KINDS and pref.member_id not in closed:
            wants.setdefault(pref.member_id, {})[pref.stream] = pref.lead
    interest_by_event: dict[str, set[int]] = {}
    if settings.optin.interested_dm:
        for item in interested:
            if item.member_id not in closed:
                interest_by_event.setdefault(item.event_key, set()).add(item.member_id)

    planned: dict[str, PlannedPost] = {}
    for episode in episodes:
        if episode.status not in PLANNED_STATUSES:
            continue
        for kind, event, event_start in episode.timed_events():
            start = utc(event_start)
            if start + event.duration <= now:
                continue
            members: dict[int, timedelta] = {
                m: leads[kind] for m, leads in wants.items() if kind in leads
            }
            for member in interest_by_event.get(
                event_key(scoped_id(settings, episode.id), kind), ()
            ):
                members.setdefault(member, wants.get(member, {}).get(kind, INTERESTED_LEAD))
            for member, lead in members.items():
                due = start - lead
                deadline = min(due + default_grace(lead), start)
                if deadline <= now:
                    continue
                key = dm_key(member, scoped_id(settings, episode.id), kind, lead, start)
                planned[key] = PlannedPost(
                    key=key,
                    kind="dm",
                    due_at=due,
                    channel_id=0,
                    payload=dm_reminder_message(episode, kind, lead, settings),
                    deadline=deadline,
                    event_start=start,
                    subject=episode.id,
                )
    for post in plan_recap_dms(announcements, prefs, dm_closed=closed):
        planned[post.key] = post
    return pace(planned.values(), settings.optin.dm_rate_per_minute)


def plan_dm_followups(
    sent: Iterable[Post],
    planned_keys: Collection[str],
    episodes: Mapping[str, Episode],
    settings: Settings,
    now: datetime,
) -> list[tuple[str, dict[str, Any]]]:
    """(key, new payload) for the members' sent DM reminders whose event moved or was
    cancelled: the same follow-up as a channel reminder's (`plan_reminder_followups`), struck
    through with the new time or "cancelled", rendered from the key's own instant so the
    edit is made once. Recap DMs are about a post, not an instant: never followed up. Pure."""
    out: list[tuple[str, dict[str, Any]]] = []
    for post in sent:
        if post.kind != "dm" or post.key in planned_keys:
            continue
        try:
            _, episode_id, kind, label, old_start = parse_dm_key_at(post.key)
            lead = parse_duration_label(label)
        except ValueError:
            continue  # a recap DM, or not ours
        episode = episodes.get(episode_id)
        if episode is None:
            continue
        payload = followup_payload(
            episode,
            kind,
            old_start or post.event_start,
            partial(dm_reminder_message, kind=kind, lead=lead, settings=settings),
            now,
        )
        if payload is not None:
            out.append((post.key, payload))
    return out


RECAP_ANNOUNCEMENT_PREFIX = KINDS["recap"].prefix
_UNSENT = frozenset({PostStatus.PENDING, PostStatus.SENDING})


def recap_is_new_to(announcement: Post, since: datetime | None) -> bool:
    """Whether a member who chose recap DMs at `since` gets this announcement by DM: it is
    still to go out, or it went out at or after `since`. Skipped (backlog), failed and
    cancelled announcements are nobody's news."""
    if announcement.status in _UNSENT:
        return True
    if announcement.status is not PostStatus.SENT:
        return False
    sent_at = announcement.sent_at
    return since is not None and sent_at is not None and utc(sent_at) >= utc(since)


def plan_recap_dms(
    announcements: Iterable[Post],
    prefs: Iterable[Preference],
    *,
    dm_closed: Collection[int] = (),
) -> list[PlannedPost]:
    """One DM per member who chose recap DMs, per recap announcement new to them, due with
    the announcement, without a deadline (a late recap is still news)."""
    closed = frozenset(int(m) for m in dm_closed)
    members = {
        p.member_id: p.since
        for p in prefs
        if p.stream == "recaps" and p.mode is Mode.DM and p.member_id not in closed
    }
    if not members:
        return []
    planned: list[PlannedPost] = []
    for announcement in announcements:
        if announcement.kind != "recap" or not announcement.key.startswith(
            RECAP_ANNOUNCEMENT_PREFIX
        ):
            continue
        recap_id = parse_recap_key(announcement.key)
        payload: dict[str, Any] | None = None
        for member, since in sorted(members.items()):
            if not recap_is_new_to(announcement, since):
                continue
            if payload is None:
                payload = recap_dm_message(announcement.payload)
            planned.append(
                PlannedPost(
                    key=recap_dm_key(member, recap_id),
                    kind="dm",
                    due_at=utc(announcement.due_at),
                    channel_id=0,
                    payload=payload,
                    subject=recap_id,
                )
            )
    return planned


def pace(
    posts: Iterable[PlannedPost],
    rate_per_minute: int,
    *,
    window: timedelta = timedelta(minutes=1),
) -> list[PlannedPost]:
    """The posts in due order, spread so that no `window` (a minute) holds more than
    `rate_per_minute` of them. Deterministic and independent of the time of planning: the
    same plan paces the same, so re-planning never shuffles rows already sent.

    A member who asked for "1 hour before" gets it before the event, never skipped because
    of our own pacing: a crowd due at one moment is spread over the minutes *before* it
    (earlier, never later), each keeping its own deadline. A plan made so late that some
    slots are already past sends those at once (delivery slows down if Discord says 40003).
    """
    rate = max(int(rate_per_minute), 1)
    # Backwards from each due time: the latest ones keep their time, the rest move earlier.
    latest_first = sorted(posts, key=lambda p: (p.due_at, p.key), reverse=True)
    earlier: list[tuple[datetime, PlannedPost]] = []
    for post in latest_first:
        due = post.due_at
        if len(earlier) >= rate:
            due = min(due, earlier[-rate][0] - window)
        earlier.append((due, post))
    # Forwards: posts due at different times may still crowd a window; those move later,
    # keeping their grace from the new time (capped at the event's start).
    out: list[PlannedPost] = []
    for due, post in sorted(earlier, key=lambda e: (e[0], e[1].key)):
        if len(out) >= rate:
            due = max(due, out[-rate].due_at + window)
        if due == post.due_at:
            out.append(post)
            continue
        if due < post.due_at:
            out.append(replace(post, due_at=due))
            continue
        if post.event_start is not None and due >= post.event_start:
            continue
        deadline = post.deadline
        if deadline is not None:
            grace = max(deadline - post.due_at, timedelta(0))
            deadline = max(deadline, due + grace)
            if post.event_start is not None:
                deadline = min(deadline, post.event_start)
        out.append(replace(post, due_at=due, deadline=deadline))
    return out


# -- messages ------------------------------------------------------------------------------


def stop_button(stream: str) -> dict[str, Any]:
    return {
        "type": 2,
        "style": BUTTON_SECONDARY,
        "label": "Stop these",
        "custom_id": optout_custom_id(stream),
    }


def dm_reminder_message(
    episode: Episode, kind: EventKind, lead: timedelta, settings: Settings
) -> dict[str, Any]:
    """The reminder channel post's wording, pinging nobody, with a "Stop these" button."""
    event = episode.event(kind)
    if event is None:
        raise ValueError(f"episode {episode.id} has no {kind}")
    payload = reminder_message(episode, event, lead, role_id=0, settings=settings, remind_me=False)
    components = list(payload.get("components") or [])
    components.append({"type": 1, "components": [stop_button(kind)]})
    payload["components"] = components
    payload["allowed_mentions"] = allowed_mentions(0)
    return fit_message(payload)


_LEADING_ROLE_PING = re.compile(r"^\s*<@&\d+>\s*")


def recap_dm_message(announcement: dict[str, Any]) -> dict[str, Any]:
    """The channel's recap announcement for one member: no role ping, pinging nobody, with
    a "Stop these" button for recaps."""
    payload = dict(announcement)
    content = payload.get("content")
    if isinstance(content, str):
        payload["content"] = _LEADING_ROLE_PING.sub("", content, count=1)
    components = list(payload.get("components") or [])
    components.append({"type": 1, "components": [stop_button("recaps")]})
    payload["components"] = components
    payload["allowed_mentions"] = allowed_mentions(0)
    return fit_message(payload)


def notify_status_text(prefs: Iterable[Preference], settings: Settings, *, dm_closed: bool) -> str:
    """`/notify status`: one line per stream, in plain words."""
    chosen = {p.stream: p for p in prefs}
    lines = []
    for stream in STREAMS:
        pref = chosen.get(stream)
        name = STREAM_NAMES[stream]
        if pref is None or pref.mode is Mode.OFF:
            lines.append(f"**{name}**: off")
        elif pref.mode is Mode.ROLE:
            role = stream_role(settings, stream)
            where = f"<@&{role}>" if role else "its role (not configured)"
            lines.append(f"**{name}**: pinged with {where}")
        elif stream == "recaps":
            lines.append(f"**{name}**: a DM for each new recap")
        else:
            lines.append(f"**{name}**: a DM {lead_name(pref.lead)} before")
    if dm_closed:
        lines.append(
            "⚠️ Your DMs were closed the last time I tried, so DM reminders are paused. "
            "Open your DMs and choose a DM option again to resume."
        )
    return "\n".join(lines)
