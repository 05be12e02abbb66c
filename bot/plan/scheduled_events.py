"""Content -> Discord scheduled events: what should exist, and what to do to get there.

Pure and Discord-free: `plan_guild_events` says which events should exist (from episodes,
settings and now), `diff_events` compares that with what the store recorded and returns one
action per key; `EventReconciler` applies the actions through an injected `EventsApi` (the
Discord one is wired by the app) and records each outcome, so a restart never creates a
second event.

Choices worth knowing:

- Keys are ``event:<episode id>:<livestream|ama>``. Only events whose key is in the store
  are ever edited: events people made are never touched, and nothing is ever deleted.
- Only the next ``[events] create_ahead`` events are created (Discord allows 100 per guild,
  people's events included). Events further out are planned too, marked not `creatable`:
  an event made earlier keeps being updated when it drifts out of the window.
- An ended event is not planned and is left alone, except that with ``auto_start`` an AMA
  event the bot started is ended (status 3) once its duration is over.
- A cancelled episode plans `cancel` specs: a scheduled event of ours is cancelled (status
  4); a running one is ended. A cancelled (or completed) event is created anew only when the
  content changes after that (its spec hash differs): an event a person cancelled by hand
  stays cancelled until the organisers change the episode.
- Discord wants the cover ``image`` as a data URI. Specs carry the episode's http(s)
  ``image_url`` instead; CREATE and UPDATE actions name it when the cover must be (re)sent,
  and the `EventsApi` fetches and encodes it (`image_data_uri`). A failed fetch sends the
  event without a cover; the spec hash still records the URL, so it is not fetched again
  until it changes.
- Discord refuses a start time in the past: a spec is created only before its start, and
  the start time of a running event is never PATCHed.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, TypeGuard

from bot.config import Settings
from bot.content.models import EVENT_KINDS, Episode, EpisodeStatus, EventKind, utc
from bot.plan.kinds import event_key as event_key  # the key format: bot/plan/kinds.py
from bot.plan.kinds import parse_event_key as parse_event_key
from bot.plan.kinds import scoped_id
from bot.render.limits import cut, is_http_url, one_line

log = logging.getLogger("amabot.events")

NAME_MAX = 100
DESCRIPTION_MAX = 1000
LOCATION_MAX = 100
PRIVACY_GUILD_ONLY = 2
PERMISSION_CODES = frozenset({50013, 50001})  # Missing Permissions, Missing Access


class EntityType(enum.IntEnum):
    STAGE_INSTANCE = 1
    VOICE = 2
    EXTERNAL = 3


class EventStatus(enum.IntEnum):
    SCHEDULED = 1
    ACTIVE = 2
    COMPLETED = 3
    CANCELED = 4


FINISHED = frozenset({EventStatus.COMPLETED, EventStatus.CANCELED})
# Fields that must travel together in a PATCH when the kind of place changes.
_ENTITY_FIELDS = ("entity_type", "channel_id", "entity_metadata", "scheduled_end_time")
# What may still change once an event is running.
_ACTIVE_FIELDS = ("name", "description", "scheduled_end_time")


def event_link(guild_id: int, discord_id: int) -> str:
    """The link Discord shows for an event ("Interested?" in /episode)."""
    return f"https://discord.com/events/{int(guild_id)}/{int(discord_id)}"


def iso(dt: datetime) -> str:
    return utc(dt).isoformat()


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One Discord scheduled event as the content says it should be."""

    key: str
    episode_id: str
    kind: EventKind
    name: str
    description: str
    start: datetime | None  # None only for a `cancel` spec of an event whose time was removed
    end: datetime | None
    entity_type: EntityType
    channel_id: int = 0  # stage or voice channel; 0 for external
    location: str = ""  # external only
    image_url: str | None = None  # the cover, fetched and encoded by the EventsApi
    cancel: bool = False
    creatable: bool = True  # within the next `create_ahead` events

    def body(self) -> dict[str, Any]:
        """The JSON body of `POST /guilds/{guild}/scheduled-events` (without the image)."""
        external = self.entity_type is EntityType.EXTERNAL
        return {
            "name": self.name,
            "description": self.description,
            "scheduled_start_time": iso(self.start) if self.start else None,
            "scheduled_end_time": iso(self.end) if self.end else None,
            "privacy_level": PRIVACY_GUILD_ONLY,
            "entity_type": int(self.entity_type),
            # Snowflakes are strings in Discord's JSON; external events must say null.
            "channel_id": None if external or not self.channel_id else str(self.channel_id),
            "entity_metadata": {"location": self.location} if external else None,
        }

    @property
    def spec_hash(self) -> str:
        blob = json.dumps(
            [self.body(), self.image_url, self.cancel], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


# -- planning ------------------------------------------------------------------------------


def plan_guild_events(
    episodes: Iterable[Episode], settings: Settings, now: datetime
) -> list[EventSpec]:
    """Every livestream and AMA that has not ended, in start order; cancelled episodes give
    `cancel` specs; the first ``create_ahead`` live ones are `creatable`."""
    now = utc(now)
    cfg = settings.events
    live: list[EventSpec] = []
    cancels: list[EventSpec] = []
    for episode in episodes:
        cancelled = episode.status is EpisodeStatus.CANCELLED
        if not cancelled and episode.status not in (EpisodeStatus.SCHEDULED, EpisodeStatus.LIVE):
            continue
        for kind in EVENT_KINDS:
            event = episode.event(kind)
            if event is None:
                continue
            start = utc(event.start) if event.start is not None else None
            end = start + event.duration if start is not None else None
            if end is not None and end <= now:
                continue  # ended: left alone
            if start is None and not cancelled:
                continue  # TBD: nothing to schedule yet
            spec = _spec(episode, kind, start, end, settings, cancel=cancelled)
            (cancels if cancelled else live).append(spec)
    live.sort(key=lambda s: (s.start, s.key))
    upcoming = 0
    ordered: list[EventSpec] = []
    for spec in live:
        ahead = spec.start is not None and spec.start > now
        creatable = ahead and upcoming < cfg.create_ahead
        upcoming += 1 if ahead else 0
        ordered.append(spec if creatable else replace(spec, creatable=False))
    return ordered + sorted((replace(s, creatable=False) for s in cancels), key=lambda s: s.key)


def _spec(
    episode: Episode,
    kind: EventKind,
    start: datetime | None,
    end: datetime | None,
    settings: Settings,
    *,
    cancel: bool,
) -> EventSpec:
    event = episode.event(kind)
    url = event.url if event is not None else None
    cfg = settings.events
    channel_id = 0
    if kind == "ama" and cfg.ama_stage_channel_id:
        entity, channel_id = EntityType.STAGE_INSTANCE, cfg.ama_stage_channel_id
    elif kind == "ama" and cfg.ama_voice_channel_id:
        entity, channel_id = EntityType.VOICE, cfg.ama_voice_channel_id
    else:
        entity = EntityType.EXTERNAL
    location = ""
    extra_link = None
    if entity is EntityType.EXTERNAL:
        fallback = "Discord" if kind == "ama" else "Online"
        if url and is_http_url(url) and len(url) <= LOCATION_MAX:
            location = url
        else:
            location = fallback
            extra_link = url if url and is_http_url(url) else None
    label = "AMA" if kind == "ama" else "Livestream"
    title = one_line(episode.title) or episode.id
    return EventSpec(
        key=event_key(scoped_id(settings, episode.id), kind),
        episode_id=episode.id,
        kind=kind,
        name=cut(f"{episode.code} {label}: {title}", NAME_MAX),
        description=event_description(episode, extra_link),
        start=start,
        end=end,
        entity_type=entity,
        channel_id=channel_id,
        location=location,
        image_url=episode.image if is_http_url(episode.image) else None,
        cancel=cancel,
    )


def event_description(episode: Episode, link: str | None = None) -> str:
    """Summary, then guests, in at most 1000 characters cut at a word with "…"."""
    tail = ""
    guests = [one_line(g) for g in episode.guests if one_line(g)]
    if guests:
        names = guests[0] if len(guests) == 1 else ", ".join(guests[:-1]) + " and " + guests[-1]
        tail += f"\n\nWith {names}"
    if link:
        tail += f"\n\n{link}"
    tail = tail.strip("\n")
    summary = episode.summary.strip()
    if not summary:
        return cut(tail, DESCRIPTION_MAX)
    if len(tail) > DESCRIPTION_MAX // 2:
        tail = cut(tail, DESCRIPTION_MAX // 2)
    room = DESCRIPTION_MAX - len(tail) - (2 if tail else 0)
    text = cut(summary, room)
    return f"{text}\n\n{tail}" if tail else text


# -- diffing -------------------------------------------------------------------------------


class Op(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"
    START = "start"
    END = "end"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class EventAction:
    op: Op
    key: str
    discord_id: int | None = None  # the event to PATCH; None for CREATE
    body: dict[str, Any] = field(default_factory=dict)  # POST/PATCH body (image not included)
    image_url: str | None = None  # fetch, encode and add as "image" to the body
    spec: EventSpec | None = None
    reason: str = ""

    @property
    def status_after(self) -> int | None:
        return {
            Op.CREATE: EventStatus.SCHEDULED,
            Op.CANCEL: EventStatus.CANCELED,
            Op.START: EventStatus.ACTIVE,
            Op.END: EventStatus.COMPLETED,
        }.get(self.op)


class StoredLike(Protocol):
    """What `diff_events` reads of a stored event (`bot.store.interface.StoredEvent`, frozen:
    hence read-only properties)."""

    @property
    def discord_id(self) -> int | None: ...
    @property
    def spec_hash(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> Mapping[str, Any]: ...


def diff_events(
    plan: Iterable[EventSpec],
    stored: Mapping[str, StoredLike],
    now: datetime,
    *,
    auto_start: bool = False,
    create_ahead: int | None = None,
) -> list[EventAction]:
    """One action per planned or stored key (NONE included, for `amabot plan`).

    `stored` maps key -> what the store recorded (`bot.store.events.StoredEvent`).
    `create_ahead` caps our open (scheduled or running) upcoming events: creations stop
    once the events of ours already open plus the new ones reach it.
    """
    now = utc(now)
    specs = list(plan)
    planned_keys = {s.key for s in specs}
    budget = None
    if create_ahead is not None:
        open_ours = sum(
            1
            for s in specs
            if not s.cancel
            and (st := stored.get(s.key)) is not None
            and st.discord_id is not None
            and st.status in (EventStatus.SCHEDULED, EventStatus.ACTIVE)
        )
        budget = max(create_ahead - open_ours, 0)
    actions: list[EventAction] = []
    for spec in specs:
        action = _diff_one(spec, stored.get(spec.key), now, auto_start=auto_start)
        if action.op is Op.CREATE and budget is not None:
            if budget <= 0:
                action = EventAction(
                    Op.NONE, spec.key, spec=spec, reason=f"beyond create_ahead ({create_ahead})"
                )
            else:
                budget -= 1
        actions.append(action)
    for key in sorted(set(stored) - planned_keys):
        st = stored[key]
        if auto_start and st.discord_id is not None and st.status == EventStatus.ACTIVE:
            actions.append(
                EventAction(
                    Op.END,
                    key,
                    st.discord_id,
                    {"status": int(EventStatus.COMPLETED)},
                    reason="its time is over",
                )
            )
        else:
            actions.append(EventAction(Op.NONE, key, st.discord_id, reason="ended: left alone"))
    return actions


def _to_status(
    op: Op, status: EventStatus, spec: EventSpec, st: StoredLike, reason: str
) -> EventAction:
    """Move our Discord event to `status` (cancel, end or start it)."""
    return EventAction(
        op, spec.key, st.discord_id, {"status": int(status)}, spec=spec, reason=reason
    )


def _diff_one(
    spec: EventSpec, st: StoredLike | None, now: datetime, *, auto_start: bool
) -> EventAction:
    if st is not None and st.discord_id is None:
        st = None  # a row with no Discord event behind it: nothing of ours to act on
    ahead = spec.start is not None and spec.start > now
    running = spec.start is not None and spec.end is not None and spec.start <= now < spec.end
    if spec.cancel:
        if st is None:
            return EventAction(Op.NONE, spec.key, spec=spec, reason="cancelled; none made")
        if st.status == EventStatus.SCHEDULED:
            return _to_status(Op.CANCEL, EventStatus.CANCELED, spec, st, "episode cancelled")
        if st.status == EventStatus.ACTIVE:
            return _to_status(
                Op.END, EventStatus.COMPLETED, spec, st, "episode cancelled while running"
            )
        return EventAction(Op.NONE, spec.key, st.discord_id, spec=spec, reason="already over")

    create = EventAction(
        Op.CREATE, spec.key, None, spec.body(), image_url=spec.image_url, spec=spec
    )
    if st is None:
        if ahead and spec.creatable:
            return create
        why = "not within create_ahead" if ahead else "already started"
        return EventAction(Op.NONE, spec.key, spec=spec, reason=why)

    if st.status in FINISHED or st.status not in set(EventStatus):
        if st.spec_hash != spec.spec_hash and ahead and spec.creatable:
            return dataclasses.replace(create, reason="content changed after the event was over")
        return EventAction(Op.NONE, spec.key, st.discord_id, spec=spec, reason="over")

    changed = _changed_fields(spec.body(), st.body, active=st.status == EventStatus.ACTIVE)
    image_changed = st.spec_hash != spec.spec_hash and spec.image_url != _stored_image(st)
    if st.status == EventStatus.SCHEDULED and auto_start and running and _startable(spec):
        return _to_status(Op.START, EventStatus.ACTIVE, spec, st, "its start time")
    if st.spec_hash == spec.spec_hash:
        return EventAction(Op.NONE, spec.key, st.discord_id, spec=spec)
    if st.status == EventStatus.SCHEDULED and not ahead:
        # Discord refuses a start time in the past: only what may change once started.
        changed = {k: v for k, v in changed.items() if k in _ACTIVE_FIELDS}
    if not changed and not (image_changed and spec.image_url):
        return EventAction(Op.NONE, spec.key, st.discord_id, spec=spec, reason="nothing to send")
    return EventAction(
        Op.UPDATE,
        spec.key,
        st.discord_id,
        changed,
        image_url=spec.image_url if image_changed else None,
        spec=spec,
    )


def transition_times(plan: Iterable[EventSpec], now: datetime) -> list[datetime]:
    """With ``auto_start``, when the reconciler must run again: each coming start and end of
    an AMA event the bot starts and ends (schedule a wake-up at each)."""
    now = utc(now)
    times = {
        t
        for spec in plan
        if not spec.cancel and _startable(spec)
        for t in (spec.start, spec.end)
        if t is not None and t > now
    }
    return sorted(times)


def _startable(spec: EventSpec) -> bool:
    return spec.kind == "ama" and spec.entity_type is not EntityType.EXTERNAL


def _stored_image(st: StoredLike) -> str | None:
    value = st.body.get("_image_url") if isinstance(st.body, Mapping) else None
    return value if isinstance(value, str) else None


def _changed_fields(
    new: Mapping[str, Any], old: Mapping[str, Any], *, active: bool
) -> dict[str, Any]:
    if not old:
        changed = dict(new)
    else:
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        if any(k in changed for k in _ENTITY_FIELDS[:3]):
            changed.update({k: new[k] for k in _ENTITY_FIELDS})
    if active:
        changed = {k: v for k, v in changed.items() if k in _ACTIVE_FIELDS}
    if changed.get("scheduled_start_time") is None:
        changed.pop("scheduled_start_time", None)
    return changed


def recorded_body(spec: EventSpec) -> dict[str, Any]:
    """What the store keeps as "the body last applied": the body and the cover's URL."""
    return {**spec.body(), "_image_url": spec.image_url}


# -- applying ------------------------------------------------------------------------------


class EventsApiError(Exception):
    """Discord refused an event request. `code` is Discord's JSON error code, if any."""

    def __init__(self, message: str, *, status: int = 0, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def is_permission(self) -> bool:
        return self.status == 403 or self.code in PERMISSION_CODES


class EventsApi(Protocol):
    """The guild scheduled event routes, as the app wires them (discord.py's HTTP client)."""

    async def create_event(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /guilds/{guild.id}/scheduled-events -> the event JSON (with "id", "status")."""
        ...

    async def edit_event(self, event_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH /guilds/{guild.id}/scheduled-events/{event_id} -> the event JSON."""
        ...

    async def fetch_image(self, url: str) -> str | None:
        """The cover at `url` as a data URI (`image_data_uri`), or None when unavailable."""
        ...


class OwnEventsApi(EventsApi, Protocol):
    """An EventsApi that also lists and deletes the bot's own events (the app's does; test
    doubles need not): what lets a retried create adopt its first copy."""

    async def ours(self) -> list[dict[str, Any]]:
        """The guild's scheduled events this bot made."""
        ...

    async def delete_event(self, event_id: int) -> None:
        """DELETE /guilds/{guild.id}/scheduled-events/{event_id}."""
        ...


def _lists_ours(api: EventsApi) -> TypeGuard[OwnEventsApi]:
    return getattr(api, "ours", None) is not None


def same_event(event: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a live Discord event (one of ours) is the one `body` would create: same name,
    same start."""
    if int(event.get("status") or EventStatus.SCHEDULED) not in (
        EventStatus.SCHEDULED,
        EventStatus.ACTIVE,
    ):
        return False
    if event.get("name") != body.get("name"):
        return False
    try:
        theirs = datetime.fromisoformat(str(event["scheduled_start_time"]))
        mine = datetime.fromisoformat(str(body["scheduled_start_time"]))
    except (KeyError, ValueError):
        return False
    return theirs == mine


def image_data_uri(content_type: str, data: bytes) -> str | None:
    """``data:image/png;base64,...`` for PNG/JPEG/GIF/WebP covers; None for anything else."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in ("image/png", "image/jpeg", "image/gif", "image/webp") or not data:
        return None
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(slots=True)
class EventsReport:
    applied: list[tuple[str, str]] = field(default_factory=list)  # (op, key)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (key, error)
    permission_error: str | None = None

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for op, _ in self.applied:
            counts[op] = counts.get(op, 0) + 1
        done = ", ".join(f"{n} {op}" for op, n in sorted(counts.items())) or "nothing to do"
        return f"events: {done}; {len(self.errors)} errors"


class EventReconciler:
    """Plan, diff and apply, recording every outcome in the store (`store.events`).

    One failing event never stops the others; a permission error (Manage Events missing) is
    recorded on the key and reported once per pass, and the rest of the bot is unaffected.
    """

    def __init__(
        self,
        events_store: Any,
        api: EventsApi,
        settings: Settings,
        may_start: Callable[[EventSpec, datetime], bool] | None = None,
    ):
        self._store = events_store  # bot.store.events.EventStore
        self._api = api
        self._settings = settings
        # auto_start's gate (bot/plan/auto_start.py): None starts at the start time.
        self._may_start = may_start

    async def reconcile(self, episodes: Iterable[Episode], now: datetime) -> EventsReport:
        cfg = self._settings.events
        report = EventsReport()
        if not cfg.enabled:
            return report
        plan = plan_guild_events(episodes, self._settings, now)
        stored = await self._store.all()
        actions = diff_events(
            plan, stored, now, auto_start=cfg.auto_start, create_ahead=cfg.create_ahead
        )
        if self._may_start is not None:
            gate = self._may_start
            actions = [
                a for a in actions if a.op is not Op.START or a.spec is None or gate(a.spec, now)
            ]
        for action in actions:
            if action.op is Op.NONE:
                continue
            try:
                await self._apply(action, stored.get(action.key), now)
            except EventsApiError as exc:
                text = f"{action.op} {action.key}: {exc}"
                if exc.is_permission:
                    text = (
                        f"cannot {action.op} the Discord event {action.key}: Discord refused "
                        f"a permission ({exc}); events need Manage Events, a stage AMA also "
                        "Manage Channels, Mute Members and Move Members on the stage, a voice "
                        "AMA View Channel and Connect: `amabot doctor` names what is missing"
                    )
                    report.permission_error = report.permission_error or text
                await self._store.mark_error(action.key, text, now, permission=exc.is_permission)
                report.errors.append((action.key, text))
                continue
            except Exception as exc:  # one bad event must not stop the others
                log.exception("scheduled event %s: %s failed", action.key, action.op)
                text = f"{action.op} {action.key}: {type(exc).__name__}: {exc}"
                await self._store.mark_error(action.key, text, now)
                report.errors.append((action.key, text))
                continue
            report.applied.append((str(action.op), action.key))
        if report.permission_error:
            log.error("%s", report.permission_error)
        else:
            # Every key that still needed Manage Events was tried again and went through.
            await self._store.clear_permission_errors()
        if report.applied or report.errors:
            log.info("%s", report.summary())
        return report

    async def _create_once(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create, unless Discord already has this event from us: a create answered 5xx (or
        cut off by a crash) may have been made, and discord.py retries some 5xx by itself.
        An event of ours with the same name and start is adopted (and brought in line with
        `body`); copies a retried create left behind are removed. APIs without `ours` (a
        test double) just create."""
        api = self._api
        if not _lists_ours(api):
            return await api.create_event(body)
        same = [e for e in await api.ours() if same_event(e, body)]
        if same:
            keep = min(same, key=lambda e: int(e["id"]))
            log.warning("adopting Discord event %s (%s) made earlier", keep["id"], body["name"])
            return await api.edit_event(int(keep["id"]), body)
        answer = await api.create_event(body)
        made = int(answer["id"])
        for extra in [e for e in await api.ours() if same_event(e, body) and int(e["id"]) != made]:
            log.warning("removing a second copy %s of event %s", extra["id"], body["name"])
            await api.delete_event(int(extra["id"]))
        return answer

    async def _apply(self, action: EventAction, st: Any, now: datetime) -> None:
        body = dict(action.body)
        if action.image_url:
            image = await self._api.fetch_image(action.image_url)
            if image:
                body["image"] = image
        if action.op is Op.CREATE:
            answer = await self._create_once(body)
            discord_id = int(answer["id"])
            status = int(answer.get("status") or EventStatus.SCHEDULED)
        else:
            if action.discord_id is None:
                raise EventsApiError(f"{action.key} has no Discord event to edit")
            answer = await self._api.edit_event(action.discord_id, body)
            discord_id = action.discord_id
            status = int(answer.get("status") or action.status_after or st.status)
        spec = action.spec
        if spec is not None:
            spec_hash, recorded = spec.spec_hash, recorded_body(spec)
            if action.op in (Op.START, Op.END) and st is not None:
                # A status change is not the content: keep the old record so a later
                # content change is still seen as one.
                spec_hash, recorded = st.spec_hash, dict(st.body)
        else:
            spec_hash, recorded = st.spec_hash, dict(st.body)
        await self._store.upsert(
            action.key,
            discord_id=discord_id,
            spec_hash=spec_hash,
            status=status,
            body=recorded,
            now=now,
        )
