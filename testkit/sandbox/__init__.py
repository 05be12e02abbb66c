"""A local Discord stand-in (REST v10 + gateway on 127.0.0.1) for tests and the demo."""

from .client import Ref, SandboxClient
from .interactions import InteractionResult
from .modals import ModalRefused
from .server import RecordedRequest, Sandbox
from .state import ApiError, MemberCannotSee, Pings, SandboxError, SandboxTimeout
from .violations import Violation

__all__ = [
    "ApiError",
    "InteractionResult",
    "MemberCannotSee",
    "ModalRefused",
    "Pings",
    "RecordedRequest",
    "Ref",
    "Sandbox",
    "SandboxClient",
    "SandboxError",
    "SandboxTimeout",
    "Violation",
    "build_from_layout",
]


def build_from_layout(sandbox: Sandbox, layout: dict) -> dict:
    """Build guilds from a JSON layout; returns {guild name: {kind: {name: id}}}.

    Layout: {"guilds": [{"name": ..., "channels": [{"name", "type"}],
    "roles": [{"name", "permissions", "mentionable"}], "members": [{"name", "roles": [names]}]}]}
    """
    out: dict = {}
    for g in layout.get("guilds", []):
        guild = sandbox.add_guild(g["name"])
        ids: dict = {"id": str(guild.id), "channels": {}, "roles": {}, "members": {}}
        for c in g.get("channels", []):
            ids["channels"][c["name"]] = str(
                sandbox.add_channel(guild, c["name"], c.get("type", 0)).id
            )
        for r in g.get("roles", []):
            ids["roles"][r["name"]] = str(
                sandbox.add_role(
                    guild,
                    r["name"],
                    int(r.get("permissions", 0)),
                    mentionable=bool(r.get("mentionable", False)),
                ).id
            )
        for m in g.get("members", []):
            roles = [int(ids["roles"][n]) for n in m.get("roles", [])]
            ids["members"][m["name"]] = str(sandbox.add_member(guild, m["name"], roles).id)
        out[g["name"]] = ids
    return out
