"""The outbox's Sender for Discord, and the bridge from our payload dicts to discord.py.

Payloads are Discord message JSON made by bot/render/. Outbox posts go out as raw REST
requests through discord.py's HTTP client (so its rate-limit buckets, 429 and 5xx handling
apply) with the key's nonce and `enforce_nonce`. Replies to interactions go through discord.py's
response API, so `payload_kwargs` turns the same dicts into its objects.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.content.images import MAX_ATTACHMENT_BYTES
from bot.services.delivery import (
    AuthenticationError,
    HistoryUnreadable,
    PermanentSendError,
    TransientSendError,
    matches_variant,
)

log = logging.getLogger("amabot.sender")

# A history lookup reads at most this many pages of 100 messages.
HISTORY_PAGES = 100
READY_WAIT = 30.0  # seconds a lookup waits for the gateway's guild data
TRANSIENT_CODES = frozenset({40003, 30046, 20022})


def _describe(exc: discord.HTTPException) -> str:
    text = exc.text or exc.response.reason or ""
    return f"{exc.status} {text}".strip() + (f" (code {exc.code})" if exc.code else "")


@dataclass(frozen=True, slots=True)
class Upload:
    """A file put on the wire beside a message."""

    filename: str
    data: bytes
    content_type: str


def _read_repository_file(root: Path | None, rel: str) -> bytes | None:
    """The file at `rel` under the content root, or None (no root, outside it, missing,
    unreadable or over Discord's upload limit)."""
    if root is None:
        return None
    try:
        base = root.resolve()
        path = (base / rel).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
        if path.stat().st_size > MAX_ATTACHMENT_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def uploads_of(
    payload: dict[str, Any],
    content_root: Path | Sequence[Path] | None,
    *,
    cards: bool = True,
) -> tuple[dict[str, Any], list[Upload]]:
    """(the payload without ``files``, the files to upload). A ``text`` file is the text
    itself (the AMA record); a ``path`` file is read from the content checkout now, at send
    time (a recap's card). One that cannot be read is left out, and so is the embed image
    that referred to it, so the post still goes out, without its picture; so is every
    ``path`` file when `cards` is False (the bot may not attach files in that channel)."""
    body = dict(payload)
    uploads: list[Upload] = []
    # Several series may each have a checkout: a card is read from the first that has it.
    roots = (
        [content_root]
        if content_root is None or isinstance(content_root, Path)
        else list(content_root)
    )
    for f in body.pop("files", None) or []:
        name = str(f["filename"])
        if "text" in f:
            uploads.append(Upload(name, str(f["text"]).encode("utf-8"), "text/markdown"))
            continue
        data = None
        for root in roots if cards else ():
            data = _read_repository_file(root, str(f.get("path") or ""))
            if data is not None:
                break
        if data is not None:
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            uploads.append(Upload(name, data, kind))
            continue
        log.warning(
            "%s %s: sent without it",
            f.get("path"),
            "is not readable under the content root" if cards else "cannot be attached here",
        )
        ref = f"attachment://{name}"
        body["embeds"] = [
            {
                k: v
                for k, v in e.items()
                if not (k in ("image", "thumbnail") and (v or {}).get("url") == ref)
            }
            for e in body.get("embeds") or []
        ]
    return body, uploads


class DiscordSender:
    def __init__(
        self, client: discord.Client, *, content_root: Path | Sequence[Path] | None = None
    ):
        self._client = client
        # Where a payload's repository files (a recap's card) are read at send time.
        self._content_root = content_root
        self._channel_types: dict[int, int] = {}
        self._dm_channels: dict[int, int] = {}  # member id -> their DM channel with the bot

    async def open_dm(self, member_id: int) -> int:
        """The DM channel with a member (for ``dm:`` posts), opened once and remembered:
        Discord returns the same channel every time, so one request per member suffices."""
        channel_id = self._dm_channels.get(member_id)
        if channel_id is None:
            route = Route("POST", "/users/@me/channels")
            data = await self._request(route, {"recipient_id": str(int(member_id))})
            channel_id = int(data["id"])
            self._dm_channels[member_id] = channel_id
        return channel_id

    async def find_sent(
        self, channel_id: int, variants: list[dict[str, Any]], *, since: datetime
    ) -> list[tuple[int, datetime]]:
        """The bot's own messages in the channel (a DM channel too) since `since` that match
        a recorded variant, oldest first, with the time Discord took each.

        History holds no nonces, so the recorded variants are compared. Read forward from
        `since` with `after=` and paged, 100 at a time, to the newest message: bounded by
        time, however busy the channel. Any failure raises TransientSendError, and so does a
        channel whose history the bot may not read (Discord would answer an empty list,
        which must not be read as "not sent")."""
        me = self._client.user
        if me is None:
            raise TransientSendError("not logged in yet: cannot read the history")
        # The permissions below come from the gateway's guild data: wait for it, or a lookup
        # right after a start would take Discord's empty answer for "not sent".
        try:
            await asyncio.wait_for(self._client.wait_until_ready(), READY_WAIT)
        except TimeoutError:
            raise TransientSendError("the gateway is not ready: cannot read the history") from None
        if not self._history_readable(channel_id):
            raise HistoryUnreadable(
                f"the bot lacks Read Message History in <#{channel_id}>, so it cannot see "
                "whether this post already went out (grant it, then resend if needed)"
            )
        after = discord.utils.time_snowflake(since, high=False)
        found: list[tuple[int, datetime]] = []
        for _page in range(HISTORY_PAGES):
            route = Route("GET", "/channels/{channel_id}/messages", channel_id=channel_id)
            batch = await self._request(route, None, params={"limit": 100, "after": after})
            if not isinstance(batch, list):
                raise TransientSendError(f"unexpected history answer: {type(batch).__name__}")
            for message in batch:
                if int(message.get("author", {}).get("id", 0)) != me.id:
                    continue
                if matches_variant(message, variants):
                    mid = int(message["id"])
                    found.append((mid, discord.utils.snowflake_time(mid)))
            if len(batch) < 100:
                return sorted(found)
            after = max(int(m["id"]) for m in batch)
        raise TransientSendError(
            f"more than {HISTORY_PAGES * 100} messages since {since.isoformat()} in channel "
            f"{channel_id}: history lookup gave up"
        )

    def _history_readable(self, channel_id: int) -> bool:
        """False only when the cached guild channel says the bot lacks Read Message History
        (or View Channel); unknown channels and DMs are assumed readable."""
        channel = self._client.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        me = getattr(guild, "me", None)
        if channel is None or guild is None or me is None:
            return True
        if isinstance(channel, discord.abc.PrivateChannel):  # a DM has no guild: never true
            return True
        try:
            perms = channel.permissions_for(me)
        except Exception:  # a partial cache: let the request decide
            return True
        return bool(perms.read_message_history and perms.view_channel)

    def _can_attach(self, channel_id: int) -> bool:
        """False only when the cached guild channel says the bot lacks Attach Files: Discord
        would refuse the whole post (50013), so a card is better left out than the recap."""
        channel = self._client.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        me = getattr(guild, "me", None)
        if channel is None or guild is None or me is None:
            return True
        if isinstance(channel, discord.abc.PrivateChannel):
            return True
        try:
            perms = channel.permissions_for(me)
        except Exception:  # a partial cache: let the request decide
            return True
        return bool(perms.attach_files)

    async def send(self, channel_id: int, payload: dict[str, Any], *, nonce: str) -> int:
        body, files = uploads_of(payload, self._content_root, cards=self._can_attach(channel_id))
        body["nonce"] = nonce
        body["enforce_nonce"] = True
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        if files:
            # Files attached (the AMA's record when it cannot be pushed, a recap's card):
            # multipart, the JSON body beside it, as Discord's Create Message takes uploads.
            body["attachments"] = [{"id": i, "filename": f.filename} for i, f in enumerate(files)]
            form: list[dict[str, Any]] = [{"name": "payload_json", "value": json.dumps(body)}]
            uploads = [discord.File(io.BytesIO(f.data), filename=f.filename) for f in files]
            for i, (upload, f) in enumerate(zip(uploads, files, strict=True)):
                form.append(
                    {
                        "name": f"files[{i}]",
                        "value": upload.fp,
                        "filename": upload.filename,
                        "content_type": f.content_type,
                    }
                )
            data = await self._request(route, None, form=form, files=uploads)
        else:
            data = await self._request(route, body)
        return int(data["id"])

    async def edit(self, channel_id: int, message_id: int, payload: dict[str, Any]) -> None:
        route = Route(
            "PATCH",
            "/channels/{channel_id}/messages/{message_id}",
            channel_id=channel_id,
            message_id=message_id,
        )
        # An edit keeps the message's files (no `attachments` field): only the JSON changes.
        body = dict(payload)
        body.pop("files", None)
        await self._request(route, body)

    async def publish(self, channel_id: int, message_id: int) -> None:
        route = Route(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/crosspost",
            channel_id=channel_id,
            message_id=message_id,
        )
        await self._request(route, None)

    async def is_announcement_channel(self, channel_id: int) -> bool:
        if not channel_id or channel_id in self._dm_channels.values():
            return False  # a DM: nothing to publish
        channel = self._client.get_channel(channel_id)
        if channel is None:  # before the gateway's guild data arrives: ask once, remember
            if channel_id not in self._channel_types:
                try:
                    data = await self._client.http.get_channel(channel_id)
                except discord.HTTPException:
                    return False
                self._channel_types[channel_id] = int(data.get("type", 0))
            return self._channel_types[channel_id] == discord.ChannelType.news.value
        return isinstance(channel, discord.TextChannel) and channel.is_news()

    async def _request(
        self,
        route: Route,
        body: dict[str, Any] | None,
        *,
        params: dict[str, Any] | None = None,
        form: list[dict[str, Any]] | None = None,
        files: list[discord.File] | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        if params is not None:
            kwargs["params"] = params
        if form is not None:
            kwargs["form"] = form
            kwargs["files"] = files
        try:
            return await self._client.http.request(route, **kwargs)
        except discord.DiscordServerError as exc:
            # A 5xx does not prove the write failed: the next attempt looks first.
            raise TransientSendError(_describe(exc), maybe_sent=True, code=exc.code) from exc
        except discord.RateLimited as exc:
            raise TransientSendError("rate limited", exc.retry_after) from exc
        except discord.HTTPException as exc:
            if exc.status == 401:
                raise AuthenticationError(_describe(exc)) from exc
            if exc.code in TRANSIENT_CODES:
                # 40003 DMs opened too fast (a 403), 30046 old-message edits and 20022
                # publishing limits: "try again later", not a refusal.
                raise TransientSendError(_describe(exc), code=exc.code) from exc
            if exc.status == 429:
                raise TransientSendError(_describe(exc), code=exc.code) from exc
            if exc.status >= 500:
                raise TransientSendError(_describe(exc), maybe_sent=True, code=exc.code) from exc
            # Any other 4xx (403, 404, 400): the request itself is refused; sending it again
            # cannot help.
            raise PermanentSendError(_describe(exc), code=exc.code) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # The request may have reached Discord before the connection broke.
            raise TransientSendError(
                f"network: {type(exc).__name__}: {exc}", maybe_sent=True
            ) from exc


def allowed_mentions_from(payload: dict[str, Any]) -> discord.AllowedMentions:
    spec = payload.get("allowed_mentions") or {}
    roles = [discord.Object(int(r)) for r in spec.get("roles", [])]
    users = [discord.Object(int(u)) for u in spec.get("users", [])]
    return discord.AllowedMentions(
        everyone=False, users=users or False, roles=roles or False, replied_user=False
    )


def view_from(payload: dict[str, Any]) -> discord.ui.View | None:
    """Rebuild link buttons, custom-id buttons and string selects from component JSON, row
    by row."""
    rows = payload.get("components") or []
    if not rows:
        return None
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(rows):
        for comp in row.get("components", []):
            if comp.get("type") == 3:  # e.g. the AMA's merge picker, sent as a reply
                view.add_item(_string_select(comp, row_index))
                continue
            if comp.get("type") != 2:
                continue
            style = discord.ButtonStyle(comp.get("style", 2))
            emoji = comp.get("emoji")
            button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
                style=style,
                label=comp.get("label"),
                url=comp.get("url") if style is discord.ButtonStyle.link else None,
                custom_id=None if style is discord.ButtonStyle.link else comp.get("custom_id"),
                disabled=comp.get("disabled", False),
                emoji=emoji.get("name") if isinstance(emoji, dict) else emoji,
                row=row_index,
            )
            view.add_item(button)
    # Stopped: discord.py keeps every unfinished view it sends for the life of the process;
    # the button router (cogs/buttons.py) answers the clicks, so none needs keeping.
    view.stop()
    return view


def _string_select(comp: dict[str, Any], row: int) -> discord.ui.Select[discord.ui.View]:
    return discord.ui.Select(
        custom_id=comp["custom_id"],
        placeholder=comp.get("placeholder"),
        min_values=comp.get("min_values", 1),
        max_values=comp.get("max_values", 1),
        disabled=comp.get("disabled", False),
        options=[
            discord.SelectOption(
                label=o["label"],
                value=o["value"],
                description=o.get("description"),
                default=o.get("default", False),
            )
            for o in comp.get("options", [])
        ],
        row=row,
    )


def payload_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    """Our payload dict -> keyword arguments for `InteractionResponse.send_message` & co."""
    kwargs: dict[str, Any] = {"allowed_mentions": allowed_mentions_from(payload)}
    if payload.get("content"):
        kwargs["content"] = payload["content"]
    embeds = [discord.Embed.from_dict(e) for e in payload.get("embeds") or []]
    if embeds:
        kwargs["embeds"] = embeds
    view = view_from(payload)
    if view is not None:
        kwargs["view"] = view
    return kwargs
