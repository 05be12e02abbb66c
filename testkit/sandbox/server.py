"""The Sandbox: an aiohttp server on 127.0.0.1 that the real discord.py client talks to.

Point discord.py at it with::

    discord.http.Route.BASE = sandbox.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sandbox.gateway_url)
"""

# Every wait here takes an explicit timeout on purpose: a test must never hang.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from . import rest
from .faults import DROP, AfterStore, Delay, Failure, json_response, route_matches
from .gateway import Gateway
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionRecord,
    InteractionResult,
    build_options,
    build_payload,
    result_of,
)
from .limits import InvalidRequests, SlidingWindow
from .modals import ModalRefused, ShownModal, submission
from .state import (
    ANNOUNCEMENT,
    ANNOUNCEMENT_THREAD,
    DM,
    NONCE_WINDOW_SECONDS,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    STAGE,
    VIEW_CHANNEL,
    VOICE,
    ApiError,
    Channel,
    Guild,
    Member,
    MemberCannotSee,
    Overwrite,
    Pings,
    Role,
    SandboxError,
    SandboxTimeout,
    ScheduledEvent,
    StoredMessage,
    ThreadState,
    User,
    World,
    _id,
    iso,
    new_token,
    utcnow,
)
from .violations import Violation

_log = logging.getLogger("testkit.sandbox")

API_PREFIX = "/api/v10"
DEFAULT_TIMEOUT = 5.0
# receiving-and-responding.mdx: the first response within 3 s, else the token is invalidated;
# follow-ups and edits of the original for 15 minutes.
INTERACTION_DEADLINE = 3.0
FOLLOWUP_WINDOW = 900.0
# MonitoRSS#184, acehox/auto-publisher#13: about 10 publishes per hour per news channel.
PUBLISH_PER_HOUR = 10
# opcodes 30046 "Maximum number of edits to messages older than 1 hour reached": Discord
# gives no number; a handful per hour per channel (aikaterna/aikaterna-cogs#302).
OLD_EDIT_LIMIT = 5
# opcodes 40003; DasWolke/SnowTransfer#43: "several DMs at once" work, "a few dozen" do not.
DM_OPEN_PER_MINUTE = 10
# guild-scheduled-event.mdx: an ACTIVE stage/voice event ends "a few minutes" after the last
# member leaves; a SCHEDULED event never started is cancelled "on the order of hours" after.
EMPTY_EVENT_TIMEOUT = 180.0
UNSTARTED_EVENT_CANCEL_AFTER = 3 * 3600.0
DROPPED = 0  # RecordedRequest.status of a request whose connection the sandbox dropped


@dataclass
class FailedInteraction:
    """An interaction a member saw fail ("This interaction failed"): no callback in time."""

    id: int
    name: str
    type: int
    user_id: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "type": self.type,
            "user_id": str(self.user_id),
            "reason": self.reason,
        }


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    time: datetime
    monotonic: float
    template: str | None = None
    status: int | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    response: Any = None
    # The uploaded files' bytes by filename (kept out of `to_dict`: tests read them directly,
    # e.g. to parse an .ics attachment back).
    file_data: dict[str, bytes] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "json": self.json,
            "headers": self.headers,
            "time": iso(self.time),
            "template": self.template,
            "status": self.status,
            "files": self.files,
        }


class _Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], list[str], int, str, Any, bool]] = []
        for method, template, handler, auth in rest.ROUTES:
            segs = template.strip("/").split("/")
            names = [s[1:-1] for s in segs if s.startswith("{")]
            regex = "/".join("([^/]+)" if s.startswith("{") else re.escape(s) for s in segs)
            literals = sum(not s.startswith("{") for s in segs)
            self._routes.append(
                (method, re.compile(f"^{regex}$"), names, literals, template, handler, auth)
            )
        self._routes.sort(key=lambda r: -r[3])

    def match(self, method: str, path: str) -> tuple[str, Any, dict[str, str], bool] | None:
        p = path.strip("/")
        for m, pattern, names, _lit, template, handler, auth in self._routes:
            if m != method:
                continue
            found = pattern.match(p)
            if found:
                params = dict(zip(names, found.groups(), strict=True))
                if template.endswith("@original"):
                    params["message_id"] = "@original"
                return template, handler, params, auth
        return None


def validation_available() -> bool:
    """Whether requests can be checked against the spec (jsonschema is installed)."""
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return False
    return True


class Sandbox:
    """A local Discord: REST v10 + gateway + a Python API for tests and the demo."""

    def __init__(
        self,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        bot_name: str = "amabot",
        validate: bool | None = True,
        validate_responses: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        heartbeat_interval_ms: int = 41250,
        nonce_window: float = NONCE_WINDOW_SECONDS,
        interaction_deadline: float = INTERACTION_DEADLINE,
        followup_window: float = FOLLOWUP_WINDOW,
        publish_per_hour: int = PUBLISH_PER_HOUR,
        old_edit_limit: int = OLD_EDIT_LIMIT,
        dm_open_per_minute: int = DM_OPEN_PER_MINUTE,
        empty_event_timeout: float = EMPTY_EVENT_TIMEOUT,
        unstarted_event_cancel_after: float = UNSTARTED_EVENT_CANCEL_AFTER,
        tick_interval: float | None = 1.0,
    ) -> None:
        self.token = token or new_token()
        self.host = host
        self.port = port
        self.clock: Callable[[], datetime] = clock or utcnow
        self.timeout = timeout
        self.world = World(self.clock, bot_name=bot_name)
        self.gateway = Gateway(self, heartbeat_interval_ms=heartbeat_interval_ms)
        # None: validate when jsonschema is installed (the demo); tests pass True, so a
        # missing jsonschema fails them instead of silently checking nothing.
        if validate is None:
            validate = validation_available()
        if validate_responses is None:
            validate_responses = validate
        self.validate = validate
        self.validate_responses = validate_responses
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.response_violations: list[Violation] = []
        self.denied_channels: set[int] = set()
        self.failures: list[Failure] = []
        self.delays: list[Delay] = []
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        # Every modal the bot showed (callback type 9); a member submits only these.
        self.shown_modals: list[ShownModal] = []
        self.nonce_hits = 0
        self.embeds_dropped = 0  # messages whose embeds were dropped (no Embed Links)
        # Seconds on the sandbox clock (a ManualClock moved past it models a long downtime).
        self.nonce_window = nonce_window
        # Real seconds (time.monotonic), not the sandbox clock: how fast the bot answers is
        # real time even when a test moves the calendar by hours.
        self.interaction_deadline = interaction_deadline
        self.followup_window = followup_window
        self.failed_interactions: list[FailedInteraction] = []
        self.after_store: list[AfterStore] = []
        # Calendar-scale limits run on the sandbox clock, so a test moves past them with it.
        sandbox_seconds = lambda: self.clock().timestamp()  # noqa: E731
        self.publishes = SlidingWindow(publish_per_hour, 3600.0, sandbox_seconds)
        self.old_edits = SlidingWindow(old_edit_limit, 3600.0, sandbox_seconds)
        self.dm_opens = SlidingWindow(dm_open_per_minute, 60.0, sandbox_seconds)
        self.empty_event_timeout = empty_event_timeout
        self.unstarted_event_cancel_after = unstarted_event_cancel_after
        self.invalid = InvalidRequests()
        # When each voice/stage channel last became empty (sandbox clock); absent = occupied
        # or never used.
        self.empty_since: dict[int, datetime] = {}
        self._tick_interval = tick_interval
        self._ticker: asyncio.Task[None] | None = None
        self._tick_lock: asyncio.Lock | None = None
        self.on_violation: Callable[[Violation], None] | None = None
        self._router = _Router()
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Event | None = None
        self._validator = None
        if validate or validate_responses:
            from .validation import get_validator

            self._validator = get_validator()

    # -- lifecycle ----------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/", self.gateway.handle)
        from .control import add_control_routes

        add_control_routes(app, self)
        return app

    async def start(self) -> Sandbox:
        self._changed = asyncio.Event()
        self._tick_lock = asyncio.Lock()
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        if self._tick_interval:
            self._ticker = asyncio.create_task(self._tick_forever(), name="sandbox-tick")
        return self

    async def _tick_forever(self) -> None:
        # The sandbox's own owner of the time-driven transitions (scheduled events).
        while True:
            await asyncio.sleep(self._tick_interval or 1.0)
            try:
                await self.tick()
            except Exception:
                _log.exception("sandbox tick failed")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.gateway.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def bot_user(self) -> User:
        return self.world.bot

    # -- waiting ------------------------------------------------------------------------
    def _notify(self) -> None:
        # Wake every waiter; each re-checks its own predicate.
        event = self._changed
        if event is not None:
            self._changed = asyncio.Event()
            event.set()

    async def wait_for(
        self, predicate: Callable[[], Any], *, timeout: float | None = None, what: str = "condition"
    ) -> Any:
        """Await until predicate() is truthy; SandboxTimeout (never a hang) otherwise."""
        if self._changed is None:
            raise SandboxError("sandbox is not started")
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not (result := predicate()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxTimeout(
                    f"timed out after {limit:.1f}s waiting for {what}; "
                    f"last requests: {self._recent()}"
                )
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except TimeoutError:
                continue
        return result

    def _recent(self, n: int = 5) -> list[str]:
        return [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-n:]]

    async def wait_for_identify(self, count: int = 1, *, timeout: float | None = None) -> dict:
        await self.wait_for(
            lambda: len(self.gateway.log.identifies) >= count,
            timeout=timeout,
            what=f"IDENTIFY #{count}",
        )
        return self.gateway.log.identifies[count - 1]

    async def wait_ready(self, *, timeout: float | None = None) -> None:
        """Until READY and every GUILD_CREATE have been sent on a live connection."""
        await self.wait_for(
            lambda: self.gateway.log.ready_count >= 1 and self.gateway.connected,
            timeout=timeout,
            what="the bot's gateway session (READY)",
        )

    async def wait_resumed(self, count: int = 1, *, timeout: float | None = None) -> None:
        await self.wait_for(
            lambda: self.gateway.log.resumed_count >= count,
            timeout=timeout,
            what=f"RESUME #{count}",
        )

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        *,
        timeout: float | None = None,
        what: str = "a request",
        start: int = 0,
    ) -> RecordedRequest:
        def find() -> RecordedRequest | None:
            for r in self.requests[start:]:
                if r.status is not None and predicate(r):
                    return r
            return None

        return await self.wait_for(find, timeout=timeout, what=what)

    async def wait_for_message(
        self,
        channel: Any,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        cid = _id(channel)

        def find() -> dict[str, Any] | None:
            for m in self.world.visible_messages(cid):
                if predicate is None or predicate(m):
                    return m
            return None

        return await self.wait_for(find, timeout=timeout, what=f"a message in channel {cid}")

    # -- building the world ----------------------------------------------------------
    def add_guild(self, name: str, **kwargs: Any) -> Guild:
        return self.world.add_guild(name, **kwargs)

    def add_channel(self, guild: Any, name: str, type: int | str = 0, **kw: Any) -> Channel:
        return self.world.add_channel(guild, name, type, **kw)

    def add_role(self, guild: Any, name: str, permissions: int = 0, **kw: Any) -> Role:
        return self.world.add_role(guild, name, permissions, **kw)

    def add_member(
        self, guild: Any, name: str, roles: list[Any] | None = None, **kw: Any
    ) -> Member:
        return self.world.add_member(guild, name, roles, **kw)

    def add_user(self, name: str) -> User:
        return self.world.add_user(name)

    def bot_role(self, guild: Any) -> Role:
        """The bot's managed role in a guild (the one its invite created)."""
        g = self.world.guild(guild)
        return next(g.roles[r] for r in g.members[self.world.bot.id].roles if g.roles[r].managed)

    def set_bot_permissions(self, guild: Any, permissions: int) -> None:
        g = self.world.guild(guild)
        for rid in g.members[self.world.bot.id].roles:
            if g.roles[rid].managed:
                g.roles[rid].permissions = permissions

    # -- reading ------------------------------------------------------------------------
    def messages(
        self, channel: Any, *, ephemeral: bool = False, as_member: Any = None
    ) -> list[dict[str, Any]]:
        """The channel as Discord would show it, oldest first (ephemeral replies hidden);
        `as_member`: as that member sees it (MemberCannotSee for a channel or private thread
        they may not view; an empty list without Read Message History)."""
        if as_member is not None:
            ch = self.world.channel(channel)
            if not self.can_see(as_member, ch):
                raise MemberCannotSee(f"member {_id(as_member)} cannot see channel {ch.name}")
            if ch.guild_id is not None:
                g = self.world.guilds[ch.guild_id]
                perms = g.permissions_in(self.world.member(g, as_member), ch)
                if not perms & READ_MESSAGE_HISTORY:
                    return []
        return self.world.visible_messages(_id(channel), ephemeral=ephemeral)

    def stored(self, message: Any) -> StoredMessage:
        sm = self.world.message_index.get(_id(message))
        if sm is None:
            raise SandboxError(f"no message {_id(message)}")
        return sm

    def pings(self, message: Any) -> Pings:
        """Who this message notified (users, roles, @everyone/@here)."""
        return self.stored(message).pings

    def requests_to(self, method: str, pattern: str) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if route_matches(f"{method} {pattern}", r.method, r.path, r.template)
        ]

    def assert_valid(self) -> None:
        problems = [*self.violations, *self.response_violations]
        if problems:
            lines = "\n  ".join(str(v) for v in problems[:20])
            raise AssertionError(f"{len(problems)} Discord API spec violation(s):\n  {lines}")

    # -- faults -------------------------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        route: str | None = None,
        *,
        retry_after: float = 0.5,
        global_: bool = False,
    ) -> None:
        self.failures.append(Failure(n, status, route, retry_after, global_))

    def fail_every(
        self,
        every: int,
        status: int = 429,
        route: str | None = None,
        *,
        retry_after: float = 0.5,
        global_every: int = 0,
        count: int | None = None,
    ) -> None:
        """Every `every`-th matching request fails (`count` times in all; None = until
        clear_faults); with `global_every`, every so many of those 429s are global."""
        remaining = count if count is not None else 2**62
        self.failures.append(
            Failure(remaining, status, route, retry_after, every=every, global_every=global_every)
        )

    def delay(self, seconds: float, route: str | None = None, *, count: int | None = None) -> None:
        self.delays.append(Delay(seconds, route, count))

    def fail_after_store(
        self, route: str | None = None, status: int | str = 502, *, count: int = 1
    ) -> None:
        """The ambiguous failure: the next `count` matching requests take effect (message
        stored and dispatched, edit applied, crosspost done, event created), then are answered
        `status` (500/502/503/504) or, with status="drop", the connection is closed unanswered.
        Only requests that succeed count; refusals (4xx) pass through untouched."""
        if status != DROP and int(status) not in (500, 502, 503, 504):
            raise SandboxError(f"fail_after_store status must be 5xx or 'drop', not {status!r}")
        self.after_store.append(AfterStore(count, status if status == DROP else int(status), route))

    def clear_faults(self) -> None:
        self.failures.clear()
        self.delays.clear()
        self.after_store.clear()

    async def deny_channel(self, channel: Any, *, allow: bool = False) -> None:
        """Deny (or re-allow) the bot Send Messages in a channel, as a member overwrite."""
        ch = self.world.channel(channel)
        if allow:
            self.denied_channels.discard(ch.id)
            await self.set_overwrite(ch, self.world.bot.id, allow=0, deny=0)
        else:
            self.denied_channels.add(ch.id)
            await self.set_overwrite(ch, self.world.bot.id, deny=SEND_MESSAGES)

    async def set_overwrite(
        self, channel: Any, target: Any, *, allow: int = 0, deny: int = 0
    ) -> Overwrite | None:
        """Set the channel's permission overwrite for a role or member (replacing any);
        allow=deny=0 removes it. Announced as CHANNEL_UPDATE, as Discord does."""
        ch = self.world.channel(channel)
        if ch.guild_id is None:
            raise SandboxError("DM channels have no permission overwrites")
        g = self.world.guilds[ch.guild_id]
        tid = _id(target)
        if tid in g.roles:
            otype = 0
        elif tid in g.members:
            otype = 1
        else:
            raise SandboxError(f"{tid} is neither a role nor a member of {g.name}")
        ch.overwrites = [o for o in ch.overwrites if o.id != tid]
        ow = None
        if allow or deny:
            ow = Overwrite(tid, otype, allow=int(allow), deny=int(deny))
            ch.overwrites.append(ow)
        await self._dispatch("CHANNEL_UPDATE", ch.payload())
        return ow

    def permissions(self, channel: Any, member: Any = None) -> int:
        """A member's (default: the bot's) computed permissions in a channel."""
        ch = self.world.channel(channel)
        if member is None:
            return self.world.bot_permissions(ch)
        g = self.world.guilds[ch.guild_id]  # type: ignore[index]
        return g.permissions_in(self.world.member(g, member), ch)

    def seed_messages(
        self,
        channel: Any,
        count: int,
        *,
        author: Any = None,
        every: float = 30.0,
        content: str = "message {n} from {author}",
        last_ago: float = 1.0,
    ) -> list[dict[str, Any]]:
        """Fill a channel with `count` messages by another member (default: the owner),
        the last `last_ago` s before now; no gateway events (history only, as if the bot
        had been away)."""
        ch = self.world.channel(channel)
        user = self.world.owner if author is None else self.world.users[_id(author)]
        made = self.world.seed_messages(
            ch, count, user, every=every, content=content, last_ago=last_ago
        )
        return [sm.data for sm in made]

    # -- voice and scheduled-event lifecycle ----------------------------------------------
    async def join_voice(self, member: Any, channel: Any) -> None:
        """A member connects to a voice or stage channel (VOICE_STATE_UPDATE)."""
        ch = self.world.channel(channel)
        if ch.type not in (VOICE, STAGE):
            raise SandboxError(f"channel {ch.name} is not a voice or stage channel")
        g = self.world.guilds[ch.guild_id]  # type: ignore[index]
        uid = _id(member)
        self.world.member(g, uid)
        before = g.voice_states.get(uid)
        g.voice_states[uid] = ch.id
        self.empty_since.pop(ch.id, None)
        if before is not None and before != ch.id and not g.voice_members(before):
            self.empty_since[before] = self.clock()
        await self._dispatch("VOICE_STATE_UPDATE", g.voice_state(uid))

    async def leave_voice(self, member: Any, guild: Any = None) -> None:
        uid = _id(member)
        guilds = (
            [self.world.guild(guild)] if guild is not None else list(self.world.guilds.values())
        )
        for g in guilds:
            cid = g.voice_states.pop(uid, None)
            if cid is None:
                continue
            if not g.voice_members(cid):
                self.empty_since[cid] = self.clock()
            await self._dispatch("VOICE_STATE_UPDATE", g.voice_state(uid))

    async def tick(self) -> list[dict[str, Any]]:
        """Apply what Discord does on its own as time passes: a thread inactive for its
        `auto_archive_duration` is archived (THREAD_UPDATE; threads.mdx); and
        (guild-scheduled-event.mdx) EXTERNAL events start and end at their times; an ACTIVE
        stage/voice event whose channel stayed empty `empty_event_timeout` is COMPLETED; a
        SCHEDULED event not started `unstarted_event_cancel_after` past its start is
        CANCELED. Each change is a GUILD_SCHEDULED_EVENT_UPDATE. Runs on every API request
        and every `tick_interval`; tests that move a ManualClock may call it directly.
        Returns the events changed (not the threads)."""
        lock = self._tick_lock
        if lock is None:
            return await self._tick()
        async with lock:
            return await self._tick()

    async def _tick(self) -> list[dict[str, Any]]:
        from .rest import _parse_time

        now = self.clock()
        changed: list[dict[str, Any]] = []
        for g in self.world.guilds.values():
            for th in list(g.threads.values()):
                t = th.thread
                if t is None or t.archived:
                    continue
                # threads.mdx: a thread archives itself after auto_archive_duration minutes
                # without activity (busy guilds may do it sooner; the sandbox keeps the time).
                if t.inactive_for(now) >= t.auto_archive_duration * 60:
                    await self.set_thread_state(th, archived=True)
            for ev in list(g.scheduled_events.values()):
                d = ev.data
                start = _parse_time("scheduled_start_time", d["scheduled_start_time"])
                end = d.get("scheduled_end_time")
                end_at = _parse_time("scheduled_end_time", end) if end else None
                while True:
                    status = d["status"]
                    new = None
                    if status == 1 and d["entity_type"] == 3 and start <= now:
                        new = 2
                    elif status == 1 and (now - start).total_seconds() >= (
                        self.unstarted_event_cancel_after
                    ):
                        new = 4
                    elif status == 2 and d["entity_type"] == 3 and end_at and end_at <= now:
                        new = 3
                    elif status == 2 and d["entity_type"] in (1, 2) and d.get("channel_id"):
                        cid = int(d["channel_id"])
                        since = self.empty_since.get(cid)
                        if since is None and not g.voice_members(cid):
                            # Started with nobody in it: empty from the moment it went live.
                            since = self.empty_since[cid] = now
                        if since is not None and (now - since).total_seconds() >= (
                            self.empty_event_timeout
                        ):
                            new = 3
                    if new is None:
                        break
                    d["status"] = new
                    changed.append(dict(d))
                    await self._dispatch("GUILD_SCHEDULED_EVENT_UPDATE", d)
        return changed

    # -- threads --------------------------------------------------------------------------
    def _bot_sees(self, channel: Channel) -> bool:
        if channel.guild_id is None:
            return True
        return bool(self.world.bot_permissions(channel) & VIEW_CHANNEL)

    def _thread_channel(self, thread: Any) -> tuple[Channel, ThreadState]:
        ch = self.world.channel(thread)
        if ch.thread is None:
            raise SandboxError(f"channel {ch.name} is not a thread")
        return ch, ch.thread

    async def announce_thread_created(self, thread: Channel, added: list[int]) -> None:
        """THREAD_CREATE (`newly_created`) to the bot if it may view the thread, then
        THREAD_MEMBERS_UPDATE for the members the creation added (threads.mdx)."""
        if self._bot_sees(thread):
            data = {**thread.payload(me=self.world.bot.id), "newly_created": True}
            await self._dispatch("THREAD_CREATE", data)
        await self._members_update(thread, added=added)

    async def _members_update(
        self,
        thread: Channel,
        *,
        added: Sequence[int] = (),
        removed: Sequence[int] = (),
    ) -> None:
        """THREAD_MEMBERS_UPDATE as threads.mdx says: always when the bot itself is added or
        removed; about other users only with the GUILD_MEMBERS intent."""
        t = thread.thread
        if t is None:
            return
        me = self.world.bot.id
        session = self.gateway.session
        members_intent = session is not None and session.intents & (1 << 1)
        if not members_intent:
            added = [u for u in added if u == me]
            removed = [u for u in removed if u == me]
        if not self._bot_sees(thread) and me not in removed:
            return
        if not added and not removed:
            return
        data: dict[str, Any] = {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "member_count": min(len(t.members), 50),
        }
        if added:
            data["added_members"] = [t.member_payload(thread.id, u) for u in added]
        if removed:
            data["removed_member_ids"] = [str(u) for u in removed]
        await self._dispatch("THREAD_MEMBERS_UPDATE", data)

    async def add_to_thread(self, thread: Any, member: Any) -> None:
        """A member joins (or is added to) a thread. Discord sends the bot, when it is the
        one added, THREAD_CREATE then THREAD_MEMBERS_UPDATE (channel.mdx, Join Thread)."""
        ch, t = self._thread_channel(thread)
        uid = _id(member)
        g = self.world.guilds[ch.guild_id]  # type: ignore[index]
        self.world.member(g, uid)
        if uid in t.members:
            return
        t.members[uid] = self.clock()
        if uid == self.world.bot.id and self._bot_sees(ch):
            await self._dispatch("THREAD_CREATE", ch.payload(me=uid))
        await self._members_update(ch, added=[uid])
        self._notify()

    async def remove_from_thread(self, thread: Any, member: Any) -> None:
        ch, t = self._thread_channel(thread)
        uid = _id(member)
        if t.members.pop(uid, None) is None:
            return
        await self._members_update(ch, removed=[uid])
        if uid == self.world.bot.id and not self._bot_sees(ch):
            # The bot can no longer see a private thread: Discord deletes it from its view.
            data = {"id": str(ch.id), "guild_id": str(ch.guild_id), "type": ch.type}
            data["parent_id"] = str(t.parent_id)
            await self._dispatch("THREAD_DELETE", data)
        self._notify()

    async def set_thread_state(
        self, thread: Any, *, archived: bool | None = None, locked: bool | None = None
    ) -> dict[str, Any]:
        """Archive/unarchive, lock/unlock a thread as a moderator would; THREAD_UPDATE to
        the bot if it may view the thread. Returns the thread object."""
        ch, t = self._thread_channel(thread)
        if archived is not None and archived != t.archived:
            t.archived = archived
            t.archive_timestamp = self.clock()  # threads.mdx: changes on (un)archive
            if not archived:
                t.last_activity = self.clock()
        if locked is not None:
            t.locked = locked
        if self._bot_sees(ch):
            await self._dispatch("THREAD_UPDATE", ch.payload(me=self.world.bot.id))
        self._notify()
        return ch.payload()

    def threads(self, parent: Any) -> list[dict[str, Any]]:
        """Every thread of a channel (archived ones too), as Discord shows them."""
        pid = _id(parent)
        return [
            t.payload()
            for g in self.world.guilds.values()
            for t in g.threads.values()
            if t.thread is not None and t.thread.parent_id == pid
        ]

    def thread_members(self, thread: Any) -> list[int]:
        """The user ids in a thread, in the order they joined."""
        return list(self._thread_channel(thread)[1].members)

    def can_see(self, member: Any, channel: Any) -> bool:
        """Whether a member may view a channel or thread (View Channel; a private thread's
        membership or Manage Threads on its parent)."""
        ch = self.world.channel(channel)
        if ch.guild_id is None:
            return _id(member) in ch.recipients
        g = self.world.guilds[ch.guild_id]
        return bool(g.permissions_in(self.world.member(g, member), ch) & VIEW_CHANNEL)

    async def create_thread(
        self, member: Any, parent: Any, name: str, *, private: bool = True, message: Any = None
    ) -> Channel:
        """A member starts a thread (from `message`: public, its id the message's), as in
        Discord's client; the bot hears of it only if it may view it."""
        ch = self.world.channel(parent)
        uid = _id(member)
        user = self.world.users[uid]
        if message is not None:
            sm = self.stored(message)
            if sm.id in self.world.channels:
                raise SandboxError(f"message {sm.id} already has a thread")
            ttype = ANNOUNCEMENT_THREAD if ch.type == ANNOUNCEMENT else PUBLIC_THREAD
            thread = self.world.add_thread(ch, name, owner=user, ttype=ttype, thread_id=sm.id)
        else:
            ttype = PRIVATE_THREAD if private else PUBLIC_THREAD
            thread = self.world.add_thread(ch, name, owner=user, ttype=ttype)
        await self.announce_thread_created(thread, [uid])
        return thread

    # -- people starting and ending scheduled events ---------------------------------------
    async def start_event(self, event: Any) -> dict[str, Any]:
        """A host presses "Start event": SCHEDULED -> ACTIVE, GUILD_SCHEDULED_EVENT_UPDATE."""
        return await self._set_event_status(event, 1, 2)

    async def end_event(self, event: Any) -> dict[str, Any]:
        """A host presses "End event": ACTIVE -> COMPLETED, GUILD_SCHEDULED_EVENT_UPDATE."""
        return await self._set_event_status(event, 2, 3)

    async def _set_event_status(self, event: Any, before: int, after: int) -> dict[str, Any]:
        eid = _id(event)
        for g in self.world.guilds.values():
            ev = g.scheduled_events.get(eid)
            if ev is None:
                continue
            if ev.data["status"] != before:
                # guild-scheduled-event.mdx, status transitions: SCHEDULED -> ACTIVE -> COMPLETED
                raise SandboxError(
                    f"event {eid} is in status {ev.data['status']}, not {before}: "
                    "Discord allows SCHEDULED -> ACTIVE -> COMPLETED only"
                )
            ev.data["status"] = after
            await self._dispatch("GUILD_SCHEDULED_EVENT_UPDATE", ev.data)
            return dict(ev.data)
        raise SandboxError(f"no scheduled event {eid}")

    # -- the token ------------------------------------------------------------------------
    async def reset_token(self) -> str:
        """Discord reset the bot's token (e.g. leaked, or 1,000 IDENTIFYs in a day): every
        request answers 401 and the gateway closes with 4004 until `set_token`."""
        self.token = new_token()
        await self.gateway.close(4004)
        return self.token

    def set_token(self, token: str) -> None:
        self.token = token

    @property
    def invalid_requests(self) -> int:
        """401/403/429 answers in the last 10 minutes (Cloudflare bans at 10,000)."""
        return self.invalid.last_10_minutes

    def close_dms(self, user: Any, closed: bool = True) -> None:
        self.world.users[_id(user)].dms_open = not closed

    async def close_gateway(self, code: int = 4000) -> None:
        await self.gateway.close(code)

    async def send_reconnect(self) -> None:
        await self.gateway.send_reconnect()

    async def send_invalid_session(self, resumable: bool = False) -> None:
        await self.gateway.send_invalid_session(resumable)

    async def dispatch(self, event: str, data: dict[str, Any]) -> bool:
        return await self._dispatch(event, data)

    async def _dispatch(self, event: str, data: dict[str, Any]) -> bool:
        sent = await self.gateway.dispatch(event, data)
        self._notify()
        return sent

    # -- scheduled events ---------------------------------------------------------------
    def new_scheduled_event(
        self, guild: Guild, body: dict[str, Any], *, creator: User
    ) -> ScheduledEvent:
        from .rest import _image_hash, _parse_time

        eid = self.world.snowflake.next()
        etype = body["entity_type"]
        end = body.get("scheduled_end_time")
        data = {
            "id": str(eid),
            "guild_id": str(guild.id),
            "name": body["name"],
            "description": body.get("description"),
            "channel_id": str(body["channel_id"]) if body.get("channel_id") else None,
            "creator_id": str(creator.id),
            "creator": creator.payload(),
            "image": _image_hash(body.get("image")),
            "scheduled_start_time": iso(
                _parse_time("scheduled_start_time", body["scheduled_start_time"])
            ),
            "scheduled_end_time": iso(_parse_time("scheduled_end_time", end)) if end else None,
            "status": 1,
            "entity_type": etype,
            "entity_id": None,
            "entity_metadata": (
                {"location": body["entity_metadata"]["location"]} if etype == 3 else None
            ),
            "recurrence_rule": None,
            "privacy_level": body.get("privacy_level", 2),
            "guild_scheduled_event_exceptions": [],
            "user_count": 0,
        }
        ev = ScheduledEvent(data)
        guild.scheduled_events[eid] = ev
        return ev

    async def add_scheduled_event(
        self,
        guild: Any,
        name: str,
        *,
        start: datetime,
        end: datetime | None = None,
        entity_type: int = 3,
        location: str | None = "somewhere",
        channel: Any = None,
        creator: Any = None,
    ) -> dict[str, Any]:
        """An event created by a person (not the bot), announced on the gateway."""
        g = self.world.guild(guild)
        body: dict[str, Any] = {
            "name": name,
            "entity_type": entity_type,
            "scheduled_start_time": iso(start),
            "privacy_level": 2,
        }
        if end is not None:
            body["scheduled_end_time"] = iso(end)
        if entity_type == 3:
            body["entity_metadata"] = {"location": location}
        else:
            body["channel_id"] = str(_id(channel))
        who = self.world.users[_id(creator)] if creator is not None else self.world.owner
        ev = self.new_scheduled_event(g, body, creator=who)
        await self._dispatch("GUILD_SCHEDULED_EVENT_CREATE", ev.data)
        return ev.data

    def scheduled_events(self, guild: Any) -> list[dict[str, Any]]:
        return [e.data for e in self.world.guild(guild).scheduled_events.values()]

    async def mark_interested(self, member: Any, event: Any, interested: bool = True) -> None:
        """A member clicks (or un-clicks) "Interested" on a scheduled event."""
        eid = _id(event)
        for g in self.world.guilds.values():
            if eid in g.scheduled_events:
                ev = g.scheduled_events[eid]
                uid = _id(member)
                (ev.interested.add if interested else ev.interested.discard)(uid)
                ev.data["user_count"] = len(ev.interested)
                name = "ADD" if interested else "REMOVE"
                await self._dispatch(
                    f"GUILD_SCHEDULED_EVENT_USER_{name}",
                    {
                        "guild_scheduled_event_id": str(eid),
                        "user_id": str(uid),
                        "guild_id": str(g.id),
                    },
                )
                return
        raise SandboxError(f"no scheduled event {eid}")

    # -- interactions ----------------------------------------------------------------------
    def _resolve_user(self, member: Any) -> User:
        return self._resolve_actor(member, False)[0]  # type: ignore[arg-type]

    def _resolve_actor(self, member: Any, channel: Any) -> tuple[User, Channel]:
        if isinstance(member, Member):
            user = member.user
        elif isinstance(member, User):
            user = member
        else:
            user = self.world.users.get(_id(member))  # type: ignore[assignment]
            if user is None:
                raise SandboxError(f"no user {member!r}")
        if channel is False:  # the user alone (_resolve_user)
            return user, None  # type: ignore[return-value]
        if channel is None:
            return user, self.world.dm_channel(user.id)
        try:
            return user, self.world.channel(channel)
        except ApiError:
            raise SandboxError(f"no channel {channel!r}") from None

    async def _send_interaction(
        self,
        itype: int,
        user: User,
        channel: Channel,
        data: dict[str, Any],
        name: str,
        message: dict[str, Any] | None = None,
        trigger: InteractionRecord | None = None,
    ) -> InteractionRecord:
        if self.gateway.session is None or not self.gateway.session.valid:
            raise SandboxError("the bot has no gateway session: wait_ready() first")
        if channel.guild_id is not None and not self.can_see(user.id, channel):
            raise MemberCannotSee(f"{user.username} cannot see channel {channel.name}")
        if itype == APPLICATION_COMMAND and channel.thread is not None and channel.thread.archived:
            # threads.mdx: application commands cannot be used in an archived thread.
            raise MemberCannotSee(f"commands cannot be used in archived thread {channel.name}")
        payload, iid, token = build_payload(
            self, itype=itype, user=user, channel=channel, data=data, message=message
        )
        rec = InteractionRecord(
            id=iid,
            token=token,
            type=itype,
            name=name,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            user_id=user.id,
            payload=payload,
            message_id=int(message["id"]) if message else None,
            trigger=trigger,
        )
        self.interactions[iid] = rec
        self.interactions_by_token[token] = rec
        asyncio.get_running_loop().call_later(
            self.interaction_deadline, self._interaction_deadline_passed, rec
        )
        await self._dispatch("INTERACTION_CREATE", payload)
        return rec

    def _interaction_deadline_passed(self, rec: InteractionRecord) -> None:
        if not rec.acknowledged:
            self.interaction_failed(rec, f"no response within {self.interaction_deadline:g}s")

    def interaction_failed(self, rec: InteractionRecord, reason: str) -> None:
        """Discord invalidates the token; the member sees "This interaction failed"."""
        if rec.expired:
            return
        rec.expired = True
        self.failed_interactions.append(
            FailedInteraction(rec.id, rec.name, rec.type, rec.user_id, reason)
        )
        _log.warning("interaction %s (%s) failed: %s", rec.id, rec.name, reason)
        rec.acked.set()  # wake the waiter: it reports the failure at once
        self._notify()

    async def _await_ack(self, rec: InteractionRecord, timeout: float | None) -> None:
        limit = self.timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(rec.acked.wait(), limit)
        except TimeoutError:
            raise SandboxTimeout(
                f"timed out after {limit:.1f}s waiting for the bot to answer {rec.name} "
                f"(interaction {rec.id}); last requests: {self._recent()}"
            ) from None
        if not rec.acknowledged:
            raise SandboxTimeout(
                f"the bot did not answer {rec.name} (interaction {rec.id}) within Discord's "
                f"{self.interaction_deadline:g}s: the member saw 'This interaction failed'; "
                f"last requests: {self._recent()}"
            )

    def _command(self, channel: Channel, name: str) -> dict[str, Any]:
        cmd = self.world.find_command(channel.guild_id, name)
        if cmd is None:
            synced = sorted(
                {c["name"] for c in self.world.global_commands}
                | {c["name"] for c in self.world.guild_commands.get(channel.guild_id or 0, [])}
            )
            raise SandboxError(f"/{name} was never synced by the bot (synced: {synced})")
        return cmd

    async def slash(
        self,
        member: Any,
        channel: Any,
        command: str,
        *,
        subcommand: str | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> InteractionResult:
        """A member runs /command in channel (None = in a DM with the bot)."""
        user, ch = self._resolve_actor(member, channel)
        cmd = self._command(ch, command)
        opts, resolved = build_options(
            self.world, cmd, subcommand, options, focused=None, guild_id=ch.guild_id
        )
        data: dict[str, Any] = {"id": cmd["id"], "name": command, "type": 1, "options": opts}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        label = "/" + " ".join(x for x in (command, subcommand) if x)
        rec = await self._send_interaction(APPLICATION_COMMAND, user, ch, data, label)
        await self._await_ack(rec, timeout)
        return self.result(rec)

    async def autocomplete(
        self,
        member: Any,
        channel: Any,
        command: str,
        option: str,
        value: str,
        *,
        subcommand: str | None = None,
        timeout: float | None = None,
        **others: Any,
    ) -> list[dict[str, Any]]:
        user, ch = self._resolve_actor(member, channel)
        cmd = self._command(ch, command)
        opts, _ = build_options(
            self.world,
            cmd,
            subcommand,
            {**others, option: value},
            focused=option,
            guild_id=ch.guild_id,
        )
        data: dict[str, Any] = {"id": cmd["id"], "name": command, "type": 1, "options": opts}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        rec = await self._send_interaction(
            AUTOCOMPLETE, user, ch, data, f"/{command} {option}={value!r} (autocomplete)"
        )
        await self._await_ack(rec, timeout)
        return list(rec.choices or [])

    async def click(
        self,
        member: Any,
        channel: Any,
        message: Any,
        custom_id: str,
        *,
        values: list[str] | None = None,
        component_type: int | None = None,
        timeout: float | None = None,
    ) -> InteractionResult:
        """A member clicks a button (or picks select `values`) on a message."""
        user, ch = self._resolve_actor(member, channel)
        sm = self.stored(message)
        if int(sm.data["channel_id"]) != ch.id:
            raise SandboxError(f"message {sm.id} is not in channel {ch.name} ({ch.id})")
        if not _has_component(sm.data.get("components", []), custom_id):
            raise SandboxError(f"message {sm.id} has no component {custom_id!r}")
        ctype = component_type or (3 if values is not None else 2)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if values is not None:
            data["values"] = values
        rec = await self._send_interaction(
            MESSAGE_COMPONENT, user, ch, data, f"[{custom_id}]", message=sm.data
        )
        await self._await_ack(rec, timeout)
        return self.result(rec)

    async def submit_modal(
        self,
        member: Any,
        channel: Any,
        custom_id: str,
        fields: dict[str, Any],
        *,
        timeout: float | None = None,
    ) -> InteractionResult:
        """A member submits a modal the bot showed them (callback type 9), as Discord's
        client would: only that modal, once, with its declared inputs (`fields`: custom_id ->
        text, or a list of option values for a select; an input left out keeps its prefilled
        value), within each input's limits; else ModalRefused. The submission is an
        interaction like any other: answered within `interaction_deadline` or it failed.
        `channel` None: where the modal was shown."""
        user = self._resolve_user(member)
        open_ = [
            m
            for m in self.shown_modals
            if m.user_id == user.id and m.custom_id == custom_id and not m.submitted
        ]
        if not open_:
            shown = sorted({m.custom_id for m in self.shown_modals if m.user_id == user.id})
            raise ModalRefused(
                f"the bot never showed {user.username} a modal {custom_id!r} still open "
                f"(shown to them: {shown})"
            )
        shown_modal = open_[-1]
        if channel is not None and _id(channel) != shown_modal.channel_id:
            raise ModalRefused(
                f"modal {custom_id!r} was shown in channel {shown_modal.channel_id}, "
                f"not {_id(channel)}"
            )
        components = submission(shown_modal, fields)
        ch = self.world.channel(shown_modal.channel_id)
        shown_modal.submitted = True
        rec = await self._send_interaction(
            MODAL_SUBMIT,
            user,
            ch,
            {"custom_id": custom_id, "components": components},
            f"modal:{custom_id}",
            message=shown_modal.message,
            trigger=self.interactions.get(shown_modal.interaction_id),
        )
        await self._await_ack(rec, timeout)
        return self.result(rec)

    async def send_interaction(
        self, member: Any, channel: Any, itype: int, data: dict[str, Any]
    ) -> int:
        """Raw INTERACTION_CREATE (no waiting); returns the interaction id."""
        user, ch = self._resolve_actor(member, channel)
        rec = await self._send_interaction(itype, user, ch, data, f"raw:{itype}")
        return rec.id

    def result(self, rec_or_id: Any) -> InteractionResult:
        rec = (
            rec_or_id
            if isinstance(rec_or_id, InteractionRecord)
            else self.interactions[_id(rec_or_id)]
        )
        return result_of(self, rec)

    async def wait_followups(
        self, result: Any, count: int = 1, *, timeout: float | None = None
    ) -> InteractionResult:
        rec = self.interactions[_id(result)]
        await self.wait_for(
            lambda: len([m for m in rec.followup_ids if m != rec.original_id]) >= count,
            timeout=timeout,
            what=f"{count} follow-up(s) to {rec.name}",
        )
        return self.result(rec)

    async def wait_final(self, result: Any, *, timeout: float | None = None) -> InteractionResult:
        """After a deferral: until the "thinking…" message has been replaced."""
        rec = self.interactions[_id(result)]

        def done() -> bool:
            return rec.acknowledged and rec.final

        await self.wait_for(done, timeout=timeout, what=f"the final answer to {rec.name}")
        return self.result(rec)

    # -- message side effects ------------------------------------------------------------
    def _member_stub(self, channel: Channel) -> dict[str, Any] | None:
        if channel.guild_id is None:
            return None
        g = self.world.guilds[channel.guild_id]
        return g.members[self.world.bot.id].payload(with_user=False)

    def _gateway_message(self, sm: StoredMessage) -> dict[str, Any]:
        channel = self.world.channels[int(sm.data["channel_id"])]
        data = dict(sm.data)
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
            if sm.author_id in self.world.guilds[channel.guild_id].members:
                g = self.world.guilds[channel.guild_id]
                data["member"] = g.members[sm.author_id].payload(with_user=False)
        return data

    async def _store_and_announce(self, sm: StoredMessage) -> None:
        self.world.store_message(sm)
        await self._announce_create(sm)

    def _bot_sees_message(self, sm: StoredMessage) -> bool:
        # threads.mdx: nothing about a thread the bot may not view reaches its gateway.
        return not sm.ephemeral and self._bot_sees(self.world.channels[int(sm.data["channel_id"])])

    async def _announce_create(self, sm: StoredMessage) -> None:
        if self._bot_sees_message(sm):
            await self._dispatch("MESSAGE_CREATE", self._gateway_message(sm))
        self._notify()

    async def _announce_update(self, sm: StoredMessage) -> None:
        if self._bot_sees_message(sm):
            await self._dispatch("MESSAGE_UPDATE", self._gateway_message(sm))
        self._notify()

    async def _delete_message(self, sm: StoredMessage) -> None:
        sm.deleted = True
        if self._bot_sees_message(sm):
            channel = self.world.channels[int(sm.data["channel_id"])]
            data = {"id": str(sm.id), "channel_id": str(channel.id)}
            if channel.guild_id:
                data["guild_id"] = str(channel.guild_id)
            await self._dispatch("MESSAGE_DELETE", data)
        self._notify()

    def _limit_violation(self, ctx: rest.Ctx, where: str, message: str) -> None:
        v = Violation(
            "limit",
            ctx.method,
            ctx.path,
            self._validator.template(ctx.method, ctx.path) if self._validator else None,
            message,
            where,
        )
        self._add_violation(v)

    def _add_violation(self, v: Violation) -> None:
        self.violations.append(v)
        _log.warning("Discord API violation: %s", v)
        if self.on_violation is not None:
            self.on_violation(v)

    # -- the REST pipeline ------------------------------------------------------------------
    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]], str]:
        ctype = request.content_type
        if not request.body_exists:
            return None, [], ctype
        if ctype == "multipart/form-data":
            body: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                name = part.name or ""  # type: ignore[union-attr]
                raw = await part.read()  # type: ignore[union-attr]
                if name == "payload_json":
                    body = json.loads(raw)
                elif name.startswith("files[") or name == "file":
                    files.append(
                        {
                            "field": name,
                            "filename": part.filename or name,  # type: ignore[union-attr]
                            "content_type": part.headers.get("Content-Type"),
                            "data": bytes(raw),
                        }
                    )
            return body, files, ctype
        raw = await request.read()
        if not raw:
            return None, [], ctype
        if ctype != "application/json":
            return raw.decode("utf-8", "replace"), [], ctype
        return json.loads(raw), [], ctype

    def _bucket(self, template: str | None, path: str) -> str:
        return hashlib.sha1((template or path).encode(), usedforsecurity=False).hexdigest()[:16]

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        query = dict(request.query)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        try:
            body, files, ctype = await self._read_body(request)
        except ValueError as exc:
            return json_response(400, {"message": f"400: Bad Request ({exc})", "code": 50109})
        rec = RecordedRequest(
            method,
            path,
            query,
            body,
            headers,
            self.clock(),
            time.monotonic(),
            files=[
                {
                    "field": f["field"],
                    "filename": f["filename"],
                    "size": len(f["data"]),
                    "content_type": f["content_type"],
                }
                for f in files
            ],
            file_data={f["filename"]: bytes(f["data"]) for f in files},
        )
        self.requests.append(rec)
        if self._validator is not None:
            rec.template = self._validator.template(method, path)
            if self.validate:
                if body is not None and ctype not in ("application/json", "multipart/form-data"):
                    self._add_violation(
                        Violation(
                            "request",
                            method,
                            path,
                            rec.template,
                            f"Content-Type {ctype!r} is not accepted",
                        )
                    )
                for v in self._validator.check_request(method, path, query, body, ctype):
                    self._add_violation(v)
        await self.tick()
        response = await self._respond(request, rec, body, files)
        if response is not None:
            self.invalid.record(response.status, dict(response.headers))
        if response is None:  # the ambiguous failure, connection dropped after the write
            rec.status = DROPPED
            self._notify()
            if request.transport is not None:
                request.transport.abort()
            # aiohttp needs a response object; nothing reaches the closed socket.
            return web.Response(status=502)
        rec.status = response.status
        self._notify()
        return response

    async def _respond(
        self, request: web.Request, rec: RecordedRequest, body: Any, files: list[dict[str, Any]]
    ) -> web.Response | None:
        method, path = rec.method, rec.path
        for d in list(self.delays):
            if route_matches(d.route, method, path, rec.template):
                if d.remaining is not None:
                    d.remaining -= 1
                    if d.remaining <= 0:
                        self.delays.remove(d)
                await asyncio.sleep(d.seconds)
        for f in list(self.failures):
            if f.fires(method, path, rec.template):
                f.remaining -= 1
                if f.remaining <= 0:
                    self.failures.remove(f)
                resp = f.response(self._bucket(rec.template, path))
                rec.response = json.loads(resp.body)  # type: ignore[arg-type]
                if resp.status == 429:  # the spec documents 429 bodies, not 5xx ones
                    self._check_response(rec, resp.status, rec.response)
                return resp
        found = self._router.match(method, path)
        if found is None:
            status, out = 404, {"message": "404: Not Found", "code": 0}
            rec.response = out
            return json_response(status, out)
        _template, handler, params, needs_auth = found
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            out = {"message": "401: Unauthorized", "code": 0}
            rec.response = out
            self._check_response(rec, 401, out)
            return json_response(401, out)
        ctx = rest.Ctx(method, path, params, rec.query, body, files)
        extra: dict[str, str] = {}
        try:
            status, out = await handler(self, ctx)
        except ApiError as err:
            status, out, extra = err.status, err.body(), err.headers
        except SandboxError as err:
            status, out = 400, {"message": str(err), "code": 0}
        rec.response = out
        self._check_response(rec, status, out)
        if status < 300:
            for a in list(self.after_store):
                if a.fires(method, path, rec.template):
                    if a.remaining <= 0:
                        self.after_store.remove(a)
                    if a.status == DROP:
                        return None
                    resp = a.response()
                    rec.response = json.loads(resp.body)  # type: ignore[arg-type]
                    return resp
        if out is None:
            return web.Response(status=status)
        return json_response(status, out, extra)

    def _check_response(self, rec: RecordedRequest, status: int, out: Any) -> None:
        if self._validator is None or not self.validate_responses or rec.template is None:
            return
        for v in self._validator.check_response(rec.method, rec.path, status, out):
            self.response_violations.append(v)
            _log.warning("sandbox response violates the spec: %s", v)


def _has_component(components: list[dict[str, Any]], custom_id: str) -> bool:
    for c in components:
        if c.get("custom_id") == custom_id:
            return True
        if _has_component(c.get("components", []), custom_id):
            return True
    return False


__all__ = ["DM", "FailedInteraction", "RecordedRequest", "Sandbox"]
