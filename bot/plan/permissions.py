"""What the bot needs from a Discord server, in one table: the invite, the README and
`amabot doctor` all read it.

Pure: permission bits, the requirement table (which feature needs which permission, where and
why), the permission integer for an invite, and Discord's documented overwrite algorithm
(https://discord.com/developers/docs/topics/permissions#permission-overwrites) over plain
data, so the checks run the same on REST answers (`amabot doctor`) and on gateway caches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from bot.config import Settings

ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
CONNECT = 1 << 20
MUTE_MEMBERS = 1 << 22
MOVE_MEMBERS = 1 << 24
MANAGE_ROLES = 1 << 28
MANAGE_EVENTS = 1 << 33
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
CREATE_EVENTS = 1 << 44
ALL = (1 << 53) - 1

NAMES: dict[int, str] = {
    ADMINISTRATOR: "Administrator",
    MANAGE_CHANNELS: "Manage Channels",
    VIEW_CHANNEL: "View Channel",
    SEND_MESSAGES: "Send Messages",
    MANAGE_MESSAGES: "Manage Messages",
    EMBED_LINKS: "Embed Links",
    ATTACH_FILES: "Attach Files",
    READ_MESSAGE_HISTORY: "Read Message History",
    MENTION_EVERYONE: "Mention @everyone, @here and All Roles",
    CONNECT: "Connect",
    MUTE_MEMBERS: "Mute Members",
    MOVE_MEMBERS: "Move Members",
    MANAGE_ROLES: "Manage Roles",
    MANAGE_EVENTS: "Manage Events",
    CREATE_PUBLIC_THREADS: "Create Public Threads",
    CREATE_PRIVATE_THREADS: "Create Private Threads",
    SEND_MESSAGES_IN_THREADS: "Send Messages in Threads",
    CREATE_EVENTS: "Create Events",
}

SCOPES = ("bot", "applications.commands")
AUTHORIZE_URL = "https://discord.com/oauth2/authorize"

# Channel types (https://discord.com/developers/docs/resources/channel#channel-object-channel-types)
TEXT, VOICE, NEWS, STAGE = 0, 2, 5, 13
TYPE_NAMES = {TEXT: "text", VOICE: "voice", NEWS: "announcement", STAGE: "stage", 4: "category"}

# Posting in a channel; Read Message History because without it Discord returns no messages
# (not an error), so the crash-recovery lookup would find nothing and post twice.
POST_BITS = (VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, READ_MESSAGE_HISTORY)
# Recap announcements also attach their card from the repository (without `[site]
# images_url`); without Attach Files they go out without it.
ANNOUNCE_BITS = (*POST_BITS, ATTACH_FILES)
STAGE_BITS = (VIEW_CHANNEL, MANAGE_CHANNELS, MUTE_MEMBERS, MOVE_MEMBERS)
VOICE_BITS = (VIEW_CHANNEL, CONNECT)
# The AMA: its questions thread is started on the prompt; the host board is a private thread
# in the review channel; questions, cards and the board are posted and edited in them.
AMA_QUESTIONS_BITS = (*POST_BITS, CREATE_PUBLIC_THREADS, SEND_MESSAGES_IN_THREADS)
AMA_REVIEW_BITS = (*POST_BITS, CREATE_PRIVATE_THREADS, SEND_MESSAGES_IN_THREADS)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One line of the table: `feature` needs `permission` `where`, because `why`."""

    feature: str
    permission: int
    where: str  # "server" or "channel: <which>"
    why: str


REQUIREMENTS: tuple[Requirement, ...] = (
    *(
        Requirement(
            "posts",
            bit,
            "channel: announcements, reminders, organisers' alerts",
            why,
        )
        for bit, why in (
            (VIEW_CHANNEL, "to see the channel at all"),
            (SEND_MESSAGES, "to post (and to publish its own posts in an announcement channel)"),
            (EMBED_LINKS, "recaps and reminders are embeds"),
            (
                READ_MESSAGE_HISTORY,
                "after a crash it looks for what it already posted; without it Discord "
                "returns nothing and a post could go out twice",
            ),
        )
    ),
    Requirement(
        "posts",
        ATTACH_FILES,
        "channel: announcements",
        "a recap's card is attached from the repository (unless [site] images_url is set); "
        "without it the announcement goes out without its picture",
    ),
    Requirement(
        "opt-in roles",
        MANAGE_ROLES,
        "server (the bot's role above the opt-in roles)",
        "to give members the role they choose with /notify",
    ),
    Requirement("events", MANAGE_EVENTS, "server", "to create and update Discord events"),
    *(
        Requirement("events (stage AMA)", bit, "channel: events.ama_stage_channel_id", why)
        for bit, why in (
            (VIEW_CHANNEL, "to see the stage"),
            (MANAGE_CHANNELS, "Discord requires it for stage events"),
            (MUTE_MEMBERS, "Discord requires it for stage events"),
            (MOVE_MEMBERS, "Discord requires it for stage events"),
        )
    ),
    *(
        Requirement("AMA", bit, "channel: ama.channel_id", why)
        for bit, why in (
            (VIEW_CHANNEL, "to see the channel"),
            (SEND_MESSAGES, "to post the prompt that opens the questions thread"),
            (EMBED_LINKS, "questions and the prompt are embeds"),
            (READ_MESSAGE_HISTORY, "after a crash it looks for what it already posted"),
            (CREATE_PUBLIC_THREADS, "each AMA's questions thread is started on its prompt"),
            (SEND_MESSAGES_IN_THREADS, "approved questions are posted in the thread"),
        )
    ),
    *(
        Requirement("AMA (review)", bit, "channel: ama.review_channel_id", why)
        for bit, why in (
            (VIEW_CHANNEL, "to see the channel"),
            (SEND_MESSAGES, "to post the organisers' review cards"),
            (EMBED_LINKS, "review cards and the board are embeds"),
            (READ_MESSAGE_HISTORY, "after a crash it looks for what it already posted"),
            (CREATE_PRIVATE_THREADS, "the host board is a private thread of this channel"),
            (SEND_MESSAGES_IN_THREADS, "the host board is posted and edited in that thread"),
        )
    ),
    *(
        Requirement("events (voice AMA)", bit, "channel: events.ama_voice_channel_id", why)
        for bit, why in (
            (VIEW_CHANNEL, "to see the voice channel"),
            (CONNECT, "Discord requires it for voice events"),
        )
    ),
)


def ama_entity(settings: Settings) -> str:
    """How the AMA's Discord event is made: on a stage, in a voice channel, or external."""
    if settings.events.ama_stage_channel_id:
        return "stage"
    if settings.events.ama_voice_channel_id:
        return "voice"
    return "external"


def features(settings: Settings) -> set[str]:
    """The features of the table the configuration turns on, in any of its series."""
    on: set[str] = set()
    for view in settings.shows():
        on |= _series_features(view)
    return on


def _series_features(settings: Settings) -> set[str]:
    """The features one series' settings turn on."""
    on = {"posts"}
    o = settings.optin
    if o.livestream_role_id or o.ama_role_id or o.recaps_role_id:
        on.add("opt-in roles")
    if settings.events.enabled:
        on.add("events")
        entity = ama_entity(settings)
        if entity != "external":
            on.add(f"events ({entity} AMA)")
    if settings.ama.enabled:
        on.add("AMA")
        if settings.ama.review != "off":
            on.add("AMA (review)")
    return on


def invite_permissions(settings: Settings | None = None) -> int:
    """The permission integer for the invite: everything the configured features need
    (None: every feature of the table)."""
    wanted = None if settings is None else features(settings)
    total = 0
    for req in REQUIREMENTS:
        if wanted is None or req.feature in wanted:
            total |= req.permission
    return total


def invite_url(application_id: int, permissions: int) -> str:
    query = urlencode(
        {"client_id": str(application_id), "scope": " ".join(SCOPES), "permissions": permissions}
    )
    return f"{AUTHORIZE_URL}?{query}"


def names(bits: int) -> list[str]:
    return [name for bit, name in NAMES.items() if bits & bit]


def readme_section() -> str:
    """The README's permission list, generated from REQUIREMENTS (`amabot invite --markdown`;
    a test keeps the README equal to it)."""
    lines = [
        "| feature | permission | where | why |",
        "| --- | --- | --- | --- |",
    ]
    for req in REQUIREMENTS:
        lines.append(f"| {req.feature} | {NAMES[req.permission]} | {req.where} | {req.why} |")
    lines.append("")
    lines.append(
        "Roles: a role the bot pings must be mentionable; a role it gives members must be "
        "below the bot's own role and not managed by an integration."
    )
    lines.append("")
    lines.append(
        f"Scopes: `{' '.join(SCOPES)}`. Every feature on: permission integer "
        f"`{invite_permissions()}`; `amabot invite` prints the URL for your configuration."
    )
    return "\n".join(lines)


# -- the overwrite algorithm ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


def base_permissions(
    everyone: int, role_permissions: Iterable[int], *, is_owner: bool = False
) -> int:
    """Server-wide permissions: @everyone's, or'ed with each of the member's roles'."""
    if is_owner:
        return ALL
    perms = everyone
    for bits in role_permissions:
        perms |= bits
    return ALL if perms & ADMINISTRATOR else perms


def channel_permissions(
    base: int,
    *,
    guild_id: int,
    member_id: int,
    member_roles: Sequence[int],
    overwrites: Iterable[Overwrite],
) -> int:
    """Discord's documented order: @everyone's overwrite, then the roles' (all denies, then
    all allows), then the member's own."""
    if base & ADMINISTRATOR:
        return ALL
    by_id: Mapping[int, Overwrite] = {o.id: o for o in overwrites}
    perms = base
    if (ow := by_id.get(guild_id)) is not None:
        perms = (perms & ~ow.deny) | ow.allow
    allow = deny = 0
    for rid in member_roles:
        if (ow := by_id.get(rid)) is not None and ow.type == 0:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    if (ow := by_id.get(member_id)) is not None and ow.type == 1:
        perms = (perms & ~ow.deny) | ow.allow
    return perms
