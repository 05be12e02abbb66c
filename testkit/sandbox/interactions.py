"""INTERACTION_CREATE payloads and the record of how the bot answered each one."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .state import DM, Channel, Member, Role, SandboxError, User, World

if TYPE_CHECKING:
    from .server import Sandbox

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

_STRING, _INTEGER, _BOOLEAN, _USER, _CHANNEL, _ROLE, _MENTIONABLE, _NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
_SUBCOMMAND, _GROUP = 1, 2


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    name: str  # "/episode", "button:remind", ... for messages and transcripts
    channel_id: int
    guild_id: int | None
    user_id: int
    payload: dict[str, Any]
    message_id: int | None = None  # the message a component sits on
    acknowledged: bool = False
    callback: dict[str, Any] | None = None
    callback_files: list[dict[str, Any]] = field(default_factory=list)
    original_id: int | None = None
    loading: bool = False
    final: bool = False  # the user sees the bot's real answer (not "thinking…")
    followup_ids: list[int] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    created: float = field(default_factory=time.monotonic)
    # The 3 s deadline passed unanswered: Discord invalidated the token (10062 from now on).
    expired: bool = False
    # A modal submission: the interaction whose callback showed the modal.
    trigger: InteractionRecord | None = None
    # Set with `acknowledged`: a waiter for this one interaction wakes alone, so 500
    # concurrent members do not each re-check on every request the bot makes.
    acked: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    def message_metadata(self, sb: Sandbox) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "user": sb.world.users[self.user_id].payload(),
            "authorizing_integration_owners": {
                "0": str(self.guild_id) if self.guild_id else str(self.user_id)
            },
        }
        if self.original_id is not None:
            meta["original_response_message_id"] = str(self.original_id)
        if self.type == MESSAGE_COMPONENT and self.message_id is not None:
            meta["interacted_message_id"] = str(self.message_id)
        if self.type == MODAL_SUBMIT and self.trigger is not None:
            meta["triggering_interaction_metadata"] = self.trigger.message_metadata(sb)[
                "interaction_metadata"
            ]
        return {"interaction_metadata": meta}


@dataclass
class InteractionResult:
    """How the bot answered one interaction. Live in-process: follow-ups keep arriving."""

    id: int
    token: str
    interaction_type: int
    name: str
    response: dict[str, Any] | None  # the callback body the bot POSTed ({type, data})
    message: dict[str, Any] | None  # the reply (or updated) message as Discord shows it
    followups: list[dict[str, Any]] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def response_type(self) -> int | None:
        return self.response.get("type") if self.response else None

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def ephemeral(self) -> bool:
        return bool(self.message and self.message.get("flags", 0) & 64)

    @property
    def content(self) -> str:
        return (self.message or {}).get("content", "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return (self.message or {}).get("embeds", [])

    @property
    def components(self) -> list[dict[str, Any]]:
        return (self.message or {}).get("components", [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "token": self.token,
            "interaction_type": self.interaction_type,
            "name": self.name,
            "response": self.response,
            "message": self.message,
            "followups": self.followups,
            "choices": self.choices,
            "modal": self.modal,
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InteractionResult:
        return cls(
            id=int(d["id"]),
            token=d["token"],
            interaction_type=d["interaction_type"],
            name=d["name"],
            response=d["response"],
            message=d["message"],
            followups=d["followups"],
            choices=d["choices"],
            modal=d["modal"],
            files=d.get("files", []),
        )


def result_of(sb: Sandbox, rec: InteractionRecord) -> InteractionResult:
    msg = None
    if rec.original_id is not None:
        msg = sb.world.message_index[rec.original_id].data
    followups = [
        sb.world.message_index[m].data
        for m in rec.followup_ids
        if m != rec.original_id and m in sb.world.message_index
    ]
    return InteractionResult(
        id=rec.id,
        token=rec.token,
        interaction_type=rec.type,
        name=rec.name,
        response=rec.callback,
        message=msg,
        followups=followups,
        choices=rec.choices,
        modal=rec.modal,
        files=rec.callback_files,
    )


# -- building INTERACTION_CREATE ------------------------------------------------------
def _option_value(
    world: World, otype: int, value: Any, resolved: dict[str, Any], guild_id: int | None
) -> Any:
    if otype in (_USER, _MENTIONABLE) and isinstance(value, (Member, User)):
        user = value.user if isinstance(value, Member) else value
        resolved.setdefault("users", {})[str(user.id)] = user.payload()
        if guild_id and user.id in world.guilds[guild_id].members:
            m = world.guilds[guild_id].members[user.id].payload(with_user=False)
            resolved.setdefault("members", {})[str(user.id)] = {**m, "permissions": "0"}
        return str(user.id)
    if otype in (_ROLE, _MENTIONABLE) and isinstance(value, Role):
        resolved.setdefault("roles", {})[str(value.id)] = value.payload()
        return str(value.id)
    if otype == _CHANNEL and isinstance(value, Channel):
        resolved.setdefault("channels", {})[str(value.id)] = {
            "id": str(value.id),
            "type": value.type,
            "name": value.name,
            "permissions": "0",
        }
        return str(value.id)
    if otype == _INTEGER:
        return int(value)
    if otype == _NUMBER:
        return float(value)
    if otype == _BOOLEAN:
        return bool(value)
    return str(value)


def build_options(
    world: World,
    command: dict[str, Any],
    subcommand: str | None,
    values: dict[str, Any],
    *,
    focused: str | None,
    guild_id: int | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    resolved: dict[str, Any] = {}
    defs = command.get("options") or []
    path: list[dict[str, Any]] = []
    for part in (subcommand or "").split():
        match = next((o for o in defs if o["name"] == part and o["type"] in (1, 2)), None)
        if match is None:
            names = [o["name"] for o in defs if o["type"] in (1, 2)]
            raise SandboxError(f"/{command['name']} has no subcommand {part!r} (has {names})")
        path.append(match)
        defs = match.get("options") or []
    if any(o["type"] in (1, 2) for o in defs):
        raise SandboxError(f"/{command['name']} needs a subcommand=")
    by_name = {o["name"]: o for o in defs}
    opts: list[dict[str, Any]] = []
    for name, value in values.items():
        if name not in by_name:
            raise SandboxError(f"/{command['name']} has no option {name!r} (has {sorted(by_name)})")
        otype = by_name[name]["type"]
        opt: dict[str, Any] = {"name": name, "type": otype}
        if name == focused:
            opt["value"] = str(value)  # partial input is always a string while typing
            opt["focused"] = True
        else:
            opt["value"] = _option_value(world, otype, value, resolved, guild_id)
        opts.append(opt)
    if focused is None:
        missing = [o["name"] for o in defs if o.get("required") and o["name"] not in values]
        if missing:
            raise SandboxError(f"/{command['name']} is missing required options {missing}")
    for sub in reversed(path):
        opts = [{"name": sub["name"], "type": sub["type"], "options": opts}]
    return opts, resolved


def build_payload(
    sb: Sandbox,
    *,
    itype: int,
    user: User,
    channel: Channel,
    data: dict[str, Any],
    message: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], int, str]:
    world = sb.world
    iid = world.snowflake.next()
    token = "itok." + secrets.token_urlsafe(32)
    payload: dict[str, Any] = {
        "id": str(iid),
        "application_id": str(world.application_id),
        "type": itype,
        "token": token,
        "version": 1,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "data": data,
    }
    if channel.type == DM:
        payload["channel_id"] = str(channel.id)
        payload["channel"] = channel.payload(world.users)
        payload["user"] = user.payload()
        payload["context"] = 1
        payload["authorizing_integration_owners"] = {"0": str(user.id)}
        payload["app_permissions"] = str(world.bot_permissions(channel))
    else:
        guild = world.guilds[channel.guild_id]  # type: ignore[index]
        member = guild.members.get(user.id)
        if member is None:
            raise SandboxError(f"{user.username} is not a member of {guild.name}")
        payload["guild_id"] = str(guild.id)
        payload["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
        payload["guild_locale"] = "en-US"
        payload["channel_id"] = str(channel.id)
        payload["channel"] = channel.payload()
        payload["member"] = {
            **member.payload(),
            "permissions": str(guild.permissions_in(member, channel)),
        }
        payload["app_permissions"] = str(world.bot_permissions(channel))
        payload["context"] = 0
        payload["authorizing_integration_owners"] = {"0": str(guild.id)}
    if message is not None:
        payload["message"] = message
    return payload, iid, token
