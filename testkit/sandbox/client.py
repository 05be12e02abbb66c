"""SandboxClient: the in-process Sandbox API, driven over `/_sandbox/...` HTTP.

For tests whose bot runs in another process (killed and restarted) while the sandbox lives
on: `python3 -m testkit.sandbox` prints its base URL; give that to SandboxClient.
"""

# Every wait here takes an explicit timeout on purpose: a test must never hang.
# ruff: noqa: ASYNC109

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .interactions import InteractionResult
from .modals import ModalRefused
from .state import MemberCannotSee, SandboxError, SandboxTimeout, _id


class Ref(dict):
    """A guild/channel/role/member as the control API returns it; `.id` is an int."""

    @property
    def id(self) -> int:
        return int(self["id"])

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _key(obj: Any) -> str | None:
    return None if obj is None else str(_id(obj))


class SandboxClient:
    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.info: dict[str, Any] = {}

    async def __aenter__(self) -> SandboxClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        self.info = await self._call("GET", "/info")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def api_base(self) -> str:
        return self.info["api_base"]

    @property
    def gateway_url(self) -> str:
        return self.info["gateway_url"]

    @property
    def token(self) -> str:
        return self.info["token"]

    @property
    def application_id(self) -> int:
        return int(self.info["application_id"])

    async def _call(
        self, method: str, path: str, body: Any = None, *, wait: float | None = None
    ) -> Any:
        if self._session is None:
            raise SandboxError("SandboxClient is not connected (use `async with`)")
        # The server enforces the wait's own timeout; allow a margin for the HTTP round trip.
        limit = (wait if wait is not None else self.timeout) + 5.0
        try:
            async with self._session.request(
                method,
                self.base_url + "/_sandbox" + path,
                json=body,
                timeout=aiohttp.ClientTimeout(total=limit),
            ) as resp:
                data = await resp.json(content_type=None)
        except TimeoutError:
            raise SandboxTimeout(f"sandbox control call {method} {path} timed out") from None
        if resp.status == 504:
            raise SandboxTimeout(data["error"])
        if resp.status != 200:
            if data.get("kind") == "modal_refused":
                raise ModalRefused(data["error"])
            if data.get("kind") == "cannot_see":
                raise MemberCannotSee(data["error"])
            raise SandboxError(data.get("error", str(data)))
        return data

    # -- building --------------------------------------------------------------------------
    async def add_guild(self, name: str, **kw: Any) -> Ref:
        return Ref(await self._call("POST", "/guilds", {"name": name, **kw}))

    async def add_channel(self, guild: Any, name: str, type: int | str = 0, **kw: Any) -> Ref:
        return Ref(
            await self._call(
                "POST", "/channels", {"guild": _key(guild), "name": name, "type": type, **kw}
            )
        )

    async def add_role(self, guild: Any, name: str, permissions: int = 0, **kw: Any) -> Ref:
        return Ref(
            await self._call(
                "POST",
                "/roles",
                {"guild": _key(guild), "name": name, "permissions": permissions, **kw},
            )
        )

    async def add_member(
        self, guild: Any, name: str, roles: list[Any] | None = None, **kw: Any
    ) -> Ref:
        return Ref(
            await self._call(
                "POST",
                "/members",
                {"guild": _key(guild), "name": name, "roles": [_key(r) for r in roles or []], **kw},
            )
        )

    # -- waiting ---------------------------------------------------------------------------
    async def wait_for_identify(self, count: int = 1, *, timeout: float | None = None) -> dict:
        return await self._call(
            "POST", "/wait", {"what": "identify", "count": count, "timeout": timeout}, wait=timeout
        )

    async def wait_ready(self, *, timeout: float | None = None) -> None:
        await self._call("POST", "/wait", {"what": "ready", "timeout": timeout}, wait=timeout)

    async def wait_resumed(self, count: int = 1, *, timeout: float | None = None) -> None:
        await self._call(
            "POST", "/wait", {"what": "resumed", "count": count, "timeout": timeout}, wait=timeout
        )

    async def wait_for_message(
        self,
        channel: Any,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        *,
        contains: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        after = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxTimeout(
                    f"timed out after {limit:.1f}s waiting for a message in channel {_key(channel)}"
                )
            msg = await self._call(
                "POST",
                "/wait_for_message",
                {"channel": _key(channel), "after": after, "contains": contains, "timeout": left},
                wait=left,
            )
            if predicate is None or predicate(msg):
                return msg
            after = int(msg["id"])

    # -- interactions ----------------------------------------------------------------------
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
        opts = {k: (str(_id(v)) if hasattr(v, "id") else v) for k, v in options.items()}
        data = await self._call(
            "POST",
            "/slash",
            {
                "member": _key(member),
                "channel": _key(channel),
                "command": command,
                "subcommand": subcommand,
                "options": opts,
                "timeout": timeout,
            },
            wait=timeout,
        )
        return InteractionResult.from_dict(data)

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
    ) -> list[dict]:
        return await self._call(
            "POST",
            "/autocomplete",
            {
                "member": _key(member),
                "channel": _key(channel),
                "command": command,
                "option": option,
                "value": value,
                "subcommand": subcommand,
                "options": others,
                "timeout": timeout,
            },
            wait=timeout,
        )

    async def click(
        self,
        member: Any,
        channel: Any,
        message: Any,
        custom_id: str,
        *,
        values: list[str] | None = None,
        timeout: float | None = None,
    ) -> InteractionResult:
        data = await self._call(
            "POST",
            "/click",
            {
                "member": _key(member),
                "channel": _key(channel),
                "message": _key(message),
                "custom_id": custom_id,
                "values": values,
                "timeout": timeout,
            },
            wait=timeout,
        )
        return InteractionResult.from_dict(data)

    async def submit_modal(
        self,
        member: Any,
        channel: Any,
        custom_id: str,
        fields: dict[str, Any],
        *,
        timeout: float | None = None,
    ) -> InteractionResult:
        """See Sandbox.submit_modal (ModalRefused when Discord's client would not send it)."""
        body = {
            "member": _key(member),
            "channel": _key(channel),
            "custom_id": custom_id,
            "fields": fields,
            "timeout": timeout,
        }
        return InteractionResult.from_dict(
            await self._call("POST", "/submit_modal", body, wait=timeout)
        )

    # -- threads -------------------------------------------------------------------------
    async def threads(self, parent: Any) -> list[dict[str, Any]]:
        return await self._call("GET", f"/threads/{_key(parent)}")

    async def thread_members(self, thread: Any) -> list[int]:
        return [int(u) for u in await self._call("GET", f"/thread_members/{_key(thread)}")]

    async def create_thread(
        self, member: Any, parent: Any, name: str, *, private: bool = True, message: Any = None
    ) -> Ref:
        body = {
            "member": _key(member),
            "parent": _key(parent),
            "name": name,
            "private": private,
            "message": _key(message),
        }
        return Ref(await self._call("POST", "/threads", body))

    async def add_to_thread(self, thread: Any, member: Any) -> None:
        await self._call("POST", "/thread_member", {"thread": _key(thread), "member": _key(member)})

    async def remove_from_thread(self, thread: Any, member: Any) -> None:
        body = {"thread": _key(thread), "member": _key(member), "remove": True}
        await self._call("POST", "/thread_member", body)

    async def set_thread_state(
        self, thread: Any, *, archived: bool | None = None, locked: bool | None = None
    ) -> dict[str, Any]:
        body = {"thread": _key(thread), "archived": archived, "locked": locked}
        return await self._call("POST", "/thread_state", body)

    async def can_see(self, member: Any, channel: Any) -> bool:
        body = {"member": _key(member), "channel": _key(channel)}
        return bool((await self._call("POST", "/can_see", body))["can_see"])

    async def start_event(self, event: Any) -> dict[str, Any]:
        return await self._call("POST", "/event_status", {"event": _key(event), "status": "active"})

    async def end_event(self, event: Any) -> dict[str, Any]:
        body = {"event": _key(event), "status": "completed"}
        return await self._call("POST", "/event_status", body)

    async def result(self, interaction: Any) -> InteractionResult:
        return InteractionResult.from_dict(
            await self._call("GET", f"/interactions/{_key(interaction)}")
        )

    async def wait_followups(
        self, result: Any, count: int = 1, *, timeout: float | None = None
    ) -> InteractionResult:
        return InteractionResult.from_dict(
            await self._call(
                "POST",
                f"/interactions/{_key(result)}/followups",
                {"count": count, "timeout": timeout},
                wait=timeout,
            )
        )

    async def wait_final(self, result: Any, *, timeout: float | None = None) -> InteractionResult:
        return InteractionResult.from_dict(
            await self._call(
                "POST", f"/interactions/{_key(result)}/final", {"timeout": timeout}, wait=timeout
            )
        )

    # -- reading ---------------------------------------------------------------------------
    async def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return await self._call("GET", f"/requests?since={since}")

    async def messages(self, channel: Any, *, ephemeral: bool = False) -> list[dict[str, Any]]:
        q = "?ephemeral=1" if ephemeral else ""
        return await self._call("GET", f"/messages/{_key(channel)}{q}")

    async def violations(self) -> dict[str, list[str]]:
        return await self._call("GET", "/violations")

    async def assert_valid(self) -> None:
        v = await self.violations()
        problems = v["requests"] + v["responses"]
        if problems:
            lines = "\n  ".join(problems[:20])
            raise AssertionError(f"{len(problems)} Discord API spec violation(s):\n  {lines}")

    async def pings(self, message: Any) -> dict[str, Any]:
        return await self._call("GET", f"/pings/{_key(message)}")

    async def scheduled_events(self, guild: Any) -> list[dict[str, Any]]:
        return await self._call("GET", f"/events/{_key(guild)}")

    async def mark_interested(self, member: Any, event: Any, interested: bool = True) -> None:
        await self._call(
            "POST",
            "/interested",
            {"member": _key(member), "event": _key(event), "interested": interested},
        )

    # -- faults ----------------------------------------------------------------------------
    async def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        route: str | None = None,
        *,
        retry_after: float = 0.5,
        global_: bool = False,
    ) -> None:
        await self._call(
            "POST",
            "/faults/fail_next",
            {
                "n": n,
                "status": status,
                "route": route,
                "retry_after": retry_after,
                "global": global_,
            },
        )

    async def fail_every(
        self,
        every: int,
        status: int = 429,
        route: str | None = None,
        *,
        retry_after: float = 0.5,
        global_every: int = 0,
        count: int | None = None,
    ) -> None:
        await self._call(
            "POST",
            "/faults/fail_every",
            {
                "every": every,
                "status": status,
                "route": route,
                "retry_after": retry_after,
                "global_every": global_every,
                "count": count,
            },
        )

    async def delay(
        self, seconds: float, route: str | None = None, *, count: int | None = None
    ) -> None:
        await self._call(
            "POST", "/faults/delay", {"seconds": seconds, "route": route, "count": count}
        )

    async def fail_after_store(
        self, route: str | None = None, status: int | str = 502, *, count: int = 1
    ) -> None:
        """See Sandbox.fail_after_store: the write happens, then a 5xx (or "drop")."""
        await self._call(
            "POST",
            "/faults/fail_after_store",
            {"route": route, "status": status, "count": count},
        )

    async def failed_interactions(self) -> list[dict[str, Any]]:
        """Interactions a member saw fail ("This interaction failed")."""
        return await self._call("GET", "/failed_interactions")

    async def stats(self) -> dict[str, Any]:
        """Counters: nonce_hits, failed_interactions, ..."""
        return await self._call("GET", "/stats")

    async def bot_messages(self) -> list[dict[str, Any]]:
        """Every message the bot posted, all channels and DMs (each with `dm`)."""
        return await self._call("GET", "/bot_messages")

    async def set_overwrite(
        self, channel: Any, target: Any, *, allow: int = 0, deny: int = 0
    ) -> None:
        await self._call(
            "POST",
            "/overwrite",
            {"channel": _key(channel), "target": _key(target), "allow": allow, "deny": deny},
        )

    async def seed_messages(
        self,
        channel: Any,
        count: int,
        *,
        author: Any = None,
        every: float = 30.0,
        last_ago: float = 1.0,
    ) -> list[str]:
        body = {
            "channel": _key(channel),
            "count": count,
            "author": _key(author),
            "every": every,
            "last_ago": last_ago,
        }
        return (await self._call("POST", "/seed_messages", body))["ids"]

    async def join_voice(self, member: Any, channel: Any) -> None:
        await self._call("POST", "/voice", {"member": _key(member), "channel": _key(channel)})

    async def leave_voice(self, member: Any) -> None:
        await self._call("POST", "/voice", {"member": _key(member), "channel": None})

    async def tick(self) -> list[dict[str, Any]]:
        return await self._call("POST", "/tick", {})

    async def reset_token(self) -> None:
        await self._call("POST", "/token", {"reset": True})

    async def set_token(self, token: str) -> None:
        await self._call("POST", "/token", {"token": token})

    async def clear_faults(self) -> None:
        await self._call("POST", "/faults/clear", {})

    async def deny_channel(self, channel: Any, *, allow: bool = False) -> None:
        await self._call("POST", "/deny_channel", {"channel": _key(channel), "allow": allow})

    async def close_dms(self, user: Any, closed: bool = True) -> None:
        await self._call("POST", "/close_dms", {"user": _key(user), "closed": closed})

    async def close_gateway(self, code: int = 4000) -> None:
        await self._call("POST", "/gateway/close", {"code": code})

    async def send_reconnect(self) -> None:
        await self._call("POST", "/gateway/reconnect", {})

    async def send_invalid_session(self, resumable: bool = False) -> None:
        await self._call("POST", "/gateway/invalid_session", {"resumable": resumable})

    async def dispatch(self, event: str, data: dict[str, Any]) -> bool:
        return (await self._call("POST", "/dispatch", {"event": event, "data": data}))["sent"]
