"""The post kinds: one declaration each of what the bot posts and how.

A kind is declared once in `KINDS`: its key format (the function that builds a key and the
one that reads it back, with the key's prefix), where it goes, which late policy applies,
whether it may be published (crossposted) and under which setting, whether a channel's
posts of this kind keep their due order, and which function renders it. The outbox
vocabulary (bot/plan/posts.py), the late policy (bot/plan/late.py) and delivery
(bot/services/delivery.py) read these declarations instead of deciding per kind; planning
builds keys with the functions here.

A new kind is one `Kind(...)` entry below plus its renderer in bot/render (or its planning
module). Keys are stored in databases already in use: a format here never changes.

Pure and light: only bot.config, bot.content.models and bot.durations are imported; a
renderer is named ("module:function") and resolved on use, so the vocabulary does not pull
in the renderers (nor the planning modules that import the vocabulary).
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from bot.config import Settings
from bot.content.models import EVENT_KINDS, EventKind, utc
from bot.durations import duration_label, parse_duration_label

INSTANT_FORMAT = "%Y%m%dT%H%M%SZ"


class UnknownKind(ValueError):
    """A post kind nobody declared in `KINDS`: refused, never guessed at."""


class Late(enum.StrEnum):
    """Which late policy applies (the algorithms are bot/plan/late.py's)."""

    ALWAYS = "always"  # still news late: sent unmarked, never dropped (recap, alert)
    LIMIT = "limit"  # "(delayed)" up to its deadline or the late limit, then skipped (announce)
    EVENT = "event"  # about an event: "(delayed)" within grace, never after the start (reminder)


class Target(enum.StrEnum):
    """Where a kind's posts go."""

    SETTINGS = "settings"  # a channel chosen from Settings (`Kind.channel`)
    MEMBER_DM = "member_dm"  # the DM channel of the member named in the key (outbox channel 0)
    ORGANISER = "organiser"  # the channel the organiser chose
    DISCORD_EVENT = "discord_event"  # a Discord scheduled event, not a message
    AMA_SESSION = "ama_session"  # a place of the AMA's session: its thread, review channel, board


@dataclass(frozen=True, slots=True)
class Kind:
    """One post kind's declaration (see the module docstring)."""

    name: str
    noun: str  # how an organiser reads it: "recap announcement"
    prefix: str  # every key of this kind starts with it
    key: Callable[..., str]  # builds a key
    parse: Callable[[str], Any]  # reads a key back (ValueError when it is not one)
    target: Target
    late: Late | None  # None: not an outbox post (no late policy)
    render: str  # "module:function" of the renderer
    # How the channel is chosen from Settings (Target.SETTINGS); the second argument is the
    # event kind ("livestream"/"ama") for posts about an event, else "".
    channel: Callable[[Settings, str], int] | None = None
    # None: never published. "always": whenever its channel is an announcement channel. Else
    # the dotted name of the boolean setting that turns publishing on ("reminders.publish").
    publish: str | None = None
    ordered: bool = False  # posts of this kind in one channel go out in due order
    live_now: bool = False  # once its event runs, a late one becomes "live now" (re-rendered)
    outbox: bool = True  # an outbox row (False: a Discord scheduled event)
    # Keys of this kind that follow another late policy than `late` (a recap DM: ALWAYS).
    late_by_key: Callable[[str], Late | None] | None = None

    def renderer(self) -> Callable[..., Any]:
        """The renderer function named by `render`."""
        module, _, name = self.render.partition(":")
        func: object = getattr(importlib.import_module(module), name)
        if not callable(func):
            raise TypeError(f"{self.render} is not a function")
        return func

    def late_for(self, key: str) -> Late | None:
        override = self.late_by_key(key) if self.late_by_key is not None else None
        return override or self.late

    def may_publish(self, settings_on: Collection[str]) -> bool:
        """Whether a post of this kind is published (its channel allowing), given the names
        of the publish settings that are on."""
        return self.publish == "always" or (
            self.publish is not None and self.publish in settings_on
        )


# -- key formats ---------------------------------------------------------------------------


def instant_label(start: datetime) -> str:
    """The event's instant as it appears in reminder keys: ``20250714T173000Z`` (UTC)."""
    return utc(start).strftime(INSTANT_FORMAT)


def _instant(text: str, key: str, what: str) -> datetime:
    try:
        return datetime.strptime(text, INSTANT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a {what} key: {key!r}") from None


def scoped_id(settings: Settings, episode_id: str) -> str:
    """An episode's (or recap's) id as it appears in the keys of its series' posts, events
    and opt-in marks: bare for the series owning the bare namespace, ``<series>/<id>`` for
    every other (`SeriesSettings.key_prefix`). Old databases' keys stay as they were."""
    return f"{settings.series.key_prefix}{episode_id}"


def split_scoped_id(key_id: str) -> tuple[str | None, str]:
    """``talk-tuesdays/s1-e02`` -> ("talk-tuesdays", "s1-e02"); a bare id -> (None, id): it
    belongs to the series owning the bare namespace."""
    series, slash, episode_id = key_id.partition("/")
    return (series, episode_id) if slash else (None, key_id)


def recap_key(recap_id: str) -> str:
    """``recap:s2-e05`` (the id from bot/content/identity.py, kept across renames)."""
    return f"recap:{recap_id}"


def parse_recap_key(key: str) -> str:
    """``recap:s2-e05`` -> ``s2-e05``."""
    prefix, _, recap_id = key.partition(":")
    if prefix != "recap" or not recap_id:
        raise ValueError(f"not a recap key: {key!r}")
    return recap_id


def reminder_key(
    episode_id: str, kind: EventKind, offset: timedelta, start: datetime | None = None
) -> str:
    """``reminder:s2-e05:ama:1h@20250718T173000Z``: the event's instant is part of the key, so
    a rescheduled event is a new event for reminders (the old reminders stay what they were,
    sent or not, and the new instant gets its own). Without `start`: the key shape of the
    round-1 bot, kept only to read old rows (see `Outbox.upgrade_reminder_keys`)."""
    base = f"reminder:{episode_id}:{kind}:{duration_label(offset)}"
    return base if start is None else f"{base}@{instant_label(start)}"


def parse_reminder_key_at(key: str) -> tuple[str, EventKind, timedelta, datetime | None]:
    """``reminder:s2-e05:ama:1h@…`` -> (``s2-e05``, ``ama``, 1 hour, the event's instant or
    None for a round-1 key that did not carry it). Episode ids may hold colons."""
    prefix, _, rest = key.partition(":")
    episode_id, _, tail = rest.rpartition(":")
    episode_id, _, kind = episode_id.rpartition(":")
    if prefix != "reminder" or kind not in EVENT_KINDS or not episode_id:
        raise ValueError(f"not a reminder key: {key!r}")
    label, at, instant = tail.partition("@")
    start = _instant(instant, key, "reminder") if at else None
    return episode_id, kind, parse_duration_label(label), start


def announce_key(number: int) -> str:
    """``announce:42``: the organiser announcement's number (the store's sequence)."""
    return f"announce:{int(number)}"


def parse_announce_key(key: str) -> int:
    prefix, _, number = key.partition(":")
    if prefix != "announce" or not number.isdigit():
        raise ValueError(f"not an announcement key: {key!r}")
    return int(number)


def alert_key(about: str) -> str:
    """``alert:recap:s2-e05``: the organisers' note about the post keyed `about` (one each)."""
    return f"alert:{about}"


def parse_alert_key(key: str) -> str:
    prefix, _, about = key.partition(":")
    if prefix != "alert" or not about:
        raise ValueError(f"not an alert key: {key!r}")
    return about


def dm_key(
    member_id: int,
    episode_id: str,
    kind: EventKind,
    lead: timedelta,
    start: datetime | None = None,
) -> str:
    """``dm:42:s2-e05:ama:1h@20250718T173000Z``: like a reminder's key, it carries the event's
    instant, so a moved event is a new event for DMs too (without `start`: the round-1
    shape, for reading old rows)."""
    base = f"dm:{int(member_id)}:{episode_id}:{kind}:{duration_label(lead)}"
    return base if start is None else f"{base}@{instant_label(start)}"


_DM_KEY = re.compile(r"dm:(\d+):(.+):(livestream|ama):([0-9hms]+)(?:@(\d{8}T\d{6}Z))?")


def parse_dm_key_at(key: str) -> tuple[int, str, EventKind, str, datetime | None]:
    """``dm:42:s2-e05:ama:1h@…`` -> (42, "s2-e05", "ama", "1h", the event's instant or None
    for a round-1 key). Episode ids may hold colons."""
    match = _DM_KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"not a DM key: {key!r}")
    start = _instant(match[5], key, "DM") if match[5] else None
    kind = cast(EventKind, match[3])  # the pattern admits only the two event kinds
    return int(match[1]), match[2], kind, match[4], start


RECAP_DM_INFIX = "recap"
_RECAP_DM_KEY = re.compile(r"dm:(\d+):recap:(.+)")


def recap_dm_key(member_id: int, recap_id: str) -> str:
    """``dm:42:recap:s2-e05``: the recap announcement ``recap:s2-e05`` for one member."""
    return f"dm:{int(member_id)}:{RECAP_DM_INFIX}:{recap_id}"


def parse_recap_dm_key(key: str) -> tuple[int, str]:
    """``dm:42:recap:s2-e05`` -> (42, "s2-e05"). An event DM's key is never read as one."""
    if _DM_KEY.fullmatch(key) is None:
        match = _RECAP_DM_KEY.fullmatch(key)
        if match is not None:
            return int(match[1]), match[2]
    raise ValueError(f"not a recap DM key: {key!r}")


def is_recap_dm_key(key: str) -> bool:
    try:
        parse_recap_dm_key(key)
    except ValueError:
        return False
    return True


DmKeyParts = (
    tuple[int, str, EventKind, str, datetime | None] | tuple[int, str] | tuple[int, str, str, str]
)


def parse_any_dm_key(key: str) -> DmKeyParts:
    """An event DM's key (`parse_dm_key_at`), a recap DM's (`parse_recap_dm_key`) or an AMA
    note's (`parse_ama_dm_key`)."""
    try:
        return parse_dm_key_at(key)
    except ValueError:
        pass
    try:
        return parse_ama_dm_key(key)
    except ValueError:
        return parse_recap_dm_key(key)


def dm_recipient(key: str) -> int:
    """The member a ``dm:`` post goes to (event or recap DM): the sender opens their DM
    channel."""
    return parse_any_dm_key(key)[0]


def ama_post_key(series: str, episode_id: str, part: str) -> str:
    """``ama:model-mondays:s2-e05:q12``: one message of an AMA session (its prompt, a
    question, a review card, the board, the closing list). One key scope per session."""
    return f"ama:{series}:{episode_id}:{part}"


def parse_ama_post_key(key: str) -> tuple[str, str, str]:
    """``ama:model-mondays:s2-e05:q12`` -> (series, episode, part). Series ids are slugs;
    episode ids may hold colons."""
    prefix, _, rest = key.partition(":")
    series, _, rest = rest.partition(":")
    episode_id, _, part = rest.rpartition(":")
    if prefix != "ama" or not series or not episode_id or not part:
        raise ValueError(f"not an AMA key: {key!r}")
    return series, episode_id, part


AMA_DM_INFIX = "ama"
_AMA_DM_KEY = re.compile(r"dm:(\d+):ama:([a-z0-9-]+):(.+):(\w+)")


def ama_dm_key(member_id: int, series: str, episode_id: str, about: str) -> str:
    """``dm:42:ama:model-mondays:s2-e05:answered12``: one AMA note to one member (their
    question answered, or not reached)."""
    return f"dm:{int(member_id)}:{AMA_DM_INFIX}:{series}:{episode_id}:{about}"


def parse_ama_dm_key(key: str) -> tuple[int, str, str, str]:
    """``dm:42:ama:model-mondays:s2-e05:answered12`` -> (42, series, episode, about)."""
    match = _AMA_DM_KEY.fullmatch(key)
    if match is None or _DM_KEY.fullmatch(key) is not None:
        raise ValueError(f"not an AMA DM key: {key!r}")
    return int(match[1]), match[2], match[3], match[4]


def is_ama_dm_key(key: str) -> bool:
    try:
        parse_ama_dm_key(key)
    except ValueError:
        return False
    return True


def event_key(episode_id: str, kind: EventKind) -> str:
    """``event:s2-e05:ama``: our Discord scheduled event for one livestream or AMA."""
    return f"event:{episode_id}:{kind}"


def parse_event_key(key: str) -> tuple[str, EventKind]:
    """``event:s2-e05:ama`` -> ("s2-e05", "ama"). Episode ids may hold colons."""
    prefix, _, rest = key.partition(":")
    episode_id, _, kind = rest.rpartition(":")
    if prefix != "event" or kind not in EVENT_KINDS or not episode_id:
        raise ValueError(f"not an event key: {key!r}")
    return episode_id, kind


# -- the registry --------------------------------------------------------------------------


def _recap_dm_late(key: str) -> Late | None:
    # Like the channel's announcement: a late recap is still news, never "(delayed)"; an AMA
    # note (your question was answered) is still true late.
    return Late.ALWAYS if is_recap_dm_key(key) or is_ama_dm_key(key) else None


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            name="recap",
            noun="recap announcement",
            prefix="recap:",
            key=recap_key,
            parse=parse_recap_key,
            target=Target.SETTINGS,
            channel=lambda settings, _event: settings.announcements.channel_id,
            late=Late.ALWAYS,
            publish="always",
            ordered=True,
            render="bot.render.messages:recap_announcement",
        ),
        Kind(
            name="reminder",
            noun="reminder",
            prefix="reminder:",
            key=reminder_key,
            parse=parse_reminder_key_at,
            target=Target.SETTINGS,
            channel=lambda settings, event: settings.reminders.channel_for(event),
            late=Late.EVENT,
            publish="reminders.publish",
            live_now=True,
            render="bot.render.messages:reminder_message",
        ),
        Kind(
            name="announce",
            noun="announcement",
            prefix="announce:",
            key=announce_key,
            parse=parse_announce_key,
            target=Target.ORGANISER,
            late=Late.LIMIT,
            publish="always",
            ordered=True,
            render="bot.render.messages:organiser_announcement",
        ),
        Kind(
            name="alert",
            noun="note to the organisers",
            prefix="alert:",
            key=alert_key,
            parse=parse_alert_key,
            target=Target.SETTINGS,
            channel=lambda settings, _event: settings.organisers.alerts_channel_id,
            late=Late.ALWAYS,  # an alert is never dropped
            render="bot.render.messages:failure_alert",
        ),
        Kind(
            name="dm",
            noun="DM",
            prefix="dm:",
            key=dm_key,  # a recap DM: recap_dm_key
            parse=parse_any_dm_key,
            target=Target.MEMBER_DM,
            late=Late.EVENT,
            late_by_key=_recap_dm_late,
            render="bot.plan.optin:dm_reminder_message",  # a recap DM: recap_dm_message
        ),
        Kind(
            name="ama",
            noun="AMA message",
            prefix="ama:",
            key=ama_post_key,
            parse=parse_ama_post_key,
            target=Target.AMA_SESSION,
            late=Late.ALWAYS,  # a question, a card or the board is still right late
            ordered=True,  # questions appear in the thread in the order they were approved
            render="bot.plan.ama_posts:session_posts",
        ),
        Kind(
            name="event",
            noun="Discord event",
            prefix="event:",
            key=event_key,
            parse=parse_event_key,
            target=Target.DISCORD_EVENT,
            late=None,
            outbox=False,
            render="bot.plan.scheduled_events:plan_guild_events",
        ),
    )
}

# The kinds that are outbox rows (a scheduled event is kept in its own table).
OUTBOX_KINDS = frozenset(name for name, k in KINDS.items() if k.outbox)


def declared(name: str) -> Kind:
    """The declaration of `name`; UnknownKind when nobody declared it."""
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKind(f"undeclared post kind {name!r} (see bot/plan/kinds.py)") from None


def outbox_kind(name: str) -> Kind:
    """Like `declared`, for an outbox post: a kind that is not an outbox row is refused too."""
    found = declared(name)
    if not found.outbox:
        raise UnknownKind(f"{name!r} is not an outbox post kind")
    return found


def kind_of_key(key: str) -> Kind:
    """The kind a key belongs to, by its prefix."""
    for found in KINDS.values():
        if key.startswith(found.prefix):
            return found
    raise UnknownKind(f"no post kind has keys like {key!r}")


def channel_for(name: str, settings: Settings, event: str = "") -> int:
    """The channel a post of kind `name` goes to, chosen from `settings` (`event`: the event
    kind for a post about an event). A kind whose channel is not chosen from Settings (a
    DM, an organiser's post) has none here: ValueError."""
    found = declared(name)
    if found.channel is None:
        raise ValueError(f"a {found.noun}'s channel is not chosen from the settings")
    return found.channel(settings, event)


def publish_settings_on(settings: Settings) -> frozenset[str]:
    """The names of the publish settings (`Kind.publish`) that are on in `settings`."""
    on = set()
    for found in KINDS.values():
        name = found.publish
        if name is None or name == "always":
            continue
        value: Any = settings
        for part in name.split("."):
            value = getattr(value, part)
        if value:
            on.add(name)
    return frozenset(on)
