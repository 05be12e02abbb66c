"""The sandbox's world: users, guilds, channels, roles, members, messages, events.

Payload builders here produce objects shaped the way Discord returns them (and the way
discord.py 2.7 parses them); the spec tests check the REST ones against openapi.json.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
SEND_TTS_MESSAGES = 1 << 12
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
CONNECT = 1 << 20
SPEAK = 1 << 21
MUTE_MEMBERS = 1 << 22
MOVE_MEMBERS = 1 << 24
MANAGE_ROLES = 1 << 28
USE_APPLICATION_COMMANDS = 1 << 31
REQUEST_TO_SPEAK = 1 << 32
MANAGE_EVENTS = 1 << 33
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
CREATE_EVENTS = 1 << 44
ALL_PERMISSIONS = (1 << 51) - 1

EVERYONE_DEFAULT = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | CONNECT
    | SPEAK
    | USE_APPLICATION_COMMANDS
    | REQUEST_TO_SPEAK
    # permissions.mdx: Discord's default @everyone also may start and talk in threads.
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_DEFAULT = EVERYONE_DEFAULT | MANAGE_EVENTS | CREATE_EVENTS | MANAGE_ROLES | MANAGE_MESSAGES

# Channel types
TEXT, DM, VOICE, CATEGORY, ANNOUNCEMENT, STAGE = 0, 1, 2, 4, 5, 13
ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD = 10, 11, 12
THREAD_TYPES = (ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD)
# channel.mdx, thread metadata: the auto-archive durations Discord accepts (minutes).
AUTO_ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
CHANNEL_TYPES = {
    "text": TEXT,
    "voice": VOICE,
    "announcement": ANNOUNCEMENT,
    "news": ANNOUNCEMENT,
    "stage": STAGE,
    "category": CATEGORY,
}

MESSAGE_FLAG_CROSSPOSTED = 1 << 0
MESSAGE_FLAG_HAS_THREAD = 1 << 5
MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7

# message.mdx, Create Message `enforce_nonce`: a repeated nonce is caught "in the past few
# minutes"; Discord gives no number, so the default is three minutes (Sandbox(nonce_window=)).
NONCE_WINDOW_SECONDS = 180.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


class Snowflakes:
    """Monotonic snowflakes whose timestamp part follows the sandbox clock."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        ms = int(self._clock().timestamp() * 1000) - DISCORD_EPOCH_MS
        self._last = max(self._last + 1, ms << 22)
        return self._last

    def __call__(self) -> str:
        return str(self.next())


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "avatar": None,
            "global_name": self.global_name,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    mentionable: bool = False
    hoist: bool = False
    color: int = 0
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class ThreadState:
    """What a thread has beyond a channel (threads.mdx, channel.mdx "Thread Metadata")."""

    parent_id: int
    owner_id: int
    created_at: datetime
    auto_archive_duration: int = 1440
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    archive_timestamp: datetime | None = None
    # user id -> when they joined (thread members; threads.mdx "Thread Membership")
    members: dict[int, datetime] = field(default_factory=dict)
    message_count: int = 0
    total_message_sent: int = 0
    # threads.mdx: "Activity" is a message, an unarchive or a new auto_archive_duration;
    # the thread archives itself after auto_archive_duration minutes without any.
    last_activity: datetime | None = None

    def inactive_for(self, now: datetime) -> float:
        return (now - (self.last_activity or self.created_at)).total_seconds()

    def member_payload(self, thread_id: int, user_id: int) -> dict[str, Any]:
        return {
            "id": str(thread_id),
            "user_id": str(user_id),
            "join_timestamp": iso(self.members[user_id]),
            "flags": 0,
        }

    def payload(self, channel: Channel, me: int | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id),
            "flags": 0,
            "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
            "rate_limit_per_user": 0,
            "message_count": self.message_count,
            "total_message_sent": self.total_message_sent,
            # channel.mdx: "stops counting at 50"
            "member_count": min(len(self.members), 50),
            "thread_metadata": {
                "archived": self.archived,
                "archive_timestamp": iso(self.archive_timestamp or self.created_at),
                "auto_archive_duration": self.auto_archive_duration,
                "locked": self.locked,
                "create_timestamp": iso(self.created_at),
            },
        }
        if channel.type == PRIVATE_THREAD:
            data["thread_metadata"]["invitable"] = self.invitable
        if me is not None and me in self.members:
            data["member"] = self.member_payload(channel.id, me)
        return data


@dataclass
class Channel:
    id: int
    type: int
    name: str
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    recipients: list[int] = field(default_factory=list)  # DM channels
    last_message_id: int | None = None
    thread: ThreadState | None = None  # threads only (types 10, 11, 12)

    @property
    def is_thread(self) -> bool:
        return self.thread is not None

    def payload(
        self, users: dict[int, User] | None = None, *, me: int | None = None
    ) -> dict[str, Any]:
        """The channel object; for a thread, `me` adds that user's thread member (as
        Discord does for the current user on Get Channel and THREAD_CREATE)."""
        if self.thread is not None:
            return self.thread.payload(self, me)
        if self.type == DM:
            return {
                "id": str(self.id),
                "type": DM,
                "flags": 0,
                "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                "recipients": [users[u].payload() for u in self.recipients if users and u in users],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "flags": 0,
            "parent_id": None,
            "permission_overwrites": [o.payload() for o in self.overwrites],
            "last_message_id": str(self.last_message_id) if self.last_message_id else None,
        }
        if self.type in (TEXT, ANNOUNCEMENT):
            data.update(topic=self.topic, nsfw=False, rate_limit_per_user=0)
        if self.type in (VOICE, STAGE):
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        return data


@dataclass
class Member:
    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: datetime = field(default_factory=utcnow)

    @property
    def id(self) -> int:
        return self.user.id

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "communication_disabled_until": None,
            "flags": 0,
            "pending": False,
            "mute": False,
            "deaf": False,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class ScheduledEvent:
    data: dict[str, Any]
    interested: set[int] = field(default_factory=set)

    @property
    def id(self) -> int:
        return int(self.data["id"])


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    scheduled_events: dict[int, ScheduledEvent] = field(default_factory=dict)
    threads: dict[int, Channel] = field(default_factory=dict)  # not in `channels`, as Discord
    voice_states: dict[int, int] = field(default_factory=dict)  # user id -> channel id

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def voice_state(self, user_id: int) -> dict[str, Any]:
        """A VOICE_STATE_UPDATE `d` (channel_id None once the member has left)."""
        data: dict[str, Any] = {
            "guild_id": str(self.id),
            "channel_id": str(self.voice_states[user_id]) if user_id in self.voice_states else None,
            "user_id": str(user_id),
            "session_id": f"voice-{user_id}",
            "deaf": False,
            "mute": False,
            "self_deaf": False,
            "self_mute": False,
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
        if user_id in self.members:
            data["member"] = self.members[user_id].payload()
        return data

    def base_permissions(self, member: Member) -> int:
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.everyone.permissions
        for rid in member.roles:
            if rid in self.roles:
                perms |= self.roles[rid].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_in(self, member: Member, channel: Channel) -> int:
        """Discord's documented overwrite algorithm: @everyone, then roles, then member.

        A thread has no overwrites of its own: its permissions are the parent's
        (permissions.mdx, "Inherited Permissions (Threads)"); a private thread is seen only
        by its members and by those with Manage Threads on the parent (threads.mdx)."""
        if channel.thread is not None:
            parent = self.channels[channel.thread.parent_id]
            perms = self._overwritten(member, parent)
            if not perms & VIEW_CHANNEL:
                return 0
            if (
                channel.type == PRIVATE_THREAD
                and member.id not in channel.thread.members
                and not perms & MANAGE_THREADS
            ):
                return 0
            # In a thread, sending is Send Messages in Threads (not Send Messages).
            if not perms & SEND_MESSAGES_IN_THREADS:
                perms &= ~(MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES | SEND_TTS_MESSAGES)
            return perms
        perms = self._overwritten(member, channel)
        # permissions.md, implicit permissions: without View Channel nothing else applies; a
        # text channel without Send Messages also denies what only sending uses.
        if not perms & VIEW_CHANNEL:
            return 0
        if channel.type in (TEXT, ANNOUNCEMENT) and not perms & SEND_MESSAGES:
            perms &= ~(MENTION_EVERYONE | EMBED_LINKS | ATTACH_FILES | SEND_TTS_MESSAGES)
        return perms

    def _overwritten(self, member: Member, channel: Channel) -> int:
        perms = self.base_permissions(member)
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        by_id = {o.id: o for o in channel.overwrites}
        if (ow := by_id.get(self.id)) is not None:
            perms = (perms & ~ow.deny) | ow.allow
        allow = deny = 0
        for rid in member.roles:
            if (ow := by_id.get(rid)) is not None and ow.type == 0:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        if (ow := by_id.get(member.id)) is not None and ow.type == 1:
            perms = (perms & ~ow.deny) | ow.allow
        return perms

    def voice_members(self, channel_id: int) -> list[int]:
        return [u for u, c in self.voice_states.items() if c == channel_id]

    def top_role_position(self, member: Member) -> int:
        return max((self.roles[r].position for r in member.roles if r in self.roles), default=0)

    def create_payload(self, bot_member: Member | None) -> dict[str, Any]:
        """GUILD_CREATE `d` (discord.py needs @everyone id == guild id, channel positions)."""
        members = list(self.members.values())
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": [c.payload() for c in self.channels.values()],
            "threads": [
                t.payload(me=bot_member.id)
                for t in self.threads.values()
                if bot_member is not None
                and t.thread is not None
                and not t.thread.archived
                and self.permissions_in(bot_member, t) & VIEW_CHANNEL
            ],
            "members": [m.payload() for m in members],
            "member_count": len(members),
            "voice_states": [self.voice_state(u) for u in self.voice_states],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [e.data for e in self.scheduled_events.values()],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "joined_at": iso(bot_member.joined_at) if bot_member else iso(utcnow()),
            "application_id": None,
            "max_members": 500000,
        }


@dataclass
class Pings:
    """Who a message would notify, computed like Discord from content + allowed_mentions."""

    users: list[int]
    roles: list[int]
    everyone: bool

    @property
    def nobody(self) -> bool:
        return not self.users and not self.roles and not self.everyone


_USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
_ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
_EVERYONE = re.compile(r"@(everyone|here)\b")


def compute_pings(
    content: str,
    allowed: dict[str, Any] | None,
    *,
    guild: Guild | None,
    author_perms: int,
    replied_user: int | None = None,
) -> Pings:
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    allowed_users = {int(u) for u in (allowed or {}).get("users") or []}
    allowed_roles = {int(r) for r in (allowed or {}).get("roles") or []}
    users: list[int] = []
    for m in _USER_MENTION.finditer(content or ""):
        uid = int(m.group(1))
        if ("users" in parse or uid in allowed_users) and uid not in users:
            users.append(uid)
    replies_ping = allowed is None or allowed.get("replied_user")
    if replied_user is not None and replies_ping and replied_user not in users:
        users.append(replied_user)
    roles: list[int] = []
    for m in _ROLE_MENTION.finditer(content or ""):
        rid = int(m.group(1))
        role = guild.roles.get(rid) if guild else None
        if role is None or rid in roles:
            continue
        if "roles" not in parse and rid not in allowed_roles:
            continue
        # A non-mentionable role only pings when the author may mention everyone.
        if role.mentionable or author_perms & MENTION_EVERYONE:
            roles.append(rid)
    everyone = bool(
        guild is not None
        and "everyone" in parse
        and _EVERYONE.search(content or "")
        and author_perms & MENTION_EVERYONE
    )
    return Pings(users=users, roles=roles, everyone=everyone)


@dataclass
class StoredMessage:
    """A message plus the sandbox-only facts Discord keeps but does not show."""

    data: dict[str, Any]
    author_id: int
    nonce: str | int | None = None
    created_monotonic: float = field(default_factory=time.monotonic)
    created_at: datetime = field(default_factory=utcnow)
    ephemeral: bool = False
    deleted: bool = False
    pings: Pings = field(default_factory=lambda: Pings([], [], False))
    attachments_received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.data["id"])


def embed_response(embed: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in embed.items() if v is not None}
    out.setdefault("type", "rich")
    if "fields" in out:
        out["fields"] = [
            {
                "name": f.get("name", ""),
                "value": f.get("value", ""),
                "inline": bool(f.get("inline")),
            }
            for f in out["fields"]
        ]
    return out


def resolve_attachment_images(
    embed: dict[str, Any], attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    """As Discord does: an embed image or thumbnail ``attachment://<filename>`` naming a file
    of the message comes back as that file's CDN URL (and its media proxy URL); the file
    stays in the message's ``attachments``."""
    by_name = {a["filename"]: a for a in attachments}
    for key in ("image", "thumbnail"):
        media = embed.get(key)
        url = media.get("url") if isinstance(media, dict) else None
        if isinstance(url, str) and url.startswith("attachment://"):
            found = by_name.get(url.removeprefix("attachment://"))
            if found is not None:
                embed[key] = {**media, "url": found["url"], "proxy_url": found["proxy_url"]}
    return embed


def components_response(components: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Discord numbers every component in a message (`id`) when it stores it."""
    counter = itertools.count(1)

    def walk(c: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in c.items() if v is not None}
        out.setdefault("id", next(counter))
        if "components" in out:
            out["components"] = [walk(x) for x in out["components"]]
        if out.get("type") == 2:
            out.setdefault("disabled", False)
        if isinstance(out.get("emoji"), dict):
            # A unicode emoji has no id: Discord leaves the key out rather than sending null.
            out["emoji"] = {k: v for k, v in out["emoji"].items() if v is not None}
        return out

    return [walk(c) for c in components or []]


def new_token() -> str:
    return "sandbox." + secrets.token_urlsafe(24)


class SandboxError(Exception):
    """A misuse of the sandbox API by a test (unknown id, bot never connected, ...)."""


class MemberCannotSee(SandboxError):
    """A member acted in a channel or thread they cannot view: Discord would never show
    them the message, command or modal (a private thread they are not in, no View Channel)."""


class SandboxTimeout(SandboxError, TimeoutError):
    """A wait on the bot ran out of time; the message says what was awaited."""


class ApiError(Exception):
    """A Discord JSON error answer: status + code + message (+ optional form errors)."""

    def __init__(self, status: int, code: int, message: str, errors: dict | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            out["errors"] = self.errors
        return out


def unknown(what: str, code: int) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")


def form_error(field_path: str, code: str, message: str) -> ApiError:
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        node = {part: node}
    return ApiError(400, 50035, "Invalid Form Body", node)


class World:
    """Everything Discord would know: ids, guilds, channels, messages, commands."""

    def __init__(self, clock: Callable[[], datetime], bot_name: str = "amabot") -> None:
        self.clock = clock
        self.snowflake = Snowflakes(clock)
        self.bot = User(self.snowflake.next(), bot_name, bot=True)
        self.owner = User(self.snowflake.next(), "sandbox-owner")
        self.users: dict[int, User] = {self.bot.id: self.bot, self.owner.id: self.owner}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, list[StoredMessage]] = {}
        self.message_index: dict[int, StoredMessage] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.dm_channels: dict[int, Channel] = {}  # recipient id -> DM channel

    @property
    def application_id(self) -> int:
        return self.bot.id

    # -- building ------------------------------------------------------------------
    def add_guild(
        self,
        name: str,
        *,
        bot_permissions: int = BOT_DEFAULT,
        everyone_permissions: int = EVERYONE_DEFAULT,
    ) -> Guild:
        gid = self.snowflake.next()
        guild = Guild(gid, name, owner_id=self.owner.id)
        guild.roles[gid] = Role(gid, gid, "@everyone", everyone_permissions)
        bot_role = Role(
            self.snowflake.next(), gid, self.bot.username, bot_permissions, position=1, managed=True
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.owner.id] = Member(self.owner, gid)
        guild.members[self.bot.id] = Member(self.bot, gid, roles=[bot_role.id])
        self.guilds[gid] = guild
        return guild

    def guild(self, ref: Any) -> Guild:
        gid = _id(ref)
        if gid not in self.guilds:
            raise SandboxError(f"no guild {gid}")
        return self.guilds[gid]

    def add_channel(
        self, guild: Any, name: str, type: int | str = TEXT, *, topic: str | None = None
    ) -> Channel:
        g = self.guild(guild)
        ctype = CHANNEL_TYPES[type] if isinstance(type, str) else int(type)
        ch = Channel(
            self.snowflake.next(), ctype, name, guild_id=g.id, position=len(g.channels), topic=topic
        )
        g.channels[ch.id] = ch
        self.channels[ch.id] = ch
        self.messages[ch.id] = []
        return ch

    def add_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: User,
        ttype: int,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
        invitable: bool = True,
    ) -> Channel:
        """A thread in `parent`, its creator its first member (threads.mdx)."""
        g = self.guilds[parent.guild_id]  # type: ignore[index]
        now = self.clock()
        tid = thread_id if thread_id is not None else self.snowflake.next()
        ch = Channel(tid, ttype, name, guild_id=g.id)
        ch.thread = ThreadState(
            parent_id=parent.id,
            owner_id=owner.id,
            created_at=now,
            auto_archive_duration=auto_archive_duration,
            invitable=invitable,
            members={owner.id: now},
        )
        g.threads[tid] = ch
        self.channels[tid] = ch
        self.messages[tid] = []
        return ch

    def add_role(
        self,
        guild: Any,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
        color: int = 0,
    ) -> Role:
        g = self.guild(guild)
        position = max(r.position for r in g.roles.values()) + 1
        # Keep the bot's managed role on top, as a server admin would for a working bot.
        role = Role(
            self.snowflake.next(),
            g.id,
            name,
            permissions,
            position=position - 1,
            mentionable=mentionable,
            color=color,
        )
        for r in g.roles.values():
            if r.managed:
                r.position = position
        g.roles[role.id] = role
        return role

    def add_member(
        self, guild: Any, name: str, roles: list[Any] | None = None, *, nick: str | None = None
    ) -> Member:
        g = self.guild(guild)
        user = User(self.snowflake.next(), name)
        self.users[user.id] = user
        member = Member(user, g.id, roles=[_id(r) for r in roles or []], nick=nick)
        for rid in member.roles:
            if rid not in g.roles:
                raise SandboxError(f"role {rid} is not in guild {g.name}")
        g.members[user.id] = member
        return member

    def add_user(self, name: str) -> User:
        user = User(self.snowflake.next(), name)
        self.users[user.id] = user
        return user

    def channel(self, ref: Any) -> Channel:
        cid = _id(ref)
        if cid not in self.channels:
            raise unknown("Channel", 10003)
        return self.channels[cid]

    def member(self, guild: Guild, ref: Any) -> Member:
        uid = _id(ref)
        if uid not in guild.members:
            raise unknown("Member", 10007)
        return guild.members[uid]

    def dm_channel(self, user_id: int) -> Channel:
        if user_id not in self.users:
            raise unknown("User", 10013)
        ch = self.dm_channels.get(user_id)
        if ch is None:
            ch = Channel(self.snowflake.next(), DM, "", recipients=[user_id])
            self.dm_channels[user_id] = ch
            self.channels[ch.id] = ch
            self.messages[ch.id] = []
        return ch

    def bot_permissions(self, channel: Channel) -> int:
        if channel.guild_id is None:
            return VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
        g = self.guilds[channel.guild_id]
        return g.permissions_in(g.members[self.bot.id], channel)

    def bot_guild_permissions(self, guild: Guild) -> int:
        return guild.base_permissions(guild.members[self.bot.id])

    # -- messages ------------------------------------------------------------------
    def find_message(self, channel_id: int, message_id: int) -> StoredMessage:
        sm = self.message_index.get(message_id)
        if sm is None or sm.deleted or int(sm.data["channel_id"]) != channel_id:
            raise unknown("Message", 10008)
        return sm

    def recent_nonce(
        self,
        channel_id: int,
        author_id: int,
        nonce: Any,
        window: float = NONCE_WINDOW_SECONDS,
    ) -> StoredMessage | None:
        """The message this author sent with this nonce within `window` seconds, if any.

        Measured on the sandbox clock (message.mdx: "the past few minutes"): a test that moves
        a ManualClock past the window models a bot that was down that long.
        """
        now = self.clock()
        for sm in reversed(self.messages.get(channel_id, [])):
            if sm.nonce is None or sm.author_id != author_id or sm.deleted:
                continue
            if sm.nonce == nonce and (now - sm.created_at).total_seconds() <= window:
                return sm
        return None

    def seed_messages(
        self,
        channel: Channel,
        count: int,
        author: User,
        *,
        every: float = 30.0,
        content: str = "message {n} from {author}",
        last_ago: float = 1.0,
    ) -> list[StoredMessage]:
        """`count` messages by `author`, one every `every` seconds, the last `last_ago`
        seconds before now; snowflakes and timestamps increase with them, as Discord's do."""
        now = self.clock()
        taken = {sm.id for sm in self.messages.get(channel.id, [])}
        out: list[StoredMessage] = []
        for i in range(count):
            when = now - timedelta(seconds=last_ago + every * (count - 1 - i))
            ms = int(when.timestamp() * 1000) - DISCORD_EPOCH_MS
            mid = ms << 22
            while mid in taken or mid in self.message_index:
                mid += 1
            taken.add(mid)
            text = content.format(n=i + 1, author=author.username)
            sm = self.build_message(channel, {"content": text}, author=author)
            sm.data["id"] = str(mid)
            sm.data["timestamp"] = iso(when)
            sm.created_at = when
            out.append(sm)
        msgs = self.messages.setdefault(channel.id, [])
        msgs.extend(out)
        msgs.sort(key=lambda m: m.id)
        for sm in out:
            self.message_index[sm.id] = sm
        visible = [m for m in msgs if not m.ephemeral]
        if visible:
            channel.last_message_id = visible[-1].id
        return out

    def history(
        self,
        channel_id: int,
        *,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        around: int | None = None,
    ) -> list[dict[str, Any]]:
        """message.mdx, Get Channel Messages: newest first; `after` gives the `limit`
        messages right after it (still newest first); `around` centres on the id."""
        msgs = sorted(
            (sm for sm in self.messages.get(channel_id, []) if not sm.deleted and not sm.ephemeral),
            key=lambda sm: sm.id,
        )
        if before is not None:
            page = [m for m in msgs if m.id < before][-limit:]
        elif after is not None:
            page = [m for m in msgs if m.id > after][:limit]
        elif around is not None:
            newer = [m for m in msgs if m.id > around][: limit // 2]
            older = [m for m in msgs if m.id <= around][-(limit - len(newer)) :]
            page = older + newer
        else:
            page = msgs[-limit:]
        return [sm.data for sm in reversed(page)]

    def build_message(
        self,
        channel: Channel,
        body: dict[str, Any],
        *,
        files: list[dict[str, Any]] | None = None,
        author: User | None = None,
        mtype: int = 0,
        webhook_id: int | None = None,
        extra: dict[str, Any] | None = None,
        flags: int = 0,
    ) -> StoredMessage:
        author = author or self.bot
        content = body.get("content") or ""
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        perms = self.bot_permissions(channel) if author.id == self.bot.id else 0
        ref = body.get("message_reference") or None
        replied = None
        if ref and ref.get("message_id"):
            target = self.message_index.get(int(ref["message_id"]))
            replied = target.author_id if target else None
        pings = compute_pings(
            content,
            body.get("allowed_mentions"),
            guild=guild,
            author_perms=perms,
            replied_user=replied,
        )
        mid = self.snowflake.next()
        now = self.clock()
        attachments = self._attachments(mid, channel.id, body.get("attachments"), files or [])
        data: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "type": mtype,
            "content": content,
            "author": author.payload(),
            "timestamp": iso(now),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": pings.everyone,
            "mentions": [self.users[u].payload() for u in pings.users if u in self.users],
            "mention_roles": [str(r) for r in pings.roles],
            "attachments": attachments,
            "embeds": [
                resolve_attachment_images(embed_response(e), attachments)
                for e in body.get("embeds") or []
            ],
            "components": components_response(body.get("components")),
            "pinned": False,
            "flags": int(body.get("flags") or 0) | flags,
        }
        if body.get("nonce") is not None:
            data["nonce"] = body["nonce"]
        if webhook_id is not None:
            data["webhook_id"] = str(webhook_id)
            data["application_id"] = str(self.application_id)
        if ref and ref.get("message_id"):
            data["message_reference"] = {
                "type": 0,
                "message_id": str(ref["message_id"]),
                "channel_id": str(channel.id),
            }
            if guild:
                data["message_reference"]["guild_id"] = str(guild.id)
        if extra:
            data.update(extra)
        sm = StoredMessage(
            data=data,
            author_id=author.id,
            nonce=body.get("nonce"),
            created_at=now,
            pings=pings,
            ephemeral=bool(data["flags"] & MESSAGE_FLAG_EPHEMERAL),
            attachments_received=[
                {
                    "filename": f["filename"],
                    "size": len(f["data"]),
                    "content_type": f.get("content_type"),
                }
                for f in files or []
            ],
        )
        return sm

    def store_message(self, sm: StoredMessage) -> None:
        cid = int(sm.data["channel_id"])
        self.messages.setdefault(cid, []).append(sm)
        self.message_index[sm.id] = sm
        if not sm.ephemeral and cid in self.channels:
            self.channels[cid].last_message_id = sm.id
            thread = self.channels[cid].thread
            if thread is not None:
                thread.message_count += 1
                thread.total_message_sent += 1
                thread.last_activity = self.clock()

    def edit_message(
        self, sm: StoredMessage, body: dict[str, Any], files: list[dict[str, Any]] | None = None
    ) -> None:
        data = sm.data
        channel = self.channels.get(int(data["channel_id"]))
        if "content" in body:
            data["content"] = body["content"] or ""
        if body.get("flags") is not None:
            keep = data["flags"] & (MESSAGE_FLAG_EPHEMERAL | MESSAGE_FLAG_CROSSPOSTED)
            data["flags"] = keep | int(body["flags"])
        data["flags"] &= ~MESSAGE_FLAG_LOADING
        if "attachments" in body or files:
            data["attachments"] = self._attachments(
                sm.id, int(data["channel_id"]), body.get("attachments"), files or []
            )
        if "embeds" in body:  # after the files: an edit's embed may name a kept attachment
            data["embeds"] = [
                resolve_attachment_images(embed_response(e), data.get("attachments") or [])
                for e in body["embeds"] or []
            ]
        if "components" in body:
            data["components"] = components_response(body["components"])
        if channel is not None and ("content" in body or "allowed_mentions" in body):
            guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
            perms = self.bot_permissions(channel) if sm.author_id == self.bot.id else 0
            sm.pings = compute_pings(
                data["content"], body.get("allowed_mentions"), guild=guild, author_perms=perms
            )
            data["mentions"] = [self.users[u].payload() for u in sm.pings.users if u in self.users]
            data["mention_roles"] = [str(r) for r in sm.pings.roles]
            data["mention_everyone"] = sm.pings.everyone
        data["edited_timestamp"] = iso(self.clock())

    def _attachments(
        self, mid: int, cid: int, declared: list[dict[str, Any]] | None, files: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        out = []
        for i, f in enumerate(files):
            aid = self.snowflake.next()
            desc = None
            for a in declared or []:
                if str(a.get("id")) == str(i):
                    desc = a.get("description")
            url = f"https://cdn.discordapp.com/attachments/{cid}/{aid}/{f['filename']}"
            item = {
                "id": str(aid),
                "filename": f["filename"],
                "size": len(f["data"]),
                "url": url,
                "proxy_url": url.replace("cdn.", "media."),
                "content_type": f.get("content_type") or "application/octet-stream",
            }
            if desc:
                item["description"] = desc
            out.append(item)
        # Attachments kept from before (edits list existing attachment ids).
        for a in declared or []:
            prev = self.message_index.get(mid)
            if prev:
                for old in prev.data.get("attachments", []):
                    if old["id"] == str(a.get("id")):
                        out.append(old)
        return out

    def visible_messages(self, channel_id: int, *, ephemeral: bool = False) -> list[dict]:
        return [
            sm.data
            for sm in self.messages.get(channel_id, [])
            if not sm.deleted and (ephemeral or not sm.ephemeral)
        ]

    # -- commands ------------------------------------------------------------------
    def sync_commands(self, guild_id: int | None, body: list[dict[str, Any]]) -> list[dict]:
        existing = self.guild_commands.get(guild_id, []) if guild_id else self.global_commands
        by_name = {(c["name"], c.get("type", 1)): c for c in existing}
        out = []
        for cmd in body:
            old = by_name.get((cmd["name"], cmd.get("type", 1)))
            stored = {k: v for k, v in cmd.items() if v is not None}
            stored.update(
                id=old["id"] if old else str(self.snowflake.next()),
                application_id=str(self.application_id),
                version=str(self.snowflake.next()),
                type=cmd.get("type", 1),
                description=cmd.get("description", ""),
                # Discord answers with the permission bits as a string, whatever was sent.
                default_member_permissions=None
                if cmd.get("default_member_permissions") is None
                else str(cmd["default_member_permissions"]),
                contexts=cmd.get("contexts") if cmd.get("contexts") is not None else [0, 1, 2],
                integration_types=cmd.get("integration_types") or [0],
                dm_permission=cmd.get("dm_permission", True),
                nsfw=bool(cmd.get("nsfw", False)),
            )
            if guild_id:
                stored["guild_id"] = str(guild_id)
            out.append(stored)
        if guild_id:
            self.guild_commands[guild_id] = out
        else:
            self.global_commands = out
        return out

    def find_command(self, guild_id: int | None, name: str) -> dict[str, Any] | None:
        for cmd in self.guild_commands.get(guild_id, []) if guild_id else []:
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                return cmd
        for cmd in self.global_commands:
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                return cmd
        return None


def _id(ref: Any) -> int:
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str):
        return int(ref)
    if isinstance(ref, dict):
        return int(ref["id"])
    return int(ref.id)
