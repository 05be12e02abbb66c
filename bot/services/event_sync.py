"""At every READY, re-read Discord's side of our scheduled events (issue 15, item 5).

While the bot is connected, Discord's gateway tells it when an event of ours changes status
and who marks "Interested". While it is down, nothing does: this pass closes the gap.

1. List the guild's scheduled events (``GET /guilds/{guild}/scheduled-events``).
2. Ours that Discord still has: their status is taken from Discord (a person may have
   started, ended or cancelled one by hand).
3. Ours that Discord no longer has: **a person deleted it, and the bot does not fight them.**
   The store records it as cancelled (status 4), the same as a GUILD_SCHEDULED_EVENT_DELETE
   received while connected, so the reconciler neither PATCHes it (Discord would answer 404,
   code 10070) nor creates it again right away. The event is made anew only when the
   organisers change that episode in the content (its spec changes), exactly like an event
   a person cancelled by hand.
4. Events the bot made that the store does not know (a crash between Discord's answer and
   the store's write): adopted for the planned key with the same name and start time, so no
   second one is created.
5. "Interested" users of each open event of ours, paged with ``after=`` (100 a page), are
   made the store's opt-in list for that event with ``[optin] interested_dm``: marks made or
   withdrawn while the bot was down reach the DM reminders.

Discord-free: the REST calls go through an injected `EventsReader`.

`EventsPass` runs this re-read and the events pass itself (bot/plan/scheduled_events.py)
for the posting service: one at a time, with the auto_start wake-ups.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.clock import Clock
from bot.config import Settings
from bot.content.models import Episode
from bot.plan.auto_start import may_start, start_check_times
from bot.plan.scheduled_events import (
    EventReconciler,
    EventsApi,
    EventSpec,
    EventsReport,
    EventStatus,
    plan_guild_events,
    transition_times,
)
from bot.store import EventStore, OptinStore, Store

log = logging.getLogger("amabot.events.sync")

USERS_PAGE = 100  # Discord's maximum `limit` for the event users route
OPEN = (int(EventStatus.SCHEDULED), int(EventStatus.ACTIVE))


class EventsReader(Protocol):
    async def list_events(self) -> list[dict[str, Any]]:
        """``GET /guilds/{guild}/scheduled-events``."""
        ...

    async def event_users(self, event_id: int, *, after: int = 0) -> list[dict[str, Any]]:
        """``GET /guilds/{guild}/scheduled-events/{event}/users?limit=100&after=…``."""
        ...


@dataclass(slots=True)
class SyncReport:
    statuses: list[tuple[str, int]] = field(default_factory=list)  # (key, new status)
    deleted: list[str] = field(default_factory=list)  # deleted by a person: left deleted
    adopted: list[str] = field(default_factory=list)
    interest_added: int = 0
    interest_removed: int = 0

    @property
    def interest_changed(self) -> bool:
        return bool(self.interest_added or self.interest_removed)


def _id(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def adoptable(
    listed: Iterable[Mapping[str, Any]],
    plan: Iterable[EventSpec],
    known_ids: set[int],
    bot_id: int,
) -> dict[str, Mapping[str, Any]]:
    """Planned key -> the event the bot made for it that the store does not know. Pure.

    Matched on name and start time, and only one to one: an ambiguous match adopts nothing."""
    unknown = [
        e
        for e in listed
        if _id(e.get("creator_id")) == bot_id and _id(e.get("id")) not in known_ids
    ]
    by_spec: dict[str, list[Mapping[str, Any]]] = {}
    for spec in plan:
        if spec.cancel or spec.start is None:
            continue
        start = spec.start.timestamp()
        for e in unknown:
            try:
                listed_start = datetime.fromisoformat(str(e["scheduled_start_time"])).timestamp()
            except (KeyError, ValueError):
                continue
            if e.get("name") == spec.name and listed_start == start:
                by_spec.setdefault(spec.key, []).append(e)
    out: dict[str, Mapping[str, Any]] = {}
    used: set[int] = set()
    for key, events in by_spec.items():
        if len(events) == 1 and (eid := _id(events[0].get("id"))) not in used:
            out[key] = events[0]
            used.add(eid)  # type: ignore[arg-type]
    return out


class DiscordSideSync:
    """One pass of the READY reconciliation; see the module docstring."""

    def __init__(
        self,
        events_store: EventStore,
        optin_store: OptinStore,
        api: EventsReader,
        settings: Settings,
    ):
        self._events = events_store
        self._optin = optin_store
        self._api = api
        self._settings = settings

    async def run(self, episodes: Iterable[Episode], now: datetime, *, bot_id: int) -> SyncReport:
        report = SyncReport()
        listed = {eid: e for e in await self._api.list_events() if (eid := _id(e.get("id")))}
        stored = await self._events.all()
        for key, st in stored.items():
            if st.discord_id is None:
                continue
            event = listed.get(st.discord_id)
            if event is None:
                # Discord drops ended events from the list: only an open one of ours that
                # is gone was deleted by a person.
                if st.status in OPEN:
                    await self._events.note_status(st.discord_id, int(EventStatus.CANCELED), now)
                    report.deleted.append(key)
                    log.info(
                        "our Discord event %s (%s) was deleted by a person; left deleted until "
                        "the episode changes",
                        key,
                        st.discord_id,
                    )
                continue
            status = _id(event.get("status"))
            if status is not None and status != st.status:
                await self._events.note_status(st.discord_id, status, now)
                report.statuses.append((key, status))

        plan = plan_guild_events(list(episodes), self._settings, now)
        known = {st.discord_id for st in stored.values() if st.discord_id is not None}
        for key, found in adoptable(listed.values(), plan, known, bot_id).items():
            ours = stored.get(key)
            if ours is not None and ours.discord_id is not None:
                continue  # the key has its own event; the listed one is someone else's worry
            # An empty record: the reconciler PATCHes the whole spec onto it once.
            await self._events.upsert(
                key,
                discord_id=int(found["id"]),
                spec_hash="",
                status=_id(found.get("status")) or int(EventStatus.SCHEDULED),
                body={},
                now=now,
            )
            report.adopted.append(key)
            log.info("adopted our Discord event %s for %s", found["id"], key)

        if self._settings.optin.interested_dm:
            await self._backfill_interest(listed, report, now)
        return report

    async def _backfill_interest(
        self, listed: Mapping[int, Mapping[str, Any]], report: SyncReport, now: datetime
    ) -> None:
        have: dict[str, set[int]] = {}
        for item in await self._optin.interested():
            have.setdefault(item.event_key, set()).add(item.member_id)
        for key, st in (await self._events.all()).items():
            if st.discord_id is None:
                continue
            event = listed.get(st.discord_id)
            if event is None or _id(event.get("status")) not in OPEN:
                continue
            users = await self._all_users(st.discord_id)
            before = have.get(key, set())
            for member in sorted(users - before):
                if await self._optin.add_interest(member, key, now):
                    report.interest_added += 1
            for member in sorted(before - users):
                if await self._optin.remove_interest(member, key):
                    report.interest_removed += 1

    async def _all_users(self, event_id: int) -> set[int]:
        users: set[int] = set()
        after = 0
        while True:
            page = await self._api.event_users(event_id, after=after)
            ids: list[int] = []
            for item in page:
                uid = _id(item.get("user_id") or (item.get("user") or {}).get("id"))
                if uid is None:
                    continue
                ids.append(uid)
                # The spec's `response`: 1 interested, 0 not (absent: listed, so interested).
                if item.get("response", 1) != 0:
                    users.add(uid)
            if len(page) < USERS_PAGE or not ids:
                return users
            after = max(ids)


EVENTS_WAKE_PREFIX = "events:"  # wake-ups that run the scheduled events reconcile (auto_start)


class EventsPass:
    """Our Discord scheduled events kept in line with the content while the bot runs: the
    events pass (create, update, cancel; with auto_start, start and end at wake-ups keyed
    ``events:<time>``), one at a time so two passes never both create one event, and the
    re-read of Discord's side above (`sync_with_discord`). Its failures are logged and
    recorded, never raised: posting carries on.

    `reconciler` is None when `[events] enabled` is off or there is no events API."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        index: Any,  # bot.content.index.ContentIndex
        clock: Clock,
        api: EventsApi | None,
        schedule: Callable[[str, datetime], None],
        reconcile_dms: Callable[[], Awaitable[Any]],
    ):
        self.settings = settings
        self.store = store
        self.index = index
        self.clock = clock
        self._schedule = schedule
        self._reconcile_dms = reconcile_dms
        self.reconciler: EventReconciler | None = None
        if api is not None and settings.events.enabled:
            self.reconciler = EventReconciler(
                store.events, api, settings, may_start=self._auto_start_gate(api)
            )
        self._events_lock = asyncio.Lock()
        self._events_api = api
        self.last_discord_sync: SyncReport | None = None
        self.wakes: dict[str, datetime] = {}  # the auto_start wake-ups: not outbox rows
        self.last_events_report: EventsReport | None = None

    def _auto_start_gate(self, api: Any) -> Any:
        """auto_start starts an event only with people in its channel (bot/plan/auto_start)."""
        if not self.settings.events.auto_start or not hasattr(api, "stage_presence"):
            return None
        hosts = self.settings.organisers.role_ids
        after = self.settings.events.auto_start_after

        def gate(spec: Any, now: datetime) -> bool:
            return may_start(spec, now, api.stage_presence(spec.channel_id, hosts), after)

        return gate

    async def sync_with_discord(self) -> EventsReport | None:
        """Re-read Discord's side of our scheduled events (at start-up and at every READY:
        `DiscordSideSync`), then run the events pass on what it found. A failure is logged;
        the events pass runs anyway."""
        if self.reconciler is None:
            return None
        api: Any = self._events_api  # what else it can do is asked of it
        if hasattr(api, "list_events") and hasattr(api, "event_users"):
            bot_id = api.bot_user_id() if hasattr(api, "bot_user_id") else 0
            sync = DiscordSideSync(self.store.events, self.store.optin, api, self.settings)
            async with self._events_lock:
                try:
                    report = await sync.run(self.index.episodes(), self.clock(), bot_id=bot_id)
                except Exception:
                    log.exception("re-reading Discord's scheduled events failed")
                    report = None
            self.last_discord_sync = report
            if report is not None and report.interest_changed:
                log.info(
                    "Interested while we were away: %d added, %d removed",
                    report.interest_added,
                    report.interest_removed,
                )
                await self._reconcile_dms()
        return await self.reconcile_events()

    async def reconcile_events(self) -> EventsReport | None:
        """Create, update, cancel (and with auto_start, start and end) our Discord scheduled
        events. A failure here is logged and recorded in the store; it never stops posting."""
        if self.reconciler is None:
            return None
        async with self._events_lock:
            now = self.clock()
            episodes = list(self.index.episodes())
            try:
                report = await self.reconciler.reconcile(episodes, now)
            except Exception:
                log.exception("the Discord scheduled events pass failed; posting carries on")
                return None
            self.last_events_report = report
            if self.settings.events.auto_start:
                plan = plan_guild_events(episodes, self.settings, now)
                after = self.settings.events.auto_start_after
                times = {*transition_times(plan, now), *start_check_times(plan, now, after)}
                self.wakes = {f"{EVENTS_WAKE_PREFIX}{t.isoformat()}": t for t in times}
                for key, when in self.wakes.items():
                    self._schedule(key, when)
            return report

    async def on_wake(self, key: str) -> None:
        """An ``events:`` wake-up came: run the pass (which schedules the next ones)."""
        self.wakes.pop(key, None)
        await self.reconcile_events()

    async def health(self) -> dict[str, Any]:
        """What /healthz and `amabot plan` say about the Discord scheduled events."""
        return {
            "enabled": self.reconciler is not None,
            "permission_error": await self.store.events.permission_error(),
            "errors": await self.store.events.errors(),
        }
