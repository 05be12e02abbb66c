"""Gateway v10 over a websocket: HELLO, IDENTIFY/READY, RESUME with replay, op 7/9.

discord.py asks for zlib-stream compression but only inflates BINARY frames, so plain TEXT
JSON frames are fine (and readable in logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import Sandbox

_log = logging.getLogger("testkit.sandbox.gateway")

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE, RESUME = 0, 1, 2, 3, 4, 6
RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 8, 9, 10, 11

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_VOICE_STATES = 1 << 7
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
GUILD_SCHEDULED_EVENTS = 1 << 16

# Which intent a dispatch needs; events not listed (INTERACTION_CREATE, READY) need none.
_EVENT_INTENT: dict[str, int] = {
    "GUILD_CREATE": GUILDS,
    "GUILD_UPDATE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_ROLE_UPDATE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_SCHEDULED_EVENT_CREATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_UPDATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_DELETE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_ADD": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_REMOVE": GUILD_SCHEDULED_EVENTS,
    "VOICE_STATE_UPDATE": GUILD_VOICE_STATES,
    # gateway.mdx, Gateway Intents: the thread events are under GUILDS (THREAD_MEMBERS_UPDATE
    # about other users also needs GUILD_MEMBERS: the sandbox checks that where it sends it).
    "THREAD_CREATE": GUILDS,
    "THREAD_UPDATE": GUILDS,
    "THREAD_DELETE": GUILDS,
    "THREAD_LIST_SYNC": GUILDS,
    "THREAD_MEMBER_UPDATE": GUILDS,
    "THREAD_MEMBERS_UPDATE": GUILDS,
}
_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"}


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    valid: bool = True
    ws: web.WebSocketResponse | None = None
    # Every dispatch of this session, kept so a RESUME can replay what the bot missed.
    sent: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class GatewayLog:
    """What the bot did on the gateway, for tests to assert on."""

    identifies: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    connections: int = 0
    closes: list[int] = field(default_factory=list)
    sent_closes: list[int] = field(default_factory=list)  # codes the sandbox closed with
    ready_count: int = 0
    resumed_count: int = 0
    replayed: list[str] = field(default_factory=list)  # event names replayed on RESUME


class Gateway:
    def __init__(self, sandbox: Sandbox, *, heartbeat_interval_ms: int = 41250) -> None:
        self.sandbox = sandbox
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.session: Session | None = None
        self.log = GatewayLog()
        self._send_lock = asyncio.Lock()
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def connected(self) -> bool:
        s = self.session
        return s is not None and s.ws is not None and not s.ws.closed

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, timeout=2.0, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.log.connections += 1
        try:
            await self._send(
                ws, {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._on_payload(ws, payload)
        finally:
            self._sockets.discard(ws)
            if self.session is not None and self.session.ws is ws:
                self.session.ws = None
            self.log.closes.append(ws.close_code or 0)
            self.sandbox._notify()
        return ws

    async def _on_payload(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == HEARTBEAT:
            self.log.heartbeats += 1
            await self._send(ws, {"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            await self._identify(ws, d or {})
        elif op == RESUME:
            await self._resume(ws, d or {})
        elif op == REQUEST_MEMBERS:
            await self._members_chunk(ws, d or {})
        elif op in (PRESENCE, VOICE):
            return
        else:
            await ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        redacted = {k: v for k, v in d.items() if k != "token"}
        self.log.identifies.append(redacted)
        if d.get("token") != self.sandbox.token:
            self.log.sent_closes.append(4004)
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        world = self.sandbox.world
        session = Session(id=secrets.token_hex(16), intents=int(d.get("intents", 0)), ws=ws)
        self.session = session
        ready = {
            "v": 10,
            "user": {**world.bot.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g), "unavailable": True} for g in world.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.sandbox.gateway_url,
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
        }
        if "shard" in d:
            ready["shard"] = d["shard"]
        await self.dispatch("READY", ready)
        self.log.ready_count += 1
        for guild in world.guilds.values():
            await self.dispatch(
                "GUILD_CREATE", guild.create_payload(guild.members.get(world.bot.id))
            )
        self.sandbox._notify()

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        self.log.resumes.append({k: v for k, v in d.items() if k != "token"})
        s = self.session
        if d.get("token") != self.sandbox.token:
            self.log.sent_closes.append(4004)
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if s is None or not s.valid or d.get("session_id") != s.id:
            await self._send(ws, {"op": INVALID_SESSION, "d": False})
            return
        s.ws = ws
        last = int(d.get("seq") or 0)
        for payload in s.sent:
            if payload["s"] > last:
                self.log.replayed.append(payload["t"])
                await self._send(ws, payload)
        await self.dispatch("RESUMED", {})
        self.log.resumed_count += 1
        self.sandbox._notify()

    async def _members_chunk(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        world = self.sandbox.world
        guild = world.guilds.get(int(d.get("guild_id", 0)))
        if guild is None:
            return
        members = list(guild.members.values())
        if d.get("user_ids"):
            wanted = {int(u) for u in d["user_ids"]}
            members = [m for m in members if m.id in wanted]
        await self.dispatch(
            "GUILD_MEMBERS_CHUNK",
            {
                "guild_id": str(guild.id),
                "members": [m.payload() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "nonce": d.get("nonce"),
            },
        )

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> bool:
        if ws.closed:
            return False
        try:
            async with self._send_lock:
                await ws.send_str(json.dumps(payload, separators=(",", ":")))
        except (ConnectionError, RuntimeError) as exc:
            _log.debug("gateway send failed: %s", exc)
            return False
        return True

    def wants(self, event: str, data: dict[str, Any]) -> bool:
        s = self.session
        if s is None:
            return False
        if event in _MESSAGE_EVENTS:
            need = GUILD_MESSAGES if data.get("guild_id") else DIRECT_MESSAGES
            return bool(s.intents & need)
        need = _EVENT_INTENT.get(event)
        return need is None or bool(s.intents & need)

    async def dispatch(self, event: str, data: dict[str, Any]) -> bool:
        """Send a dispatch now, or keep it for the RESUME if the bot is away.

        Returns False when there is no session at all (the bot never identified, or its
        session was invalidated): Discord would not deliver such an event either.
        """
        s = self.session
        if s is None or not s.valid or not self.wants(event, data):
            return False
        s.seq += 1
        payload = {"op": DISPATCH, "t": event, "s": s.seq, "d": data}
        s.sent.append(payload)
        if s.ws is not None:
            await self._send(s.ws, payload)
        return True

    async def close(self, code: int = 4000) -> None:
        s = self.session
        # invalid seq / session timed out / authentication failed: no RESUME after these.
        if s is not None and code in (4004, 4007, 4009):
            s.valid = False
        ws = s.ws if s else None
        if s is not None:
            s.ws = None
        if ws is not None and not ws.closed:
            self.log.sent_closes.append(code)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=code, message=b"sandbox close")

    async def send_reconnect(self) -> None:
        s = self.session
        if s is not None and s.ws is not None:
            await self._send(s.ws, {"op": RECONNECT, "d": None})

    async def send_invalid_session(self, resumable: bool) -> None:
        s = self.session
        if s is None or s.ws is None:
            return
        ws = s.ws
        if not resumable:
            s.valid = False
        await self._send(ws, {"op": INVALID_SESSION, "d": resumable})

    async def shutdown(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=1001, message=b"sandbox stopping")


Waiter = Callable[[], bool]
