"""What Discord tells us about scheduled events: "Interested" marks and status changes.

Why the raw parsers: discord.py turns GUILD_SCHEDULED_EVENT_USER_ADD/REMOVE into
`on_scheduled_event_user_add` only for users it has cached, and without the privileged
members intent (the bot does not ask for it) it has cached almost nobody: the events are
dropped with a debug line. So this cog wraps the state's parsers for the four event types:
the wrapper hands the raw payload to us, then calls discord.py's own parser unchanged. The
originals are put back when the cog unloads.

- USER_ADD / USER_REMOVE on one of *our* events (its id is in the store) with
  ``[optin] interested_dm``: the member's interest is recorded or dropped and their DM
  reminders re-planned.
- UPDATE / DELETE on one of our events: its status is noted (a person may have cancelled
  or ended it by hand; the reconciler then leaves it alone). Events people made are never
  in the store, so they are never touched.
- At every READY: what happened while the bot was away is read back from Discord
  (bot/services/event_sync.py): statuses, events a person deleted, "Interested" users.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from discord.ext import commands

from bot.config import Settings
from bot.discord.app import AmaBot
from bot.plan.kinds import parse_event_key, split_scoped_id
from bot.plan.scheduled_events import EventStatus
from bot.services.posting import PostingService

log = logging.getLogger("amabot.cogs.scheduled_events")

HOOKED = (
    "GUILD_SCHEDULED_EVENT_USER_ADD",
    "GUILD_SCHEDULED_EVENT_USER_REMOVE",
    "GUILD_SCHEDULED_EVENT_UPDATE",
    "GUILD_SCHEDULED_EVENT_DELETE",
)


def _snowflake(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class ScheduledEvents(commands.Cog):
    def __init__(self, bot: AmaBot):
        self.bot = bot
        self._originals: dict[str, Callable[[Any], Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # One gateway event at a time, in arrival order: an add then a remove must end removed.
        self._lock = asyncio.Lock()

    async def cog_load(self) -> None:
        parsers = self.bot._connection.parsers
        for name in HOOKED:
            original = parsers.get(name)
            if original is None:
                continue
            self._originals[name] = original
            parsers[name] = self._wrap(name, original)

    async def cog_unload(self) -> None:
        parsers = self.bot._connection.parsers
        for name, original in self._originals.items():
            parsers[name] = original
        self._originals.clear()
        for task in list(self._tasks):
            task.cancel()

    def _wrap(self, name: str, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def parser(data: Any) -> Any:
            try:
                if isinstance(data, dict):
                    task = asyncio.get_running_loop().create_task(
                        self._handle(name, dict(data)), name=f"amabot-{name.lower()}"
                    )
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:  # never let our hook break discord.py's own handling
                log.exception("could not handle %s", name)
            return original(data)

        return parser

    @commands.Cog.listener("on_voice_state_update")
    async def someone_joined_the_stage(self, member: Any, before: Any, after: Any) -> None:
        """With `[events] auto_start`, an AMA event starts when its host joins the stage:
        run the events pass at once instead of waiting for the next wake-up."""
        settings = self.bot.settings.events
        channel = getattr(after, "channel", None)
        if not settings.auto_start or channel is None:
            return
        if channel.id not in (settings.ama_stage_channel_id, settings.ama_voice_channel_id):
            return
        posting = self.bot.posting_service
        if posting is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._run_events_pass(posting), name="amabot-events-voice"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_events_pass(self, posting: PostingService) -> None:
        try:
            await posting.reconcile_events()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the events pass after a stage join failed")

    @commands.Cog.listener("on_ready")
    async def reconcile_with_discord(self) -> None:
        """At every READY (a new session: after an outage the gateway replays nothing), re-read
        our scheduled events and their "Interested" users from Discord. The pass is owned
        here and logs its own failure; posting does not wait for it."""
        posting = self.bot.posting_service
        if posting is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._reconcile(posting), name="amabot-events-ready"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, posting: PostingService) -> None:
        try:
            await posting.sync_with_discord()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reconciling with Discord at READY failed")

    async def _handle(self, name: str, data: dict[str, Any]) -> None:
        try:
            async with self._lock:
                await self._apply(name, data)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling %s failed", name)

    async def _apply(self, name: str, data: dict[str, Any]) -> None:
        settings = self.bot.settings
        store = self.bot.store
        if store is None:
            return
        guild_id = _snowflake(data.get("guild_id"))
        if settings.discord.guild_id and guild_id != settings.discord.guild_id:
            return
        now = self.bot.clock()
        if name.endswith(("_USER_ADD", "_USER_REMOVE")):
            event_id = _snowflake(data.get("guild_scheduled_event_id"))
            member_id = _snowflake(data.get("user_id"))
            if event_id is None or member_id is None:
                return
            key = await store.events.key_for(event_id)
            if key is None:
                return  # a person's event: none of our business
            view = self._series_of(key)  # the event's own series: its opt-in settings
            if view is None or not view.optin.interested_dm:
                return
            if name.endswith("_USER_ADD"):
                changed = await store.optin.add_interest(member_id, key, now, series=view.series.id)
            else:
                changed = await store.optin.remove_interest(member_id, key)
            if changed:
                log.info(
                    "member %s %s interested in %s",
                    member_id,
                    "is" if name.endswith("_USER_ADD") else "is no longer",
                    key,
                )
                await self.bot.posting.reconcile_dms()
            return
        event_id = _snowflake(data.get("id"))
        if event_id is None:
            return
        if name.endswith("_DELETE"):
            status = int(EventStatus.CANCELED)
        else:
            try:
                status = int(data["status"])
            except (KeyError, TypeError, ValueError):
                return
        key = await store.events.note_status(event_id, status, now)
        if key is not None:
            log.info("Discord says our event %s (%s) is now status %s", key, event_id, status)
            await self._tell_the_ama(key, status)

    def _series_of(self, key: str) -> Settings | None:
        """The series an event key of ours belongs to: named in its scoped id
        (``event:<series>/<episode>:ama``), else the one owning the bare keys."""
        try:
            scoped, _ = parse_event_key(key)
        except ValueError:
            return None
        series_id, _ = split_scoped_id(scoped)
        for view in self.bot.settings.shows():
            if (series_id is None and not view.series.key_prefix) or view.series.id == series_id:
                return view
        return None

    async def _tell_the_ama(self, key: str, status: int) -> None:
        """Our AMA event going active makes its session live; completed or cancelled, closed."""
        try:
            scoped, kind = parse_event_key(key)
        except ValueError:
            return
        view = self._series_of(key)
        episode_id = split_scoped_id(scoped)[1]
        services = getattr(self.bot, "ama_services", {})
        ama = services.get(view.series.id) if view is not None else None
        if ama is None:
            return
        words = {
            int(EventStatus.ACTIVE): "active",
            int(EventStatus.COMPLETED): "completed",
            int(EventStatus.CANCELED): "cancelled",
        }
        if kind == "ama" and status in words:
            await ama.on_event_status(episode_id, words[status])


async def setup(bot: AmaBot) -> None:
    await bot.add_cog(ScheduledEvents(bot))
