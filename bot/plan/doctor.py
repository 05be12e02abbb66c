"""`amabot doctor`'s checks, and the same checks the running bot makes at every READY and on
server, channel and role updates: pure functions over plain facts.

The facts are read elsewhere (bot/discord/inspect.py over REST, bot/cli/doctor.py for the
local ones); here each configured channel, role and feature is turned into findings: what
was checked, whether it is fine, and if not what is wrong and the exact fix. A finding's `key`
names the problem itself, so the running bot tells the organisers once per problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.config import Settings
from bot.plan.permissions import (
    AMA_QUESTIONS_BITS,
    AMA_REVIEW_BITS,
    ANNOUNCE_BITS,
    CREATE_EVENTS,
    MANAGE_EVENTS,
    MANAGE_ROLES,
    MENTION_EVERYONE,
    NEWS,
    POST_BITS,
    STAGE,
    STAGE_BITS,
    TEXT,
    TYPE_NAMES,
    VIEW_CHANNEL,
    VOICE,
    VOICE_BITS,
    Overwrite,
    ama_entity,
    base_permissions,
    channel_permissions,
    names,
)

CHANNEL_ID_HINT = "Developer Mode on, right-click the channel, Copy Channel ID"
ROLE_ID_HINT = "Developer Mode on, right-click the role, Copy Role ID"


@dataclass(frozen=True, slots=True)
class RoleFacts:
    id: int
    name: str
    position: int
    permissions: int
    managed: bool = False
    mentionable: bool = False


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    id: int
    name: str
    type: int
    guild_id: int
    overwrites: tuple[Overwrite, ...] = ()


@dataclass(frozen=True, slots=True)
class DiscordFacts:
    """What Discord told about the bot, its server, channels and roles."""

    token_error: str | None = None  # None: the token was accepted
    application_id: int = 0
    application_name: str = ""
    application_error: str | None = None
    bot_id: int = 0
    guild_id: int = 0
    guild_error: str | None = None  # e.g. the bot is not in the server
    owner_id: int = 0
    roles: Mapping[int, RoleFacts] = field(default_factory=dict)
    bot_roles: tuple[int, ...] = ()
    channels: Mapping[int, ChannelFacts] = field(default_factory=dict)
    channel_errors: Mapping[int, str] = field(default_factory=dict)  # id -> "not found" / ...


@dataclass(frozen=True, slots=True)
class CheckoutFacts:
    """One content checkout as the machine told it (a series may have its own)."""

    path: str
    exists: bool = True
    is_checkout: bool = False
    remote: str = "origin"
    remote_error: str | None = None
    branch: str | None = None
    branch_on_remote: bool | None = None


@dataclass(frozen=True, slots=True)
class LocalFacts:
    """What the machine told: the webhook receiver, the content checkout, the database."""

    webhook_listen: str = ""
    webhook_secret_set: bool = False
    webhook_bind_error: str | None = None
    content_path: str = ""
    content_exists: bool = True
    is_checkout: bool = False
    remote: str = "origin"
    remote_error: str | None = None
    branch: str | None = None
    branch_on_remote: bool | None = None
    database: str = ""
    database_error: str | None = None  # cannot create / write / read
    schema: int | None = None  # None: no database yet (made at the first start)
    schema_latest: int = 0
    lease: str | None = None  # who holds it, when there is a lease table
    # The checkouts of series with content of their own (the fields above: the first's).
    other_checkouts: tuple[CheckoutFacts, ...] = ()

    def checkouts(self) -> list[CheckoutFacts]:
        first = CheckoutFacts(
            self.content_path,
            self.content_exists,
            self.is_checkout,
            self.remote,
            self.remote_error,
            self.branch,
            self.branch_on_remote,
        )
        return [first, *self.other_checkouts]


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    problem: str = ""  # empty: OK
    fix: str = ""
    channel_id: int = 0  # the channel a permission finding is about (for recovery)
    note: str = ""  # shown when OK

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def key(self) -> str:
        return f"{self.check}|{self.problem}"


@dataclass(frozen=True, slots=True)
class ConfiguredChannel:
    label: str
    key: str  # the config key naming it
    id: int
    use: str  # "post", "stage", "voice"


def configured_channels(settings: Settings) -> list[ConfiguredChannel]:
    """Every channel the configuration names, once per (id, use). With several series,
    one set per series, each labelled with its series' name and keyed
    ``series[<id>].<key>``; a channel two series share (or the organisers' alerts, which
    belong to no series) is listed once, with every label that names it."""
    shows = settings.shows()
    if len(shows) == 1:
        return _series_channels(settings)
    found: list[ConfiguredChannel] = []
    for view in shows:
        for ch in _series_channels(view):
            if ch.key.startswith("organisers."):
                found.append(ch)  # the community's, not a series'
                continue
            label = ", ".join(f"{view.series.name}: {part}" for part in ch.label.split(", "))
            found.append(
                ConfiguredChannel(label, f"series[{view.series.id}].{ch.key}", ch.id, ch.use)
            )
    return _once_per_use(found)


def _series_channels(settings: Settings) -> list[ConfiguredChannel]:
    """The channels one series' settings name, once per (id, use)."""
    r = settings.reminders
    found = [
        ConfiguredChannel(
            "announcements",
            "announcements.channel_id",
            settings.announcements.channel_id,
            "announce",
        ),
        ConfiguredChannel(
            "livestream reminders",
            "reminders.livestream_channel_id"
            if r.livestream_channel_id
            else "reminders.channel_id",
            r.channel_for("livestream"),
            "post",
        ),
        ConfiguredChannel(
            "AMA reminders",
            "reminders.ama_channel_id" if r.ama_channel_id else "reminders.channel_id",
            r.channel_for("ama"),
            "post",
        ),
        ConfiguredChannel(
            "organisers' alerts",
            "organisers.alerts_channel_id",
            settings.organisers.alerts_channel_id,
            "post",
        ),
    ]
    found += _event_channels(settings) + _ama_channels(settings)
    return _once_per_use(found)


def _event_channels(settings: Settings) -> list[ConfiguredChannel]:
    """The AMA event's stage or voice channel, when the bot makes events."""
    out: list[ConfiguredChannel] = []
    if settings.events.enabled:
        entity = ama_entity(settings)
        if entity == "stage":
            out.append(
                ConfiguredChannel(
                    "AMA stage",
                    "events.ama_stage_channel_id",
                    settings.events.ama_stage_channel_id,
                    "stage",
                )
            )
        elif entity == "voice":
            out.append(
                ConfiguredChannel(
                    "AMA voice channel",
                    "events.ama_voice_channel_id",
                    settings.events.ama_voice_channel_id,
                    "voice",
                )
            )
    return out


def _ama_channels(settings: Settings) -> list[ConfiguredChannel]:
    """The AMA's questions channel and, when questions are reviewed, its review channel."""
    out: list[ConfiguredChannel] = []
    if settings.ama.enabled:
        out.append(
            ConfiguredChannel("AMA questions", "ama.channel_id", settings.ama.channel_id, "ama")
        )
        if settings.ama.review != "off":
            out.append(
                ConfiguredChannel(
                    "AMA review", "ama.review_channel_id", settings.ama.review_channel_id, "review"
                )
            )
    return out


def _once_per_use(found: list[ConfiguredChannel]) -> list[ConfiguredChannel]:
    """One entry per (id, use), labelled with every setting that names it."""
    seen: dict[tuple[int, str], ConfiguredChannel] = {}
    for ch in found:
        if ch.id and (ch.id, ch.use) not in seen:
            seen[(ch.id, ch.use)] = ch
        elif ch.id:
            first = seen[(ch.id, ch.use)]
            labels = first.label.split(", ")
            labels += [part for part in ch.label.split(", ") if part not in labels]
            seen[(ch.id, ch.use)] = ConfiguredChannel(", ".join(labels), first.key, ch.id, ch.use)
    return list(seen.values())


class _Guild:
    """The bot's standing in the server, computed once from the facts."""

    def __init__(self, facts: DiscordFacts):
        self.facts = facts
        everyone = facts.roles.get(facts.guild_id)
        self.bot_role_ids = tuple(r for r in facts.bot_roles if r in facts.roles)
        self.base = base_permissions(
            everyone.permissions if everyone else 0,
            (facts.roles[r].permissions for r in self.bot_role_ids),
            is_owner=bool(facts.owner_id) and facts.owner_id == facts.bot_id,
        )
        self.top = max((facts.roles[r].position for r in self.bot_role_ids), default=0)
        managed = [facts.roles[r] for r in self.bot_role_ids if facts.roles[r].managed]
        named = managed or [facts.roles[r] for r in self.bot_role_ids]
        self.role_name = max(named, key=lambda r: r.position).name if named else "amabot"

    def in_channel(self, channel: ChannelFacts) -> int:
        return channel_permissions(
            self.base,
            guild_id=self.facts.guild_id,
            member_id=self.facts.bot_id,
            member_roles=self.bot_role_ids,
            overwrites=channel.overwrites,
        )

    def who(self, overwrite: Overwrite) -> str:
        if overwrite.type == 1:
            return "the bot itself"
        if overwrite.id == self.facts.guild_id:
            return "@everyone"
        role = self.facts.roles.get(overwrite.id)
        return f"the role {role.name}" if role else f"role {overwrite.id}"


def check_discord(settings: Settings, facts: DiscordFacts) -> list[Finding]:
    """The application, the server, each configured channel and role, the events."""
    if facts.token_error is not None:
        return [
            Finding(
                "token",
                f"Discord refused the token: {facts.token_error}",
                f"put the bot token (Developer Portal > your app > Bot > Reset Token) in "
                f"${settings.discord.token_env}",
            )
        ]
    out: list[Finding] = []
    if facts.application_error is not None:
        out.append(
            Finding(
                "application",
                f"cannot read the application: {facts.application_error}",
                "check the token belongs to a bot application",
            )
        )
    else:
        name = f"{facts.application_name} ({facts.application_id})"
        out.append(Finding("application", note=name))
    if not settings.discord.guild_id:
        out.append(
            Finding(
                "server",
                "discord.guild_id is not set",
                "set discord.guild_id to the server's id (Developer Mode on, right-click the "
                "server icon, Copy Server ID)",
            )
        )
        return out
    if facts.guild_error is not None:
        out.append(
            Finding(
                f"server {settings.discord.guild_id}",
                f"the bot cannot read this server: {facts.guild_error}",
                "invite the bot with the URL `amabot invite` prints, or fix discord.guild_id",
            )
        )
        return out
    out.append(Finding(f"server {settings.discord.guild_id}", note="the bot is a member"))
    guild = _Guild(facts)
    for ch in configured_channels(settings):
        out.append(_check_channel(ch, facts, guild))
    out.extend(_check_roles(settings, facts, guild))
    shows = settings.shows()
    events = [view for view in shows if view.events.enabled]
    for view in events:
        finding = _check_events(view, guild)
        if len(shows) > 1:
            finding = replace(finding, check=f"{view.series.name}: {finding.check}")
        out.append(finding)
    return out


def _check_channel(ch: ConfiguredChannel, facts: DiscordFacts, guild: _Guild) -> Finding:
    check = f"channel {ch.label} ({ch.id})"
    info = facts.channels.get(ch.id)
    if info is None:
        error = facts.channel_errors.get(ch.id, "not found")
        if "access" in error or "403" in error:
            return Finding(
                check,
                "the bot cannot see this channel",
                f"in the channel's settings > Permissions, allow View Channel for the role "
                f"{guild.role_name}",
                ch.id,
            )
        return Finding(
            check,
            f"no such channel in this server ({error})",
            f"set {ch.key} to an existing channel's id ({CHANNEL_ID_HINT})",
            ch.id,
        )
    check = f"channel #{info.name} ({ch.label})"
    if info.guild_id != facts.guild_id:
        return Finding(
            check,
            f"the channel is in another server ({info.guild_id})",
            f"set {ch.key} to a channel of server {facts.guild_id}",
            ch.id,
        )
    kind = TYPE_NAMES.get(info.type, f"type {info.type}")
    wanted = {
        "post": (TEXT, NEWS),
        "announce": (TEXT, NEWS),
        "stage": (STAGE,),
        "voice": (VOICE,),
        "ama": (TEXT, NEWS),
        "review": (TEXT,),  # private threads live in text channels only
    }[ch.use]
    if info.type not in wanted:
        need = " or ".join(TYPE_NAMES[t] for t in wanted)
        return Finding(
            check, f"it is a {kind} channel, not {need}", f"set {ch.key} to a {need} channel", ch.id
        )
    lacking = _missing_permissions(ch, info, facts, guild, check)
    if lacking is not None:
        return lacking
    note = kind
    if ch.use in ("post", "announce") and info.type == NEWS:
        note += "; publishes its own posts (Send Messages)"
    return Finding(check, note=note, channel_id=ch.id)


def _missing_permissions(
    ch: ConfiguredChannel, info: ChannelFacts, facts: DiscordFacts, guild: _Guild, check: str
) -> Finding | None:
    """The permissions the bot lacks in the channel for its use, and which of its own
    overwrites deny them; None when it has them all."""
    bits = {
        "post": POST_BITS,
        "announce": ANNOUNCE_BITS,
        "stage": STAGE_BITS,
        "voice": VOICE_BITS,
        "ama": AMA_QUESTIONS_BITS,
        "review": AMA_REVIEW_BITS,
    }[ch.use]
    have = guild.in_channel(info)
    missing = 0
    for bit in bits:
        if not have & bit:
            missing |= bit
    if have & VIEW_CHANNEL == 0:
        missing = VIEW_CHANNEL  # without it Discord hides the rest; ask for it first
    if not missing:
        return None
    own = (facts.guild_id, *guild.bot_role_ids)
    deniers = [
        guild.who(o)
        for o in info.overwrites
        if o.deny & missing and ((o.type == 1 and o.id == facts.bot_id) or o.id in own)
    ]
    why = f" (denied by the overwrite for {', '.join(deniers)})" if deniers else ""
    return Finding(
        check,
        f"the bot lacks {', '.join(names(missing))}{why}",
        f"in #{info.name} > Edit Channel > Permissions, allow {', '.join(names(missing))} "
        f"for the role {guild.role_name}" + (" (or remove that deny)" if deniers else ""),
        ch.id,
    )


def _check_roles(settings: Settings, facts: DiscordFacts, guild: _Guild) -> list[Finding]:
    out: list[Finding] = []
    pinged, assigned, organisers = _role_uses(settings)
    for rid in dict.fromkeys([*pinged, *assigned, *organisers]):
        keys = pinged.get(rid, []) + assigned.get(rid, []) + organisers.get(rid, [])
        role = facts.roles.get(rid)
        if role is None:
            out.append(
                Finding(
                    f"role {rid}",
                    "no such role in this server",
                    f"set {' and '.join(keys)} to an existing role's id ({ROLE_ID_HINT})",
                )
            )
            continue
        check = f"role {role.name}"
        problems = _role_problems(role, rid in pinged, assigned.get(rid), guild)
        if problems:
            out.append(
                Finding(check, "; ".join(p for p, _ in problems), "; ".join(f for _, f in problems))
            )
        else:
            uses = [
                u for u, on in (("pinged", rid in pinged), ("assigned", rid in assigned)) if on
            ] or ["organisers"]
            out.append(Finding(check, note=", ".join(uses)))
    return out


def _role_uses(
    settings: Settings,
) -> tuple[dict[int, list[str]], dict[int, list[str]], dict[int, list[str]]]:
    """Role id -> the config keys naming it: roles the bot pings, gives members, and the
    organisers' roles. With several series, every series' (``series[<id>].<key>``)."""
    shows = settings.shows()
    pinged: dict[int, list[str]] = {}
    assigned: dict[int, list[str]] = {}
    for view in shows:
        scope = f"series[{view.series.id}]." if len(shows) > 1 else ""
        one_pinged, one_assigned = _series_roles(view)
        for mine, into in ((one_pinged, pinged), (one_assigned, assigned)):
            for rid, keys in mine.items():
                into.setdefault(rid, []).extend(scope + key for key in keys)
    organisers = {rid: ["organisers.role_ids"] for rid in settings.organisers.role_ids}
    return pinged, assigned, organisers


def _series_roles(settings: Settings) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """One series' roles the bot pings and gives members, with the keys naming them."""
    pinged: dict[int, list[str]] = {}
    for key, rid in (
        ("announcements.role_id", settings.announcements.role_id),
        ("reminders.role_id", settings.reminders.role_id),
        ("reminders.livestream_role_id", settings.reminders.livestream_role_id),
        ("reminders.ama_role_id", settings.reminders.ama_role_id),
    ):
        if rid:
            pinged.setdefault(rid, []).append(key)
    assigned: dict[int, list[str]] = {}
    for key, rid in (
        ("optin.livestream_role_id", settings.optin.livestream_role_id),
        ("optin.ama_role_id", settings.optin.ama_role_id),
        ("optin.recaps_role_id", settings.optin.recaps_role_id),
    ):
        if rid:
            assigned.setdefault(rid, []).append(key)
    return pinged, assigned


def _role_problems(
    role: RoleFacts, pinged: bool, assigned_by: list[str] | None, guild: _Guild
) -> list[tuple[str, str]]:
    """(problem, fix) for a role the bot pings, or gives members (`assigned_by`: its keys)."""
    problems: list[tuple[str, str]] = []
    if pinged and not role.mentionable and not guild.base & MENTION_EVERYONE:
        problems.append(
            (
                "it is pinged but not mentionable: the ping would reach nobody",
                f'Server Settings > Roles > {role.name} > turn on "Allow anyone to @mention '
                f'this role"',
            )
        )
    if assigned_by is None:
        return problems
    if role.managed:
        problems.append(
            (
                "it is managed by an integration; the bot cannot give it to members",
                f"set {' and '.join(assigned_by)} to an ordinary role",
            )
        )
    elif role.position >= guild.top:
        problems.append(
            (
                f"it is not below the bot's role {guild.role_name}, so the bot cannot give it",
                f"Server Settings > Roles: drag {guild.role_name} above {role.name}",
            )
        )
    if not guild.base & MANAGE_ROLES:
        problems.append(
            (
                "the bot lacks Manage Roles, needed to give it",
                f"Server Settings > Roles > {guild.role_name} > allow Manage Roles",
            )
        )
    return problems


def _check_events(settings: Settings, guild: _Guild) -> Finding:
    entity = ama_entity(settings)
    check = f"events ({entity} AMA, external livestreams)"
    if not guild.base & (MANAGE_EVENTS | CREATE_EVENTS):
        return Finding(
            check,
            "the bot lacks Manage Events",
            f"Server Settings > Roles > {guild.role_name} > allow Manage Events",
        )
    note = "Manage Events"
    if entity != "external":
        note += f"; the {entity} channel is checked above"
    return Finding(check, note=note)


def check_local(settings: Settings, local: LocalFacts) -> list[Finding]:
    """The webhook receiver, the content checkout and the database."""
    return [
        _check_webhook(settings, local),
        *(_check_content(checkout) for checkout in local.checkouts()),
        _check_database(local),
    ]


def _check_webhook(settings: Settings, local: LocalFacts) -> Finding:
    if not local.webhook_listen:
        return Finding(
            "webhook", note=f"off; content polled every {settings.content.poll_interval:g}s"
        )
    check = f"webhook {local.webhook_listen}"
    if not local.webhook_secret_set:
        return Finding(
            check,
            f"${settings.webhook.secret_env} is not set",
            f"put the GitHub webhook's secret in ${settings.webhook.secret_env}",
        )
    if local.webhook_bind_error:
        return Finding(
            check,
            f"cannot listen there: {local.webhook_bind_error}",
            "free the port (is amabot already running?) or change webhook.listen",
        )
    return Finding(check, note="can listen; secret set")


def _check_content(local: CheckoutFacts) -> Finding:
    check = f"content {local.path}"
    if not local.exists:
        return Finding(check, "the folder does not exist", "set content.path or clone the content")
    if not local.is_checkout:
        return Finding(check, note="not a git checkout: rescanned by content hash")
    if local.remote_error:
        return Finding(
            check,
            f"git remote {local.remote} is not reachable: {local.remote_error}",
            f"check `git -C {local.path} fetch {local.remote}` works for the bot's "
            "user (URL, deploy key, network)",
        )
    if local.branch_on_remote is False:
        return Finding(
            check,
            f"branch {local.branch} is not on {local.remote}",
            "set content.branch to a branch the remote has",
        )
    return Finding(check, note=f"{local.remote} reachable, branch {local.branch}")


def _check_database(local: LocalFacts) -> Finding:
    check = f"database {local.database}"
    if local.database_error:
        return Finding(
            check,
            local.database_error,
            "check the server is up, the URL and the password in the variable named by "
            "storage.password_env"
            if local.database.startswith(("postgresql://", "postgres://"))
            else "make the folder writable for the bot's user, or change storage.database",
        )
    if local.schema is not None and local.schema > local.schema_latest:
        return Finding(
            check,
            f"schema {local.schema} is newer than this amabot ({local.schema_latest})",
            "upgrade amabot, or point storage.database elsewhere",
        )
    if local.schema is None:
        state = "new: created at the first start"
    elif local.schema < local.schema_latest:
        state = f"writable; migrations {local.schema} -> {local.schema_latest} at the next start"
    else:
        state = f"writable; migrations up to date ({local.schema})"
    if local.lease:
        state += f"; lease: {local.lease}"
    return Finding(check, note=state)


def format_table(findings: list[Finding]) -> str:
    """The doctor's table: check, OK or what is wrong, and the fix."""
    width = min(max((len(f.check) for f in findings), default=5), 48)
    lines = []
    for f in findings:
        status = f"OK  {f.note}".rstrip() if f.ok else f"FAIL {f.problem}"
        lines.append(f"{f.check:<{width}}  {status}")
        if not f.ok:
            lines.append(f"{'':<{width}}       fix: {f.fix}")
    bad = sum(1 for f in findings if not f.ok)
    lines.append("")
    lines.append(f"{bad} problem(s)" if bad else "all checks passed")
    return "\n".join(lines)
