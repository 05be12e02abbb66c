"""`/_sandbox/...`: a JSON control API so a test can drive a sandbox in another process."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .faults import json_response
from .modals import ModalRefused
from .state import (
    Channel,
    Guild,
    Member,
    MemberCannotSee,
    Role,
    SandboxError,
    SandboxTimeout,
    User,
)

if TYPE_CHECKING:
    from .server import Sandbox

PREFIX = "/_sandbox"


def ref(obj: Any) -> dict[str, Any]:
    """Serialise a world object for the control API (ids as strings, like Discord)."""
    if isinstance(obj, Guild):
        return {"id": str(obj.id), "name": obj.name, "everyone_role_id": str(obj.id)}
    if isinstance(obj, Channel):
        return {
            "id": str(obj.id),
            "name": obj.name,
            "type": obj.type,
            "guild_id": str(obj.guild_id) if obj.guild_id else None,
        }
    if isinstance(obj, Role):
        return {
            "id": str(obj.id),
            "name": obj.name,
            "guild_id": str(obj.guild_id),
            "permissions": str(obj.permissions),
        }
    if isinstance(obj, Member):
        return {
            "id": str(obj.id),
            "name": obj.user.username,
            "guild_id": str(obj.guild_id),
            "roles": [str(r) for r in obj.roles],
        }
    if isinstance(obj, User):
        return {"id": str(obj.id), "name": obj.username}
    raise TypeError(type(obj))


def add_control_routes(app: web.Application, sb: Sandbox) -> None:
    Handler = Callable[[dict[str, Any], web.Request], Awaitable[Any]]

    def wrap(fn: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                raw = await request.read()
                args = json.loads(raw) if raw else {}
                return json_response(200, await fn(args, request))
            except SandboxTimeout as exc:
                return json_response(504, {"error": str(exc), "kind": "timeout"})
            except ModalRefused as exc:
                return json_response(400, {"error": str(exc), "kind": "modal_refused"})
            except MemberCannotSee as exc:
                return json_response(400, {"error": str(exc), "kind": "cannot_see"})
            except (SandboxError, KeyError, ValueError, TypeError) as exc:
                return json_response(
                    400, {"error": f"{type(exc).__name__}: {exc}", "kind": "error"}
                )

        return handler

    def post(path: str, fn: Handler) -> None:
        app.router.add_post(PREFIX + path, wrap(fn))

    def get(path: str, fn: Handler) -> None:
        app.router.add_get(PREFIX + path, wrap(fn))

    async def info(a: dict, r: web.Request) -> Any:
        return {
            "api_base": sb.api_base,
            "gateway_url": sb.gateway_url,
            "token": sb.token,
            "application_id": str(sb.application_id),
            "bot_user_id": str(sb.world.bot.id),
            "base_url": sb.base_url,
        }

    async def guild(a: dict, r: web.Request) -> Any:
        kw = {k: int(a[k]) for k in ("bot_permissions", "everyone_permissions") if k in a}
        return ref(sb.add_guild(a["name"], **kw))

    async def channel(a: dict, r: web.Request) -> Any:
        return ref(sb.add_channel(a["guild"], a["name"], a.get("type", 0), topic=a.get("topic")))

    async def role(a: dict, r: web.Request) -> Any:
        return ref(
            sb.add_role(
                a["guild"],
                a["name"],
                int(a.get("permissions", 0)),
                mentionable=bool(a.get("mentionable", False)),
            )
        )

    async def member(a: dict, r: web.Request) -> Any:
        return ref(sb.add_member(a["guild"], a["name"], a.get("roles") or [], nick=a.get("nick")))

    async def wait(a: dict, r: web.Request) -> Any:
        what, timeout, count = a["what"], a.get("timeout"), int(a.get("count", 1))
        if what == "identify":
            return await sb.wait_for_identify(count, timeout=timeout)
        if what == "ready":
            await sb.wait_ready(timeout=timeout)
        elif what == "resumed":
            await sb.wait_resumed(count, timeout=timeout)
        else:
            raise SandboxError(f"unknown wait {what!r}")
        return {}

    async def slash(a: dict, r: web.Request) -> Any:
        res = await sb.slash(
            a["member"],
            a.get("channel"),
            a["command"],
            subcommand=a.get("subcommand"),
            timeout=a.get("timeout"),
            **(a.get("options") or {}),
        )
        return res.to_dict()

    async def autocomplete(a: dict, r: web.Request) -> Any:
        return await sb.autocomplete(
            a["member"],
            a.get("channel"),
            a["command"],
            a["option"],
            a["value"],
            subcommand=a.get("subcommand"),
            timeout=a.get("timeout"),
            **(a.get("options") or {}),
        )

    async def click(a: dict, r: web.Request) -> Any:
        res = await sb.click(
            a["member"],
            a.get("channel"),
            a["message"],
            a["custom_id"],
            values=a.get("values"),
            timeout=a.get("timeout"),
        )
        return res.to_dict()

    async def interaction(a: dict, r: web.Request) -> Any:
        return sb.result(int(r.match_info["iid"])).to_dict()

    async def followups(a: dict, r: web.Request) -> Any:
        res = await sb.wait_followups(
            int(r.match_info["iid"]), int(a.get("count", 1)), timeout=a.get("timeout")
        )
        return res.to_dict()

    async def final(a: dict, r: web.Request) -> Any:
        return (await sb.wait_final(int(r.match_info["iid"]), timeout=a.get("timeout"))).to_dict()

    async def requests(a: dict, r: web.Request) -> Any:
        since = int(r.query.get("since", 0))
        return [x.to_dict() for x in sb.requests[since:]]

    async def messages(a: dict, r: web.Request) -> Any:
        return sb.messages(r.match_info["cid"], ephemeral=r.query.get("ephemeral") == "1")

    async def wait_message(a: dict, r: web.Request) -> Any:
        after = int(a.get("after", 0))
        contains = a.get("contains")

        def pred(m: dict[str, Any]) -> bool:
            return int(m["id"]) > after and (contains is None or contains in m["content"])

        return await sb.wait_for_message(a["channel"], pred, timeout=a.get("timeout"))

    async def fail_next(a: dict, r: web.Request) -> Any:
        sb.fail_next(
            int(a.get("n", 1)),
            int(a.get("status", 429)),
            a.get("route"),
            retry_after=float(a.get("retry_after", 0.5)),
            global_=bool(a.get("global", False)),
        )
        return {}

    async def fail_every(a: dict, r: web.Request) -> Any:
        sb.fail_every(
            int(a["every"]),
            int(a.get("status", 429)),
            a.get("route"),
            retry_after=float(a.get("retry_after", 0.5)),
            global_every=int(a.get("global_every", 0)),
            count=None if a.get("count") is None else int(a["count"]),
        )
        return {}

    async def fail_after_store(a: dict, r: web.Request) -> Any:
        status = a.get("status", 502)
        status = status if status == "drop" else int(status)
        sb.fail_after_store(a.get("route"), status, count=int(a.get("count", 1)))
        return {}

    async def failed_interactions(a: dict, r: web.Request) -> Any:
        return [f.to_dict() for f in sb.failed_interactions]

    async def stats(a: dict, r: web.Request) -> Any:
        return {
            "nonce_hits": sb.nonce_hits,
            "failed_interactions": len(sb.failed_interactions),
            "invalid_requests": sb.invalid_requests,
            "invalid_requests_total": sb.invalid.total,
            "embeds_dropped": sb.embeds_dropped,
        }

    async def bot_messages(a: dict, r: web.Request) -> Any:
        """Every message the bot posted, in every channel and DM (`dm` marks the DMs)."""
        bot_id = sb.world.bot.id
        out = []
        for cid, msgs in sb.world.messages.items():
            dm = cid in {c.id for c in sb.world.dm_channels.values()}
            for sm in msgs:
                if sm.author_id == bot_id and not sm.deleted and not sm.ephemeral:
                    out.append({**sm.data, "dm": dm})
        return out

    async def overwrite(a: dict, r: web.Request) -> Any:
        await sb.set_overwrite(
            a["channel"], a["target"], allow=int(a.get("allow", 0)), deny=int(a.get("deny", 0))
        )
        return {}

    async def seed(a: dict, r: web.Request) -> Any:
        made = sb.seed_messages(
            a["channel"],
            int(a["count"]),
            author=a.get("author"),
            every=float(a.get("every", 30.0)),
            last_ago=float(a.get("last_ago", 1.0)),
        )
        return {"ids": [m["id"] for m in made]}

    async def voice(a: dict, r: web.Request) -> Any:
        if a.get("channel") is None:
            await sb.leave_voice(a["member"])
        else:
            await sb.join_voice(a["member"], a["channel"])
        return {}

    async def tick(a: dict, r: web.Request) -> Any:
        return await sb.tick()

    async def token(a: dict, r: web.Request) -> Any:
        if a.get("reset"):
            await sb.reset_token()
        else:
            sb.set_token(a["token"])
        return {}

    async def delay(a: dict, r: web.Request) -> Any:
        sb.delay(float(a["seconds"]), a.get("route"), count=a.get("count"))
        return {}

    async def clear(a: dict, r: web.Request) -> Any:
        sb.clear_faults()
        return {}

    async def deny(a: dict, r: web.Request) -> Any:
        await sb.deny_channel(a["channel"], allow=bool(a.get("allow", False)))
        return {}

    async def close_dms(a: dict, r: web.Request) -> Any:
        sb.close_dms(a["user"], bool(a.get("closed", True)))
        return {}

    async def gw_close(a: dict, r: web.Request) -> Any:
        await sb.close_gateway(int(a.get("code", 4000)))
        return {}

    async def gw_reconnect(a: dict, r: web.Request) -> Any:
        await sb.send_reconnect()
        return {}

    async def gw_invalid(a: dict, r: web.Request) -> Any:
        await sb.send_invalid_session(bool(a.get("resumable", False)))
        return {}

    async def dispatch(a: dict, r: web.Request) -> Any:
        return {"sent": await sb.dispatch(a["event"], a["data"])}

    async def violations(a: dict, r: web.Request) -> Any:
        return {
            "requests": [str(v) for v in sb.violations],
            "responses": [str(v) for v in sb.response_violations],
        }

    async def events(a: dict, r: web.Request) -> Any:
        return sb.scheduled_events(r.match_info["gid"])

    async def interested(a: dict, r: web.Request) -> Any:
        await sb.mark_interested(a["member"], a["event"], bool(a.get("interested", True)))
        return {}

    async def pings(a: dict, r: web.Request) -> Any:
        p = sb.pings(r.match_info["mid"])
        return {
            "users": [str(u) for u in p.users],
            "roles": [str(x) for x in p.roles],
            "everyone": p.everyone,
        }

    async def submit_modal(a: dict, r: web.Request) -> Any:
        res = await sb.submit_modal(
            a["member"], a.get("channel"), a["custom_id"], a["fields"], timeout=a.get("timeout")
        )
        return res.to_dict()

    async def threads(a: dict, r: web.Request) -> Any:
        return sb.threads(r.match_info["cid"])

    async def thread_members(a: dict, r: web.Request) -> Any:
        return [str(u) for u in sb.thread_members(r.match_info["cid"])]

    async def create_thread(a: dict, r: web.Request) -> Any:
        t = await sb.create_thread(
            a["member"],
            a["parent"],
            a["name"],
            private=bool(a.get("private", True)),
            message=a.get("message"),
        )
        return ref(t)

    async def thread_member(a: dict, r: web.Request) -> Any:
        if a.get("remove"):
            await sb.remove_from_thread(a["thread"], a["member"])
        else:
            await sb.add_to_thread(a["thread"], a["member"])
        return {}

    async def thread_state(a: dict, r: web.Request) -> Any:
        return await sb.set_thread_state(
            a["thread"], archived=a.get("archived"), locked=a.get("locked")
        )

    async def can_see(a: dict, r: web.Request) -> Any:
        return {"can_see": sb.can_see(a["member"], a["channel"])}

    async def event_status(a: dict, r: web.Request) -> Any:
        if a["status"] == "active":
            return await sb.start_event(a["event"])
        if a["status"] == "completed":
            return await sb.end_event(a["event"])
        raise SandboxError(f"status must be 'active' or 'completed', not {a['status']!r}")

    get("/info", info)
    post("/submit_modal", submit_modal)
    get("/threads/{cid}", threads)
    get("/thread_members/{cid}", thread_members)
    post("/threads", create_thread)
    post("/thread_member", thread_member)
    post("/thread_state", thread_state)
    post("/can_see", can_see)
    post("/event_status", event_status)
    post("/guilds", guild)
    post("/channels", channel)
    post("/roles", role)
    post("/members", member)
    post("/wait", wait)
    post("/slash", slash)
    post("/autocomplete", autocomplete)
    post("/click", click)
    get("/interactions/{iid}", interaction)
    post("/interactions/{iid}/followups", followups)
    post("/interactions/{iid}/final", final)
    get("/requests", requests)
    get("/messages/{cid}", messages)
    post("/wait_for_message", wait_message)
    post("/faults/fail_next", fail_next)
    post("/faults/fail_every", fail_every)
    post("/faults/delay", delay)
    post("/faults/fail_after_store", fail_after_store)
    get("/failed_interactions", failed_interactions)
    get("/stats", stats)
    get("/bot_messages", bot_messages)
    post("/overwrite", overwrite)
    post("/seed_messages", seed)
    post("/voice", voice)
    post("/tick", tick)
    post("/token", token)
    post("/faults/clear", clear)
    post("/deny_channel", deny)
    post("/close_dms", close_dms)
    post("/gateway/close", gw_close)
    post("/gateway/reconnect", gw_reconnect)
    post("/gateway/invalid_session", gw_invalid)
    post("/dispatch", dispatch)
    get("/violations", violations)
    get("/events/{gid}", events)
    post("/interested", interested)
    get("/pings/{mid}", pings)
