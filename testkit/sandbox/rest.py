"""REST v10 handlers: what the bot calls, answered the way Discord answers.

Each handler takes (sandbox, request context) and returns (status, json-or-None) or raises
ApiError. The middleware in server.py does recording, faults, auth and validation.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .limits import RateLimited
from .modals import ShownModal, check_modal
from .state import (
    ANNOUNCEMENT,
    ANNOUNCEMENT_THREAD,
    ATTACH_FILES,
    AUTO_ARCHIVE_DURATIONS,
    CONNECT,
    CREATE_EVENTS,
    CREATE_PRIVATE_THREADS,
    CREATE_PUBLIC_THREADS,
    DM,
    EMBED_LINKS,
    MANAGE_CHANNELS,
    MANAGE_EVENTS,
    MANAGE_MESSAGES,
    MANAGE_ROLES,
    MANAGE_THREADS,
    MESSAGE_FLAG_CROSSPOSTED,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_HAS_THREAD,
    MESSAGE_FLAG_LOADING,
    MOVE_MEMBERS,
    MUTE_MEMBERS,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    STAGE,
    TEXT,
    VIEW_CHANNEL,
    VOICE,
    ApiError,
    Channel,
    Guild,
    ScheduledEvent,
    StoredMessage,
    ThreadState,
    form_error,
    iso,
    unknown,
)

if TYPE_CHECKING:
    from .server import InteractionRecord, Sandbox

MAX_CONTENT = 2000
MAX_SCHEDULED_EVENTS = 100
OLD_MESSAGE_SECONDS = 3600.0  # opcodes 30046: "edits to messages older than 1 hour"


@dataclass
class Ctx:
    method: str
    path: str
    params: dict[str, str]  # path parameters by template name
    query: dict[str, str]
    body: Any
    files: list[dict[str, Any]] = field(default_factory=list)


Result = tuple[int, Any]
Handler = Callable[["Sandbox", Ctx], Awaitable[Result]]
ROUTES: list[tuple[str, str, Handler, bool]] = []  # method, template, handler, needs auth


def route(method: str, template: str, *, auth: bool = True):
    def deco(fn: Handler) -> Handler:
        ROUTES.append((method, template, fn, auth))
        return fn

    return deco


def _no_auth_template(template: str) -> bool:
    return template.startswith(("/webhooks/", "/interactions/"))


# -- identity -------------------------------------------------------------------------
@route("GET", "/users/@me")
async def get_me(sb: Sandbox, ctx: Ctx) -> Result:
    return 200, {
        **sb.world.bot.payload(),
        "mfa_enabled": False,
        "locale": "en-US",
        "verified": True,
        "email": None,
    }


@route("GET", "/oauth2/applications/@me")
async def get_app(sb: Sandbox, ctx: Ctx) -> Result:
    w = sb.world
    return 200, {
        "id": str(w.application_id),
        "name": w.bot.username,
        "icon": None,
        "description": "",
        "type": None,
        "bot": w.bot.payload(),
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": 0,
        "flags_new": "0",
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "owner": w.owner.payload(),
        "approximate_guild_count": len(w.guilds),
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": None,
        "eligible_oauth2_scopes": [],
        "tags": [],
        "rpc_origins": [],
    }


@route("GET", "/gateway", auth=False)
async def get_gateway(sb: Sandbox, ctx: Ctx) -> Result:
    return 200, {"url": sb.gateway_url}


@route("GET", "/gateway/bot")
async def get_gateway_bot(sb: Sandbox, ctx: Ctx) -> Result:
    return 200, {
        "url": sb.gateway_url,
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 999,
            "reset_after": 0,
            "max_concurrency": 1,
        },
    }


# -- commands ---------------------------------------------------------------------------
def _check_app(sb: Sandbox, ctx: Ctx) -> None:
    if int(ctx.params["application_id"]) != sb.world.application_id:
        raise unknown("Application", 10002)


@route("PUT", "/applications/{application_id}/commands")
async def put_global_commands(sb: Sandbox, ctx: Ctx) -> Result:
    _check_app(sb, ctx)
    return 200, sb.world.sync_commands(None, ctx.body or [])


@route("GET", "/applications/{application_id}/commands")
async def get_global_commands(sb: Sandbox, ctx: Ctx) -> Result:
    _check_app(sb, ctx)
    return 200, sb.world.global_commands


@route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def put_guild_commands(sb: Sandbox, ctx: Ctx) -> Result:
    _check_app(sb, ctx)
    guild = _guild(sb, ctx)
    return 200, sb.world.sync_commands(guild.id, ctx.body or [])


@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def get_guild_commands(sb: Sandbox, ctx: Ctx) -> Result:
    _check_app(sb, ctx)
    guild = _guild(sb, ctx)
    return 200, sb.world.guild_commands.get(guild.id, [])


# -- guild --------------------------------------------------------------------------------
def _guild(sb: Sandbox, ctx: Ctx) -> Guild:
    g = sb.world.guilds.get(int(ctx.params["guild_id"]))
    if g is None:
        raise unknown("Guild", 10004)
    return g


@route("GET", "/guilds/{guild_id}/roles")
async def get_roles(sb: Sandbox, ctx: Ctx) -> Result:
    return 200, [r.payload() for r in _guild(sb, ctx).roles.values()]


@route("GET", "/guilds/{guild_id}/channels")
async def get_channels(sb: Sandbox, ctx: Ctx) -> Result:
    return 200, [c.payload() for c in _guild(sb, ctx).channels.values()]


@route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(sb: Sandbox, ctx: Ctx) -> Result:
    g = _guild(sb, ctx)
    return 200, sb.world.member(g, ctx.params["user_id"]).payload()


async def _member_role(sb: Sandbox, ctx: Ctx, add: bool) -> Result:
    g = _guild(sb, ctx)
    member = sb.world.member(g, ctx.params["user_id"])
    rid = int(ctx.params["role_id"])
    if rid not in g.roles:
        raise unknown("Role", 10011)
    bot = g.members[sb.world.bot.id]
    if not g.base_permissions(bot) & MANAGE_ROLES or g.roles[rid].position >= g.top_role_position(
        bot
    ):
        raise ApiError(403, 50013, "Missing Permissions")
    if add and rid not in member.roles:
        member.roles.append(rid)
    elif not add and rid in member.roles:
        member.roles.remove(rid)
    await sb._dispatch("GUILD_MEMBER_UPDATE", {"guild_id": str(g.id), **member.payload()})
    return 204, None


@route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def add_member_role(sb: Sandbox, ctx: Ctx) -> Result:
    return await _member_role(sb, ctx, True)


@route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def remove_member_role(sb: Sandbox, ctx: Ctx) -> Result:
    return await _member_role(sb, ctx, False)


# -- channels & messages ------------------------------------------------------------------
def _channel(sb: Sandbox, ctx: Ctx) -> Channel:
    return sb.world.channel(ctx.params["channel_id"])


def _missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def _missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def _need(sb: Sandbox, channel: Channel, bits: int) -> int:
    """The bot's permissions in a guild channel; 50001 without View Channel (or Connect in a
    voice channel: message.mdx), 50013 without the other `bits`."""
    perms = sb.world.bot_permissions(channel)
    if channel.guild_id is None:
        return perms
    view = VIEW_CHANNEL | (CONNECT if channel.type in (VOICE, STAGE) else 0)
    if perms & view != view:
        raise _missing_access()
    if perms & bits != bits:
        raise _missing_permissions()
    return perms


@route("GET", "/channels/{channel_id}")
async def get_channel(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    if channel.guild_id is not None and not sb.world.bot_permissions(channel) & VIEW_CHANNEL:
        raise _missing_access()
    return 200, channel.payload(sb.world.users, me=sb.world.bot.id)


@route("POST", "/users/@me/channels")
async def create_dm(sb: Sandbox, ctx: Ctx) -> Result:
    recipient = (ctx.body or {}).get("recipient_id")
    if recipient is None:
        raise form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
    # opcodes 40003 "You are opening direct messages too fast", a 403 and transient
    # (davidhozic/discord-advertisement-framework#82); knob dm_open_per_minute.
    if sb.dm_opens.retry_after("dm") is not None:
        raise ApiError(403, 40003, "You are opening direct messages too fast.")
    sb.dm_opens.add("dm")
    ch = sb.world.dm_channel(int(recipient))
    return 200, ch.payload(sb.world.users)


def _check_content(sb: Sandbox, ctx: Ctx, body: dict[str, Any]) -> None:
    content = body.get("content")
    if content is not None and len(content) > MAX_CONTENT:
        sb._limit_violation(
            ctx, "content", f"content is {len(content)} characters; Discord allows {MAX_CONTENT}"
        )
        raise form_error(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )


def _check_not_empty(body: dict[str, Any], files: list[dict[str, Any]]) -> None:
    if not (
        body.get("content")
        or body.get("embeds")
        or files
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
    ):
        raise ApiError(400, 50006, "Cannot send an empty message")


def _check_send(sb: Sandbox, channel: Channel) -> int:
    """The bot's permissions where it sends; refuses what Discord refuses."""
    if channel.type == DM:
        user = sb.world.users[channel.recipients[0]]
        # opcodes 50007: the member closed their DMs (or shares no server with the bot).
        if not user.dms_open:
            raise ApiError(403, 50007, "Cannot send messages to this user")
        return sb.world.bot_permissions(channel)
    if channel.thread is not None:
        # permissions.mdx: in a thread, Send Messages in Threads (computed on the parent)
        # replaces Send Messages; threads.mdx: a locked thread takes Manage Threads, and a
        # send unarchives an archived thread that is not locked.
        perms = _need(sb, channel, SEND_MESSAGES_IN_THREADS)
        if channel.thread.locked and not perms & MANAGE_THREADS:
            if channel.thread.archived:
                raise _archived()
            raise _missing_permissions()
        return perms
    if channel.type not in (0, ANNOUNCEMENT, VOICE, STAGE):
        raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
    # message.mdx, Create Message limitations: Send Messages (View Channel to see it at all).
    return _need(sb, channel, SEND_MESSAGES)


def _archived() -> ApiError:
    # opcodes 50083 "Operation cannot be performed on an archived thread".
    return ApiError(400, 50083, "Thread is archived")


@route("POST", "/channels/{channel_id}/messages")
async def create_message(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    body = dict(ctx.body or {})
    perms = _check_send(sb, channel)
    _check_content(sb, ctx, body)
    if ctx.files and not perms & ATTACH_FILES:
        raise _missing_permissions()  # permissions.mdx: ATTACH_FILES
    if body.get("embeds") and not perms & EMBED_LINKS:
        # Without Embed Links the message is posted without its embeds, no error (widely
        # reported; permissions.mdx EMBED_LINKS: only then are links "auto-embedded").
        body["embeds"] = []
        sb.embeds_dropped += 1
    ref = body.get("message_reference") or {}
    if ref.get("message_id") and channel.guild_id and not perms & READ_MESSAGE_HISTORY:
        # opcodes 160002; message.mdx: a reply needs Read Message History.
        raise ApiError(403, 160002, "Cannot reply without permission to read message history")
    _check_not_empty(body, ctx.files)
    nonce = body.get("nonce")
    if nonce is not None and body.get("enforce_nonce"):
        existing = sb.world.recent_nonce(channel.id, sb.world.bot.id, nonce, sb.nonce_window)
        if existing is not None:
            sb.nonce_hits += 1
            return 200, existing.data
    sm = sb.world.build_message(channel, body, files=ctx.files)
    if channel.thread is not None and channel.thread.archived:
        await sb.set_thread_state(channel, archived=False)
    await sb._store_and_announce(sm)
    return 200, sm.data


def _snowflake_param(ctx: Ctx, name: str) -> int | None:
    raw = ctx.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise form_error(name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.') from None


@route("GET", "/channels/{channel_id}/messages")
async def list_messages(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    # message.mdx, Get Channel Messages: View Channel (and Connect in voice) or 50001; without
    # Read Message History "no messages will be returned" (an empty list, not an error).
    perms = _need(sb, channel, 0)
    try:
        limit = int(ctx.query.get("limit", 50))
    except ValueError:
        raise form_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.") from None
    if not 1 <= limit <= 100:
        raise form_error("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
    given = [k for k in ("before", "after", "around") if k in ctx.query]
    if len(given) > 1:  # message.mdx: "mutually exclusive, only one may be passed at a time"
        raise form_error(
            given[1], "BASE_TYPE_BAD_REQUEST", "before, after and around exclude each other."
        )
    if channel.guild_id is not None and not perms & READ_MESSAGE_HISTORY:
        return 200, []
    return 200, sb.world.history(
        channel.id,
        limit=limit,
        before=_snowflake_param(ctx, "before"),
        after=_snowflake_param(ctx, "after"),
        around=_snowflake_param(ctx, "around"),
    )


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    _need(sb, channel, READ_MESSAGE_HISTORY)  # message.mdx: View Channel + Read History
    sm = sb.world.find_message(channel.id, int(ctx.params["message_id"]))
    if sm.ephemeral:
        raise unknown("Message", 10008)
    return 200, sm.data


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    sm = sb.world.find_message(channel.id, int(ctx.params["message_id"]))
    if sm.author_id != sb.world.bot.id:
        raise ApiError(403, 50005, "Cannot edit a message authored by another user")
    _need(sb, channel, 0)
    if channel.thread is not None and channel.thread.archived:
        raise _archived()  # threads.mdx: no edits in an archived thread
    _check_content(sb, ctx, ctx.body or {})
    if sm.data["flags"] & MESSAGE_FLAG_CROSSPOSTED and sb.publishes.retry_after(channel.id):
        # opcodes 20022 (status undocumented; 403 here): a published message cannot be edited
        # while its channel is publish-limited.
        raise ApiError(403, 20022, "This message cannot be edited due to announcement rate limits.")
    if (sb.clock() - sm.created_at).total_seconds() > OLD_MESSAGE_SECONDS:
        wait = sb.old_edits.retry_after(channel.id)
        if wait is not None:
            # opcodes 30046, reported as a 429 without a `Via` header
            # (aikaterna/aikaterna-cogs#302): discord.py raises instead of retrying.
            raise RateLimited(
                wait,
                bucket=f"old-edits-{channel.id}",
                limit=sb.old_edits.limit,
                code=30046,
                message="Maximum number of edits to messages older than 1 hour reached. "
                "Try again later.",
                via=False,
            )
        sb.old_edits.add(channel.id)
    sb.world.edit_message(sm, ctx.body or {}, ctx.files)
    await sb._announce_update(sm)
    return 200, sm.data


@route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    sm = sb.world.find_message(channel.id, int(ctx.params["message_id"]))
    _need(sb, channel, 0 if sm.author_id == sb.world.bot.id else MANAGE_MESSAGES)
    await sb._delete_message(sm)
    return 204, None


@route("POST", "/channels/{channel_id}/messages/{message_id}/crosspost")
async def crosspost(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    sm = sb.world.find_message(channel.id, int(ctx.params["message_id"]))
    if channel.type != ANNOUNCEMENT:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    if sm.data["flags"] & MESSAGE_FLAG_CROSSPOSTED:
        raise ApiError(400, 40033, "This message has already been crossposted.")
    # message.mdx, Crosspost Message: Send Messages for its own message, else Manage Messages.
    own = sm.author_id == sb.world.bot.id
    _need(sb, channel, SEND_MESSAGES if own else SEND_MESSAGES | MANAGE_MESSAGES)
    wait = sb.publishes.retry_after(channel.id)
    if wait is not None:
        # About 10 publishes per hour per news channel; the next 429 says to wait until the
        # oldest leaves the hour (MonitoRSS#184, acehox/auto-publisher#13).
        raise RateLimited(wait, bucket=f"publish-{channel.id}", limit=sb.publishes.limit)
    sb.publishes.add(channel.id)
    sm.data["flags"] |= MESSAGE_FLAG_CROSSPOSTED
    await sb._announce_update(sm)
    return 200, sm.data


@route("POST", "/channels/{channel_id}/typing")
async def typing(sb: Sandbox, ctx: Ctx) -> Result:
    channel = _channel(sb, ctx)
    _need(sb, channel, SEND_MESSAGES_IN_THREADS if channel.thread else SEND_MESSAGES)
    return 204, None


# -- interactions -------------------------------------------------------------------------
def _interaction(sb: Sandbox, ctx: Ctx, id_key: str) -> InteractionRecord:
    token = ctx.params.get("interaction_token") or ctx.params.get("webhook_token", "")
    rec = sb.interactions_by_token.get(token)
    if id_key == "interaction_id":
        if rec is None or str(rec.id) != ctx.params["interaction_id"]:
            raise unknown("interaction", 10062)
    elif rec is None or int(ctx.params["webhook_id"]) != sb.world.application_id:
        raise unknown("Webhook", 10015)
    elif time.monotonic() - rec.created > sb.followup_window:
        # receiving-and-responding.mdx: the token works for 15 minutes; after that Discord
        # answers 401 50027 (discord/discord-api-docs#6851).
        raise ApiError(401, 50027, "Invalid Webhook Token")
    return rec


_CALLBACKS_FOR = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


@route("POST", "/interactions/{interaction_id}/{interaction_token}/callback", auth=False)
async def interaction_callback(sb: Sandbox, ctx: Ctx) -> Result:
    rec = _interaction(sb, ctx, "interaction_id")
    body = ctx.body or {}
    ctype = body.get("type")
    # opcodes-and-status-codes.mdx: 40060 "Interaction has already been acknowledged".
    if rec.acknowledged:
        raise ApiError(400, 40060, "Interaction has already been acknowledged.")
    # receiving-and-responding.mdx: no first response within 3 s invalidates the token.
    late = time.monotonic() - rec.created
    if rec.expired or late > sb.interaction_deadline:
        sb.interaction_failed(rec, f"callback {late:.2f}s after the interaction")
        raise unknown("interaction", 10062)
    if ctype not in _CALLBACKS_FOR.get(rec.type, set()):
        raise form_error(
            "type",
            "INTERACTION_CALLBACK_TYPE_INVALID",
            f"Callback type {ctype} is not valid for interaction type {rec.type}",
        )
    data = body.get("data") or {}
    if ctype in (4, 7):
        _check_content(sb, ctx, data)
    channel = sb.world.channels.get(rec.channel_id)
    interaction_info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
    resource: dict[str, Any] | None = None
    if ctype == 4:
        _check_not_empty(data, ctx.files)
        sm = sb.world.build_message(
            channel,
            data,
            files=ctx.files,
            mtype=20 if rec.type == 2 else 0,
            webhook_id=sb.world.application_id,
            extra=rec.message_metadata(sb),
        )
        await sb._store_and_announce(sm)
        rec.original_id = sm.id
        resource = {"type": 4, "message": sm.data}
        interaction_info.update(
            response_message_id=str(sm.id),
            response_message_loading=False,
            response_message_ephemeral=sm.ephemeral,
        )
    elif ctype == 5:
        flags = MESSAGE_FLAG_LOADING | (int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
        sm = sb.world.build_message(
            channel,
            {},
            mtype=20 if rec.type == 2 else 0,
            webhook_id=sb.world.application_id,
            extra=rec.message_metadata(sb),
            flags=flags,
        )
        sb.world.store_message(sm)  # the "thinking…" placeholder; not a MESSAGE_CREATE yet
        rec.original_id = sm.id
        rec.loading = True
        interaction_info.update(
            response_message_id=str(sm.id),
            response_message_loading=True,
            response_message_ephemeral=sm.ephemeral,
        )
    elif ctype in (6, 7):
        target = sb.world.message_index.get(rec.message_id or 0)
        if target is None:
            raise unknown("Message", 10008)
        rec.original_id = target.id
        if ctype == 7:
            sb.world.edit_message(target, data, ctx.files)
            await sb._announce_update(target)
            resource = {"type": 7, "message": target.data}
        interaction_info.update(
            response_message_id=str(target.id),
            response_message_loading=False,
            response_message_ephemeral=False,
        )
    elif ctype == 8:
        rec.choices = list(data.get("choices") or [])
    elif ctype == 9:
        inputs = check_modal(data)
        rec.modal = data
        sb.shown_modals.append(
            ShownModal(
                user_id=rec.user_id,
                channel_id=rec.channel_id,
                interaction_id=rec.id,
                data=data,
                message=rec.payload.get("message"),
                inputs=inputs,
            )
        )
    rec.acknowledged = True
    rec.acked.set()
    rec.final = ctype not in (5, 6)
    rec.callback = body
    rec.callback_files = [{"filename": f["filename"], "size": len(f["data"])} for f in ctx.files]
    sb._notify()
    out: dict[str, Any] = {"interaction": interaction_info}
    if resource is not None:
        out["resource"] = resource
    return 200, out


def _webhook_target(sb: Sandbox, rec: InteractionRecord, message_id: str) -> StoredMessage:
    if message_id == "@original":
        if rec.original_id is None:
            raise unknown("Message", 10008)
        return sb.world.message_index[rec.original_id]
    mid = int(message_id)
    if mid != rec.original_id and mid not in rec.followup_ids:
        raise unknown("Message", 10008)
    sm = sb.world.message_index.get(mid)
    if sm is None or sm.deleted:
        raise unknown("Message", 10008)
    return sm


@route("POST", "/webhooks/{webhook_id}/{webhook_token}", auth=False)
async def execute_webhook(sb: Sandbox, ctx: Ctx) -> Result:
    rec = _interaction(sb, ctx, "webhook_id")
    if not rec.acknowledged:
        raise unknown("Webhook", 10015)
    body = ctx.body or {}
    _check_content(sb, ctx, body)
    _check_not_empty(body, ctx.files)
    original = sb.world.message_index.get(rec.original_id or 0)
    if rec.loading and original is not None:
        # Discord: after a deferred reply, the first follow-up replaces the "thinking" message.
        sb.world.edit_message(original, body, ctx.files)
        original.data["edited_timestamp"] = None
        rec.loading = False
        await sb._announce_create(original)
        sm = original
    else:
        channel = sb.world.channels[rec.channel_id]
        sm = sb.world.build_message(
            channel,
            body,
            files=ctx.files,
            webhook_id=sb.world.application_id,
            extra=rec.message_metadata(sb),
        )
        await sb._store_and_announce(sm)
    rec.followup_ids.append(sm.id)
    rec.final = True
    sb._notify()
    if ctx.query.get("wait") in ("1", "true", "True"):
        return 200, sm.data
    return 204, None


@route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", auth=False)
@route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth=False)
async def get_webhook_message(sb: Sandbox, ctx: Ctx) -> Result:
    rec = _interaction(sb, ctx, "webhook_id")
    return 200, _webhook_target(sb, rec, ctx.params.get("message_id", "@original")).data


@route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", auth=False)
@route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth=False)
async def edit_webhook_message(sb: Sandbox, ctx: Ctx) -> Result:
    rec = _interaction(sb, ctx, "webhook_id")
    sm = _webhook_target(sb, rec, ctx.params.get("message_id", "@original"))
    _check_content(sb, ctx, ctx.body or {})
    was_loading = bool(sm.data["flags"] & MESSAGE_FLAG_LOADING)
    if sm.id == rec.original_id:
        rec.final = True
    sb.world.edit_message(sm, ctx.body or {}, ctx.files)
    if was_loading:
        sm.data["edited_timestamp"] = None
        rec.loading = False
        await sb._announce_create(sm)
    else:
        await sb._announce_update(sm)
    sb._notify()
    return 200, sm.data


@route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", auth=False)
@route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth=False)
async def delete_webhook_message(sb: Sandbox, ctx: Ctx) -> Result:
    rec = _interaction(sb, ctx, "webhook_id")
    sm = _webhook_target(sb, rec, ctx.params.get("message_id", "@original"))
    await sb._delete_message(sm)
    return 204, None


# -- scheduled events -----------------------------------------------------------------------
_TRANSITIONS = {1: {1, 2, 4}, 2: {2, 3}}


def _parse_time(field_name: str, value: Any) -> datetime:
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise form_error(field_name, "DATE_TIME_TYPE_PARSE", "Could not parse date") from None
    if dt.tzinfo is None:
        raise form_error(field_name, "DATE_TIME_TYPE_PARSE", "Could not parse date")
    return dt


def _image_hash(value: Any) -> str | None:
    if not value:
        return None
    raw = str(value).split(",", 1)[-1]
    try:
        data = base64.b64decode(raw, validate=True)
    except ValueError:
        raise form_error("image", "IMAGE_INVALID", "Invalid image data") from None
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _check_event(sb: Sandbox, guild: Guild, ev: dict[str, Any], *, creating: bool) -> None:
    etype = ev.get("entity_type")
    start = _parse_time("scheduled_start_time", ev.get("scheduled_start_time"))
    if creating and start <= sb.clock():
        raise form_error(
            "scheduled_start_time",
            "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
            "Cannot schedule event in the past.",
        )
    end = ev.get("scheduled_end_time")
    if end is not None and _parse_time("scheduled_end_time", end) <= start:
        raise form_error(
            "scheduled_end_time",
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "Cannot schedule event to end before starting.",
        )
    if etype == 3:
        if not (ev.get("entity_metadata") or {}).get("location"):
            raise form_error(
                "entity_metadata.location", "BASE_TYPE_REQUIRED", "This field is required"
            )
        if end is None:
            raise form_error("scheduled_end_time", "BASE_TYPE_REQUIRED", "This field is required")
        if ev.get("channel_id") is not None:
            raise form_error(
                "channel_id",
                "GUILD_SCHEDULED_EVENT_CHANNEL_NOT_ALLOWED",
                "External events cannot have a channel.",
            )
    elif etype in (1, 2):
        ch = guild.channels.get(int(ev.get("channel_id") or 0))
        want = STAGE if etype == 1 else VOICE
        if ch is None or ch.type != want:
            raise form_error(
                "channel_id",
                "CHANNEL_TYPE_INVALID",
                "Channel type does not match the event's entity type.",
            )
    else:
        raise form_error("entity_type", "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3).")


# guild-scheduled-event.mdx, "Guild Scheduled Event Permissions Requirements": computed in
# the event's channel for stage and voice events, at guild level for external ones.
_EVENT_CHANNEL_NEEDS = {1: MANAGE_CHANNELS | MUTE_MEMBERS | MOVE_MEMBERS, 2: VIEW_CHANNEL | CONNECT}


def _event_perms(
    sb: Sandbox, guild: Guild, event: ScheduledEvent | None, ev: dict[str, Any] | None = None
) -> None:
    """`event` None: creating `ev`; else modifying/deleting `event` (into `ev`, if given)."""
    target = ev if ev is not None else (event.data if event else {})
    etype = target.get("entity_type")
    channel = guild.channels.get(int(target.get("channel_id") or 0))
    if etype in (1, 2) and channel is not None:
        perms = sb.world.bot_permissions(channel)
        needs = _EVENT_CHANNEL_NEEDS[etype]
    else:
        perms = sb.world.bot_guild_permissions(guild)
        needs = 0
    own = event is None or event.data.get("creator_id") == str(sb.world.bot.id)
    may = perms & MANAGE_EVENTS or (own and perms & CREATE_EVENTS)
    if not may or perms & needs != needs:
        raise _missing_permissions()


def _event_payload(sb: Sandbox, guild: Guild, ev: ScheduledEvent) -> dict[str, Any]:
    d = ev.data
    d["user_count"] = len(ev.interested)
    return d


@route("POST", "/guilds/{guild_id}/scheduled-events")
async def create_event(sb: Sandbox, ctx: Ctx) -> Result:
    guild = _guild(sb, ctx)
    body = ctx.body or {}
    _check_event(sb, guild, body, creating=True)
    _event_perms(sb, guild, None, body)
    live = [e for e in guild.scheduled_events.values() if e.data["status"] in (1, 2)]
    if len(live) >= MAX_SCHEDULED_EVENTS:
        raise ApiError(
            400, 30038, "Maximum number of uncompleted guild scheduled events reached (100)"
        )
    ev = sb.new_scheduled_event(guild, body, creator=sb.world.bot)
    await sb._dispatch("GUILD_SCHEDULED_EVENT_CREATE", ev.data)
    return 200, _event_payload(sb, guild, ev)


def _event(sb: Sandbox, ctx: Ctx, guild: Guild) -> ScheduledEvent:
    ev = guild.scheduled_events.get(int(ctx.params["guild_scheduled_event_id"]))
    if ev is None:
        raise unknown("Guild Scheduled Event", 10070)
    return ev


@route("GET", "/guilds/{guild_id}/scheduled-events")
async def list_events(sb: Sandbox, ctx: Ctx) -> Result:
    guild = _guild(sb, ctx)
    return 200, [_event_payload(sb, guild, e) for e in guild.scheduled_events.values()]


@route("GET", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def get_event(sb: Sandbox, ctx: Ctx) -> Result:
    guild = _guild(sb, ctx)
    return 200, _event_payload(sb, guild, _event(sb, ctx, guild))


@route("PATCH", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def edit_event(sb: Sandbox, ctx: Ctx) -> Result:
    guild = _guild(sb, ctx)
    ev = _event(sb, ctx, guild)
    _event_perms(sb, guild, ev)
    body = dict(ctx.body or {})
    status = ev.data["status"]
    if status in (3, 4):
        raise form_error(
            "status",
            "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
            "Cannot modify a completed or canceled event.",
        )
    if "status" in body and body["status"] not in _TRANSITIONS.get(status, set()):
        raise form_error(
            "status",
            "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
            f"Cannot change status from {status} to {body['status']}.",
        )
    merged = {**ev.data, **{k: v for k, v in body.items() if k != "image"}}
    if body.get("entity_type") == 3 and "channel_id" not in body:
        merged["channel_id"] = None
    if "scheduled_start_time" in body or "entity_type" in body or "channel_id" in body:
        _check_event(sb, guild, merged, creating="scheduled_start_time" in body)
    for key in (
        "name",
        "description",
        "scheduled_start_time",
        "scheduled_end_time",
        "privacy_level",
        "status",
        "entity_type",
        "channel_id",
    ):
        if key in body:
            ev.data[key] = merged[key]
    if "entity_metadata" in body or "entity_type" in body:
        ev.data["entity_metadata"] = (
            merged.get("entity_metadata") or None
            if ev.data["entity_type"] != 3
            else {"location": merged["entity_metadata"]["location"]}
        )
        if ev.data["entity_type"] != 3:
            ev.data["entity_metadata"] = None
    if "image" in body:
        ev.data["image"] = _image_hash(body["image"])
    for key in ("scheduled_start_time", "scheduled_end_time"):
        if key in body and ev.data[key] is not None:
            ev.data[key] = iso(_parse_time(key, ev.data[key]))
    if ev.data["entity_type"] in (1, 2) and ev.data.get("channel_id"):
        ev.data["channel_id"] = str(ev.data["channel_id"])
    await sb._dispatch("GUILD_SCHEDULED_EVENT_UPDATE", ev.data)
    return 200, _event_payload(sb, guild, ev)


@route("DELETE", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def delete_event(sb: Sandbox, ctx: Ctx) -> Result:
    guild = _guild(sb, ctx)
    ev = _event(sb, ctx, guild)
    _event_perms(sb, guild, ev)
    del guild.scheduled_events[ev.id]
    await sb._dispatch("GUILD_SCHEDULED_EVENT_DELETE", ev.data)
    return 204, None


@route("GET", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}/users")
async def event_users(sb: Sandbox, ctx: Ctx) -> Result:
    guild = _guild(sb, ctx)
    ev = _event(sb, ctx, guild)
    # Like Discord: at most `limit` (1..100) users, ascending by id, after/before a user id.
    try:
        limit = int(ctx.query.get("limit", 100))
        after = int(ctx.query.get("after", 0))
        before = int(ctx.query["before"]) if "before" in ctx.query else None
    except ValueError:
        raise ApiError(400, 50035, "Invalid Form Body") from None
    if not 1 <= limit <= 100:
        raise ApiError(400, 50035, "Invalid Form Body")
    uids = sorted(ev.interested)
    if before is not None:
        uids = [u for u in uids if u < before][-limit:]
    else:
        uids = [u for u in uids if u > after][:limit]
    out = []
    for uid in uids:
        item: dict[str, Any] = {
            "guild_scheduled_event_id": str(ev.id),
            "user_id": str(uid),  # required by the spec, with `response`
            "response": 1,  # INTERESTED
            "user": sb.world.users[uid].payload(),
        }
        if ctx.query.get("with_member") in ("1", "true", "True") and uid in guild.members:
            item["member"] = guild.members[uid].payload(with_user=False)
        out.append(item)
    return 200, out


# -- threads ------------------------------------------------------------------------------
def _thread(sb: Sandbox, ctx: Ctx) -> tuple[Channel, ThreadState]:
    channel = _channel(sb, ctx)
    if channel.thread is None:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    return channel, channel.thread


def _check_thread_body(body: dict[str, Any]) -> int:
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    duration = body.get("auto_archive_duration") or 1440
    if duration not in AUTO_ARCHIVE_DURATIONS:
        raise form_error(
            "auto_archive_duration", "BASE_TYPE_CHOICES", "Must be 60, 1440, 4320 or 10080."
        )
    return int(duration)


@route("POST", "/channels/{channel_id}/messages/{message_id}/threads")
async def start_thread_from_message(sb: Sandbox, ctx: Ctx) -> Result:
    """channel.mdx, Start Thread from Message: a text channel makes a PUBLIC_THREAD, an
    announcement channel an ANNOUNCEMENT_THREAD; the thread's id is the message's id; one
    thread per message (160004). permissions.mdx: Create Public Threads."""
    channel = _channel(sb, ctx)
    if channel.type not in (TEXT, ANNOUNCEMENT):
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    _need(sb, channel, CREATE_PUBLIC_THREADS)
    sm = sb.world.find_message(channel.id, int(ctx.params["message_id"]))
    if sm.ephemeral:
        raise unknown("Message", 10008)
    body = ctx.body or {}
    duration = _check_thread_body(body)
    if sm.id in sb.world.channels:
        raise ApiError(400, 160004, "A thread has already been created for this message")
    ttype = ANNOUNCEMENT_THREAD if channel.type == ANNOUNCEMENT else PUBLIC_THREAD
    thread = sb.world.add_thread(
        channel,
        body["name"],
        owner=sb.world.bot,
        ttype=ttype,
        thread_id=sm.id,
        auto_archive_duration=duration,
    )
    sm.data["flags"] |= MESSAGE_FLAG_HAS_THREAD
    sm.data["thread"] = thread.payload()
    await sb.announce_thread_created(thread, [sb.world.bot.id])
    await sb._announce_update(sm)
    return 201, thread.payload(me=sb.world.bot.id)


@route("POST", "/channels/{channel_id}/threads")
async def start_thread_without_message(sb: Sandbox, ctx: Ctx) -> Result:
    """channel.mdx, Start Thread without Message: `type` defaults to PRIVATE_THREAD (API
    v9+); private threads only in text channels; `invitable` for private threads.
    permissions.mdx: Create Private Threads / Create Public Threads."""
    channel = _channel(sb, ctx)
    body = ctx.body or {}
    ttype = body.get("type") or PRIVATE_THREAD
    allowed = {TEXT: (PUBLIC_THREAD, PRIVATE_THREAD), ANNOUNCEMENT: (ANNOUNCEMENT_THREAD,)}
    if channel.type not in allowed:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    if ttype not in allowed[channel.type]:
        raise form_error("type", "BASE_TYPE_CHOICES", "Invalid thread type for this channel.")
    _need(sb, channel, CREATE_PRIVATE_THREADS if ttype == PRIVATE_THREAD else CREATE_PUBLIC_THREADS)
    duration = _check_thread_body(body)
    invitable = body.get("invitable")
    thread = sb.world.add_thread(
        channel,
        body["name"],
        owner=sb.world.bot,
        ttype=ttype,
        auto_archive_duration=duration,
        invitable=True if invitable is None else bool(invitable),
    )
    await sb.announce_thread_created(thread, [sb.world.bot.id])
    return 201, thread.payload(me=sb.world.bot.id)


@route("PATCH", "/channels/{channel_id}")
async def modify_channel(sb: Sandbox, ctx: Ctx) -> Result:
    """threads.mdx, Editing & Deleting Threads: unarchiving needs membership (and Manage
    Threads when locked); name / archived / auto_archive_duration need Manage Threads or the
    thread's creator; locked / rate_limit_per_user / invitable need Manage Threads. An
    archived thread takes no other change. Other channels: Manage Channels."""
    channel = _channel(sb, ctx)
    body = {k: v for k, v in (ctx.body or {}).items() if v is not None}
    if channel.thread is None:
        _need(sb, channel, MANAGE_CHANNELS)
        if "name" in body:
            channel.name = body["name"]
        if "topic" in body:
            channel.topic = body["topic"]
        await sb._dispatch("CHANNEL_UPDATE", channel.payload())
        return 200, channel.payload(sb.world.users)
    t = channel.thread
    perms = _need(sb, channel, 0)
    manage = bool(perms & MANAGE_THREADS)
    creator = t.owner_id == sb.world.bot.id
    if t.archived and body.get("archived") is not False:
        raise _archived()
    unarchive = body.get("archived") is False and t.archived
    if unarchive and ((t.locked and not manage) or not (manage or sb.world.bot.id in t.members)):
        raise _missing_permissions()
    if any(k in body for k in ("locked", "rate_limit_per_user", "invitable")) and not manage:
        raise _missing_permissions()
    owner_keys = ("name", "auto_archive_duration")
    if (any(k in body for k in owner_keys) or body.get("archived") is True) and not (
        manage or creator
    ):
        raise _missing_permissions()
    if "name" in body:
        if not 1 <= len(body["name"]) <= 100:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        channel.name = body["name"]
    if "auto_archive_duration" in body:
        if body["auto_archive_duration"] not in AUTO_ARCHIVE_DURATIONS:
            raise form_error("auto_archive_duration", "BASE_TYPE_CHOICES", "Invalid duration.")
        t.auto_archive_duration = int(body["auto_archive_duration"])
        t.last_activity = sb.clock()
    if "invitable" in body:
        if channel.type != PRIVATE_THREAD:
            raise form_error("invitable", "BASE_TYPE_BAD_REQUEST", "Only for private threads.")
        t.invitable = bool(body["invitable"])
    await sb.set_thread_state(channel, archived=body.get("archived"), locked=body.get("locked"))
    return 200, channel.payload(me=sb.world.bot.id)


@route("PUT", "/channels/{channel_id}/thread-members/@me")
async def join_thread(sb: Sandbox, ctx: Ctx) -> Result:
    """channel.mdx, Join Thread: not archived; fires THREAD_MEMBERS_UPDATE and THREAD_CREATE."""
    thread, t = _thread(sb, ctx)
    _need(sb, thread, 0)  # a private thread the bot cannot see is 50001
    if t.archived:
        raise _archived()
    await sb.add_to_thread(thread, sb.world.bot.id)
    return 204, None


@route("PUT", "/channels/{channel_id}/thread-members/{user_id}")
async def add_thread_member(sb: Sandbox, ctx: Ctx) -> Result:
    """channel.mdx, Add Thread Member: the ability to send in the thread, not archived;
    a private thread that is not `invitable` takes Manage Threads."""
    thread, t = _thread(sb, ctx)
    perms = _need(sb, thread, SEND_MESSAGES_IN_THREADS)
    if t.archived:
        raise _archived()
    if thread.type == PRIVATE_THREAD and not t.invitable and not perms & MANAGE_THREADS:
        raise _missing_permissions()
    g = sb.world.guilds[thread.guild_id]  # type: ignore[index]
    member = sb.world.member(g, ctx.params["user_id"])
    await sb.add_to_thread(thread, member.id)
    return 204, None


@route("DELETE", "/channels/{channel_id}/thread-members/@me")
async def leave_thread(sb: Sandbox, ctx: Ctx) -> Result:
    thread, t = _thread(sb, ctx)
    _need(sb, thread, 0)
    if t.archived:
        raise _archived()
    await sb.remove_from_thread(thread, sb.world.bot.id)
    return 204, None


@route("DELETE", "/channels/{channel_id}/thread-members/{user_id}")
async def remove_thread_member(sb: Sandbox, ctx: Ctx) -> Result:
    """channel.mdx, Remove Thread Member: Manage Threads, or the creator of a private
    thread; not archived."""
    thread, t = _thread(sb, ctx)
    perms = _need(sb, thread, 0)
    creator = thread.type == PRIVATE_THREAD and t.owner_id == sb.world.bot.id
    if not perms & MANAGE_THREADS and not creator:
        raise _missing_permissions()
    if t.archived:
        raise _archived()
    uid = int(ctx.params["user_id"])
    if uid not in t.members:
        raise unknown("Member", 10007)
    await sb.remove_from_thread(thread, uid)
    return 204, None


def _needs_members_intent(sb: Sandbox) -> None:
    # channel.mdx, List Thread Members: "requires the GUILD_MEMBERS Privileged Intent".
    session = sb.gateway.session
    if session is not None and not session.intents & (1 << 1):
        raise _missing_access()


@route("GET", "/channels/{channel_id}/thread-members")
async def list_thread_members(sb: Sandbox, ctx: Ctx) -> Result:
    thread, t = _thread(sb, ctx)
    _need(sb, thread, 0)
    _needs_members_intent(sb)
    return 200, [t.member_payload(thread.id, u) for u in sorted(t.members)]


@route("GET", "/channels/{channel_id}/thread-members/{user_id}")
async def get_thread_member(sb: Sandbox, ctx: Ctx) -> Result:
    thread, t = _thread(sb, ctx)
    _need(sb, thread, 0)
    uid = int(ctx.params["user_id"])
    if uid not in t.members:
        raise unknown("Member", 10007)
    return 200, t.member_payload(thread.id, uid)


@route("GET", "/guilds/{guild_id}/threads/active")
async def list_active_threads(sb: Sandbox, ctx: Ctx) -> Result:
    """guild.mdx, List Active Guild Threads: public and private, those the bot can see,
    by id descending, with the bot's own thread members."""
    guild = _guild(sb, ctx)
    me = sb.world.bot.id
    active = sorted(
        (
            (ch, ch.thread)
            for ch in guild.threads.values()
            if ch.thread is not None
            and not ch.thread.archived
            and sb.world.bot_permissions(ch) & VIEW_CHANNEL
        ),
        key=lambda pair: -pair[0].id,
    )
    members = [t.member_payload(ch.id, me) for ch, t in active if me in t.members]
    threads = [ch.payload(me=me) for ch, _ in active]
    return 200, {"threads": threads, "members": members, "has_more": False}
