"""TOML + environment -> one frozen, validated Settings object.

The dataclasses below are the contract every other module reads; `load_settings` (below)
parses and validates a file into them. Defaults here are the defaults of the example config.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, time, timedelta
from difflib import get_close_matches
from pathlib import Path, PurePosixPath
from string import Formatter
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.durations import duration_label, parse_duration

_T = TypeVar("_T")


class ConfigError(Exception):
    """A config value is missing or wrong. The message names the key, the file and the fault."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None):
        self.key = key
        self.file = file
        where = ", ".join(p for p in (f"file {file}" if file else None, key and f"key {key}") if p)
        super().__init__(
            f"config error: {where}: {message}" if where else f"config error: {message}"
        )


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    token_env: str = "DISCORD_TOKEN"  # noqa: S105 - the variable's name, not a secret
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    guild_id: int = 0
    connect_timeout: float = 60.0  # seconds to reach READY at start-up before giving up


@dataclass(frozen=True, slots=True)
class ContentSettings:
    path: Path = Path("content")  # resolved against the config file's folder
    episodes: str = "episodes"
    recaps: str = "recaps"
    authors: str = "authors.yml"
    ama: str = "ama"  # the AMA records the bot writes back (one Markdown file per AMA)
    poll_interval: float = 60.0  # seconds between `git fetch` polls
    branch: str | None = None  # None = the checkout's current branch
    remote: str = "origin"
    git_timeout: float = 30.0

    @property
    def episodes_dir(self) -> Path:
        return self.path / self.episodes


@dataclass(frozen=True, slots=True)
class StorageSettings:
    # A SQLite file (a Path, the default) or a PostgreSQL server (its "postgresql://" URL, as
    # text, never with a password in it).
    database: Path | str = Path("data/amabot.sqlite3")
    # One bot process per database: the lease expires this long after its last renewal.
    lease_ttl: timedelta = timedelta(seconds=30)
    # The environment variable holding the PostgreSQL password; unset = no password (e.g. a
    # local server that trusts its Unix socket). The same name as bot.store's default.
    password_env: str = "AMABOT_DATABASE_PASSWORD"  # noqa: S105 - the variable's name
    # A second `amabot run` waits for the lease (True) or is refused (False); None: the
    # backend's default (a database server: standby; SQLite: refused). bot/discord/standby.py
    standby: bool | None = None


@dataclass(frozen=True, slots=True)
class SeriesSettings:
    # A short, stable slug: it goes into the keys of the series' AMA posts. Default: the
    # name's slug.
    id: str = "model-mondays"
    name: str = "Model Mondays"
    timezone: str = "America/Los_Angeles"
    livestream_time: time = time(10, 30)
    livestream_duration: timedelta = timedelta(minutes=30)
    ama_weekday: int = 4  # Monday = 0 ... Friday = 4
    ama_time: time = time(10, 30)
    ama_duration: timedelta = timedelta(minutes=30)
    # Not a config key: set at start-up from the database (the bare namespace's owner). "" for the
    # series that owns the bare key namespace (the one series of a database made before
    # several series existed, or the first series of a new one); "<id>/" for every other, so
    # two series' episode ids never share an outbox key.
    key_prefix: str = ""


@dataclass(frozen=True, slots=True)
class AnnouncementSettings:
    channel_id: int = 0
    role_id: int = 0  # 0 = ping nobody
    backlog_days: int = 0
    # Discord allows about 10 crossposts per hour per announcement channel.
    publish_per_hour: int = 10


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    channel_id: int = 0
    role_id: int = 0
    offsets: tuple[timedelta, ...] = (
        timedelta(hours=24),
        timedelta(hours=1),
        timedelta(minutes=10),
    )
    # Explicit grace per offset; offsets not listed use default_grace(offset).
    grace: tuple[tuple[timedelta, timedelta], ...] = ()
    livestream_channel_id: int = 0  # 0 = channel_id
    ama_channel_id: int = 0
    livestream_role_id: int = 0  # 0 = role_id
    ama_role_id: int = 0
    # Crosspost reminders posted in an announcement channel (they spend the channel's
    # publish budget and reach followers late when it runs out).
    publish: bool = False

    def channel_for(self, kind: str) -> int:
        specific = self.livestream_channel_id if kind == "livestream" else self.ama_channel_id
        return specific or self.channel_id

    def role_for(self, kind: str) -> int:
        specific = self.livestream_role_id if kind == "livestream" else self.ama_role_id
        return specific or self.role_id

    def grace_for(self, offset: timedelta) -> timedelta:
        for off, grace in self.grace:
            if off == offset:
                return grace
        return default_grace(offset)


def default_grace(offset: timedelta) -> timedelta:
    """A quarter of the offset, at least 5 minutes, at most 2 hours."""
    return min(max(offset / 4, timedelta(minutes=5)), timedelta(hours=2))


@dataclass(frozen=True, slots=True)
class OrganiserSettings:
    role_ids: tuple[int, ...] = ()
    alerts_channel_id: int = 0  # where the bot says a post failed for good (403/404); 0 = off


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    listen: str = ""  # "host:port"; empty = off
    secret_env: str = "GITHUB_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret
    # The read-only pages' tokens, each from the environment variable named here; a variable
    # unset or empty turns its page off (404): `/status` and `/ama/<episode>/screen`.
    status_token_env: str = "AMABOT_STATUS_TOKEN"  # noqa: S105 - the variable's name
    screen_token_env: str = "AMABOT_SCREEN_TOKEN"  # noqa: S105 - the variable's name


@dataclass(frozen=True, slots=True)
class SiteSettings:
    recaps_url: str = ""  # e.g. "https://example.org/blog/{yyyy}/{mm}/{dd}/{slug}/"
    ama_url: str = ""  # where merged AMA records are read, e.g. ".../blob/main/ama/{id}.md"
    # Where the content repository's files are served, e.g. "https://org.github.io/repo/":
    # an image given as a repository path is shown from here; empty = attached from the checkout.
    images_url: str = ""


@dataclass(frozen=True, slots=True)
class EventsSettings:
    """Discord scheduled events made from the content (bot/plan/scheduled_events.py)."""

    enabled: bool = False
    ama_stage_channel_id: int = 0  # 0 = no stage: use ama_voice_channel_id, else external
    ama_voice_channel_id: int = 0  # 0 = no voice channel: the AMA becomes an external event
    create_ahead: int = 10  # create only the next N events; Discord allows 100 per guild
    auto_start: bool = False  # start the AMA event once people are there; end it after its time
    # With auto_start: start this long after the start time if anyone (not only a host) is in
    # the stage; never into an empty one (bot/plan/auto_start.py).
    auto_start_after: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OptinSettings:
    """Per-member reminder choices (bot/plan/optin.py)."""

    livestream_role_id: int = 0  # self-assigned role for livestream pings; 0 = not offered
    ama_role_id: int = 0
    recaps_role_id: int = 0
    interested_dm: bool = False  # "Interested" on our Discord event = DM reminders for it
    dm_rate_per_minute: int = 30  # DMs are paced to at most this many per minute


@dataclass(frozen=True, slots=True)
class AmaSettings:
    """The AMA itself: members' questions, review, votes, the host board and the record
    (bot/plan/ama.py, bot/services/ama.py). Off by default."""

    enabled: bool = False
    channel_id: int = 0  # the text channel where each AMA's public questions thread is made
    review_channel_id: int = 0  # organisers' review cards; the host board's private thread
    review: str = "pre"  # "pre": approve before public; "post": public, removable; "off"
    host_role_ids: tuple[int, ...] = ()  # hosts and guests, besides the organisers
    open_before: timedelta | None = None  # collecting opens this long before; None: livestream
    close_after: timedelta = timedelta(minutes=15)  # after the AMA's end
    min_length: int = 15
    max_length: int = 1000
    max_open: int = 3
    max_per_ama: int = 10
    cooldown: timedelta = timedelta(minutes=1)
    push: bool = True  # push the record's branch to the content remote (else: attach it)
    branch_prefix: str = "amabot/ama/"


REVIEW_MODES = ("pre", "post", "off")


@dataclass(frozen=True, slots=True)
class Settings:
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    series: SeriesSettings = field(default_factory=SeriesSettings)
    announcements: AnnouncementSettings = field(default_factory=AnnouncementSettings)
    reminders: ReminderSettings = field(default_factory=ReminderSettings)
    organisers: OrganiserSettings = field(default_factory=OrganiserSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    optin: OptinSettings = field(default_factory=OptinSettings)
    ama: AmaSettings = field(default_factory=AmaSettings)
    source: str | None = None  # the file these came from, for messages
    # Every series of the community, each a whole Settings whose series-scoped sections
    # (series, content, announcements, reminders, events, optin, ama) are that series' own,
    # in the file's order. Empty for a file with one `[series]`: `shows()` is then (self,).
    # The top-level sections above are the first series' (so one-series code reads them).
    lineup: tuple[Settings, ...] = ()

    def shows(self) -> tuple[Settings, ...]:
        """One Settings per series, in the config file's order (never empty)."""
        return self.lineup or (self,)

    def show(self, series_id: str) -> Settings:
        """The Settings of the series `series_id`; KeyError when no series has that id."""
        for view in self.shows():
            if view.series.id == series_id:
                return view
        raise KeyError(series_id)


# --------------------------------------------------------------------------------------------
# Loading: TOML file + environment -> Settings
# --------------------------------------------------------------------------------------------

CONFIG_ENV = "AMABOT_CONFIG"
RECAP_URL_PLACEHOLDERS = ("yyyy", "mm", "dd", "slug", "id")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_SNOWFLAKE = 2**63 - 1  # SQLite integers and Discord ids are signed 64-bit

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_CLOCK_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LISTEN = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>\d{1,5})")

_SECTIONS: dict[str, type] = {
    "discord": DiscordSettings,
    "content": ContentSettings,
    "storage": StorageSettings,
    "series": SeriesSettings,
    "announcements": AnnouncementSettings,
    "reminders": ReminderSettings,
    "organisers": OrganiserSettings,
    "webhook": WebhookSettings,
    "site": SiteSettings,
    "events": EventsSettings,
    "optin": OptinSettings,
    "ama": AmaSettings,
}


def parse_clock_time(text: str) -> time:
    """``"10:30"`` or ``"10:30:15"`` -> time (no zone: it is wall-clock in some IANA zone)."""
    match = _CLOCK_TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'{text!r} is not a time of day; write e.g. "10:30"')
    hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{text!r} is not a time of day (hours 0-23, minutes 0-59)")
    return time(hour, minute, second)


def parse_weekday(text: str) -> int:
    """``"friday"``, ``"Fri"`` -> 4 (Monday = 0)."""
    word = text.strip().lower() if isinstance(text, str) else ""
    if len(word) >= 3:
        matches = [i for i, name in enumerate(WEEKDAYS) if name.startswith(word)]
        if len(matches) == 1:
            return matches[0]
    raise ValueError(f"{text!r} is not a weekday; write one of {', '.join(WEEKDAYS)}")


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"``, ``"[::1]:8080"``, ``"localhost:0"`` -> (host, port).

    The one reader of `[webhook] listen`, for the config check and the server alike. A host
    is required: ``":8080"`` (every interface) is refused, because a receiver open to the
    world should be a choice written out (``"0.0.0.0:8080"``), not a blank left empty."""
    match = _LISTEN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None and isinstance(text, str) and text.strip().startswith(":"):
        raise ValueError(
            f'{text!r} has no host; write "0.0.0.0{text.strip()}" to listen on every '
            f'interface or "127.0.0.1{text.strip()}" for this machine only'
        )
    if match is None:
        raise ValueError(f'{text!r} is not "host:port", e.g. "127.0.0.1:8080"')
    port = int(match["port"])
    if port > 65535:
        raise ValueError(f"port {port} is out of range (0-65535)")
    return match["v6"] or match["host"], port


def validate_zone(name: str) -> str:
    """The IANA zone name, if zoneinfo knows it; else ValueError with a suggestion."""
    if isinstance(name, str) and name.strip():
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    hint = ""
    if isinstance(name, str) and name:
        zones = {z.lower(): z for z in available_timezones()}
        close = get_close_matches(name.lower(), list(zones), n=1, cutoff=0.8)
        if close:
            hint = f'; did you mean "{zones[close[0]]}"?'
    raise ValueError(f'{name!r} is not an IANA time zone (e.g. "America/Los_Angeles"){hint}')


def validate_recaps_url(template: str) -> str:
    if not template:
        return template
    scheme = urlsplit(template).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"{template!r} is not an http(s) URL")
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(template)]
    except ValueError as exc:
        raise ValueError(
            f"{template!r} has unbalanced braces ({exc}); write {{{{ for a literal {{"
        ) from None
    allowed = ", ".join(f"{{{p}}}" for p in RECAP_URL_PLACEHOLDERS)
    for name, spec, conv in fields:
        if name is None:
            continue
        if name not in RECAP_URL_PLACEHOLDERS or spec or conv:
            raise ValueError(f"unknown placeholder {{{name}}}; the placeholders are {allowed}")
    return template


def validate_images_url(base: str) -> str:
    if base and urlsplit(base).scheme not in ("http", "https"):
        raise ValueError(f"{base!r} is not an http(s) URL")
    return base


def validate_ama_url(template: str) -> str:
    """``https://…/{id}…``: an http(s) URL whose only placeholder is {id} (the episode's)."""
    if not template:
        return template
    parts = urlsplit(template.replace("{id}", "x"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{template!r} is not an http(s) URL")
    fields_used = {f for _, f, _, _ in Formatter().parse(template) if f is not None}
    if fields_used - {"id"}:
        raise ValueError(f"only {{id}} may be filled in, not {sorted(fields_used - {'id'})}")
    return template


def find_config(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file to load: the explicit path (must exist), else $AMABOT_CONFIG (must
    exist), else ./config.toml if there is one, else None (built-in defaults)."""
    environ = os.environ if environ is None else environ
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError("config file not found", file=explicit)
        return path
    named = environ.get(CONFIG_ENV, "")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"config file named by ${CONFIG_ENV} not found", file=named)
        return path
    local = Path.cwd() / "config.toml"
    return local if local.is_file() else None


def load_settings(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate a config file; None gives the built-in defaults.

    Secrets are not read here (see `discord_token`, `webhook_secret`): Settings never holds
    one, so printing or logging it is safe. `environ` is used only to expand ``~`` in paths.
    """
    if path is None:
        return Settings()
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config file not found", file=file) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the config file: {exc.strerror or exc}", file=file
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8", file=file
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from None
    environ = os.environ if environ is None else environ
    base = Path(os.path.abspath(path.parent))
    return _Loader(file, base, environ).settings(data)


def discord_token(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The bot token, from the environment variable named by discord.token_env."""
    environ = os.environ if environ is None else environ
    name = settings.discord.token_env
    token = environ.get(name, "").strip()
    if not token:
        raise ConfigError(
            f"the environment variable {name} (named by discord.token_env) is not set or empty; "
            "put the bot token there",
            key="discord.token_env",
            file=settings.source,
        )
    return token


def webhook_secret(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The GitHub webhook secret; required (ConfigError) when webhook.listen is set, else
    b"" when absent."""
    environ = os.environ if environ is None else environ
    name = settings.webhook.secret_env
    secret = environ.get(name, "")
    if not secret and settings.webhook.listen:
        raise ConfigError(
            f"webhook.listen is set but the environment variable {name} (named by "
            "webhook.secret_env) is not set or empty; put the GitHub webhook secret there",
            key="webhook.secret_env",
            file=settings.source,
        )
    return secret.encode()


def page_token(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A read-only page's token from the environment variable `name` (`[webhook]
    status_token_env`, `screen_token_env`); None when unset or empty: the page is off."""
    environ = os.environ if environ is None else environ
    token = environ.get(name, "").strip()
    return token or None


class _Loader:
    """Reads one parsed TOML document into Settings, failing on the first bad value."""

    def __init__(self, file: str, base: Path, environ: Mapping[str, str]):
        self.file = file
        self.base = base
        self.environ = environ

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, key=key, file=self.file)

    def settings(self, data: dict[str, Any]) -> Settings:
        for name in data:
            if name not in _SECTIONS:
                raise self.error(name, "unknown section" + _did_you_mean(name, _SECTIONS))
        tables: dict[str, dict[str, Any]] = {}
        for name, cls in _SECTIONS.items():
            table = data.get(name, {})
            if name == "series" and isinstance(table, list):
                continue  # `[[series]]`: read by `lineup`
            if not isinstance(table, dict):
                raise self.error(name, f"expected a table [{name}], got a {_toml_type(table)}")
            known = _config_keys(cls)
            for key in table:
                if key not in known:
                    raise self.error(f"{name}.{key}", "unknown key" + _suggest_key(name, key))
            tables[name] = table
        shows = data.get("series", {})
        if isinstance(shows, list):
            # `[[series]]`: several shows; the top-level sections are every series' defaults.
            tables["series"] = {}
            return self.lineup(shows, tables)
        reminders = self.reminders(tables["reminders"])
        return Settings(
            discord=self.discord(tables["discord"]),
            content=self.content(tables["content"]),
            storage=self.storage(tables["storage"]),
            series=self.series(tables["series"]),
            announcements=self.announcements(tables["announcements"]),
            reminders=reminders,
            organisers=OrganiserSettings(
                role_ids=self.role_ids(tables["organisers"]),
                alerts_channel_id=self.snowflake(
                    tables["organisers"], "organisers.alerts_channel_id", 0
                ),
            ),
            webhook=self.webhook(tables["webhook"]),
            site=self.site(tables["site"]),
            events=self.events(tables["events"]),
            optin=self.optin(tables["optin"]),
            ama=self.ama(tables["ama"]),
            source=self.file,
        )

    # several series -------------------------------------------------------------------

    def lineup(self, shows: list[Any], tables: dict[str, dict[str, Any]]) -> Settings:
        """`[[series]]`: one whole Settings view per series, in the file's order; the
        returned Settings is the first series' view with every view as its `lineup`."""
        if not shows:
            raise self.error("series", "[[series]] needs at least one series")
        shared = {
            "discord": self.discord(tables["discord"]),
            "storage": self.storage(tables["storage"]),
            "organisers": OrganiserSettings(
                role_ids=self.role_ids(tables["organisers"]),
                alerts_channel_id=self.snowflake(
                    tables["organisers"], "organisers.alerts_channel_id", 0
                ),
            ),
            "webhook": self.webhook(tables["webhook"]),
            "site": self.site(tables["site"]),
            "source": self.file,
        }
        # The shared content keys are checked once, as the top-level section.
        self.content(tables["content"])
        views: list[Settings] = []
        for i, entry in enumerate(shows):
            if not isinstance(entry, dict):
                raise self.error(f"series[{i}]", f"expected a table, got a {_toml_type(entry)}")
            series_id = entry.get("id")
            if not isinstance(series_id, str) or not _SLUG.fullmatch(series_id):
                raise self.error(
                    f"series[{i}].id",
                    "every [[series]] needs an id: a slug of lower-case letters, digits and "
                    '-, like "talk-tuesdays" (it goes into stored keys, so keep it stable)'
                    + (f"; got {series_id!r}" if series_id is not None else ""),
                )
            views.append(_SeriesLoader(self, series_id, entry, tables).view(shared))
        _check_lineup(self, views)
        return replace(views[0], lineup=tuple(views))

    def site(self, t: dict[str, Any]) -> SiteSettings:
        return SiteSettings(
            recaps_url=self.parsed(t, "site.recaps_url", "", validate_recaps_url, allow_empty=True),
            ama_url=self.parsed(t, "site.ama_url", "", validate_ama_url, allow_empty=True),
            images_url=self.parsed(t, "site.images_url", "", validate_images_url, allow_empty=True),
        )

    # sections ---------------------------------------------------------------------------

    def discord(self, t: dict[str, Any]) -> DiscordSettings:
        d = DiscordSettings()
        return DiscordSettings(
            token_env=self.env_name(t, "discord.token_env", d.token_env),
            api_base=self.url(t, "discord.api_base", d.api_base, ("http", "https")),
            gateway_url=self.url(t, "discord.gateway_url", d.gateway_url, ("ws", "wss")),
            guild_id=self.snowflake(t, "discord.guild_id", d.guild_id),
            connect_timeout=self.seconds(t, "discord.connect_timeout", d.connect_timeout),
        )

    def content(self, t: dict[str, Any]) -> ContentSettings:
        d = ContentSettings()
        branch = self.string(t, "content.branch", "", allow_empty=True)
        return ContentSettings(
            path=self.path(t, "content.path", d.path),
            episodes=self.subpath(t, "content.episodes", d.episodes),
            recaps=self.subpath(t, "content.recaps", d.recaps),
            authors=self.subpath(t, "content.authors", d.authors),
            ama=self.subpath(t, "content.ama", d.ama),
            poll_interval=self.seconds(t, "content.poll_interval", d.poll_interval),
            branch=branch or None,
            remote=self.string(t, "content.remote", d.remote),
            git_timeout=self.seconds(t, "content.git_timeout", d.git_timeout),
        )

    def series(self, t: dict[str, Any]) -> SeriesSettings:
        d = SeriesSettings()
        name = self.string(t, "series.name", d.name)
        default_id = _SLUG_CHARS.sub("-", name.lower()).strip("-") or d.id
        series_id = self.string(t, "series.id", default_id)
        if not _SLUG.fullmatch(series_id):
            raise self.error(
                "series.id",
                f"{series_id!r} is not a slug: lower-case letters, digits and -, like "
                '"model-mondays" (it goes into stored keys, so keep it stable)',
            )
        return SeriesSettings(
            id=series_id,
            name=name,
            timezone=self.parsed(t, "series.timezone", d.timezone, validate_zone),
            livestream_time=self.clock_time(t, "series.livestream_time", d.livestream_time),
            livestream_duration=self.duration(
                t, "series.livestream_duration", d.livestream_duration, positive=True
            ),
            ama_weekday=self.weekday(t, "series.ama_weekday", d.ama_weekday),
            ama_time=self.clock_time(t, "series.ama_time", d.ama_time),
            ama_duration=self.duration(t, "series.ama_duration", d.ama_duration, positive=True),
        )

    def announcements(self, t: dict[str, Any]) -> AnnouncementSettings:
        d = AnnouncementSettings()
        return AnnouncementSettings(
            channel_id=self.snowflake(t, "announcements.channel_id", d.channel_id),
            role_id=self.snowflake(t, "announcements.role_id", d.role_id),
            backlog_days=self.count(t, "announcements.backlog_days", d.backlog_days),
            publish_per_hour=self.bounded(
                t, "announcements.publish_per_hour", d.publish_per_hour, 1, 100
            ),
        )

    def reminders(self, t: dict[str, Any]) -> ReminderSettings:
        d = ReminderSettings()
        offsets = d.offsets
        if "offsets" in t:
            items = self.array(t, "reminders.offsets")
            found: list[timedelta] = []
            for i, item in enumerate(items):
                key = f"reminders.offsets[{i}]"
                offset = self.as_duration(key, item)
                if offset in found:
                    raise self.error(key, f"{duration_label(offset)} is listed twice")
                found.append(offset)
            offsets = tuple(found)
        grace: list[tuple[timedelta, timedelta]] = []
        table = t.get("grace", {})
        if not isinstance(table, dict):
            raise self.error(
                "reminders.grace",
                f'expected a table such as {{ "1h" = "15m" }}, got a {_toml_type(table)}',
            )
        for name, value in table.items():
            key = f"reminders.grace.{name}"
            offset = self.as_duration(key, name)
            if offset not in offsets:
                listed = ", ".join(duration_label(o) for o in offsets) or "none"
                raise self.error(key, f"{name} is not one of reminders.offsets (listed: {listed})")
            grace.append((offset, self.as_duration(key, value)))
        return ReminderSettings(
            channel_id=self.snowflake(t, "reminders.channel_id", d.channel_id),
            role_id=self.snowflake(t, "reminders.role_id", d.role_id),
            offsets=offsets,
            grace=tuple(grace),
            livestream_channel_id=self.snowflake(t, "reminders.livestream_channel_id", 0),
            ama_channel_id=self.snowflake(t, "reminders.ama_channel_id", 0),
            livestream_role_id=self.snowflake(t, "reminders.livestream_role_id", 0),
            ama_role_id=self.snowflake(t, "reminders.ama_role_id", 0),
            publish=self.boolean(t, "reminders.publish", d.publish),
        )

    def role_ids(self, t: dict[str, Any]) -> tuple[int, ...]:
        if "role_ids" not in t:
            return ()
        ids: list[int] = []
        for i, item in enumerate(self.array(t, "organisers.role_ids")):
            key = f"organisers.role_ids[{i}]"
            role = self.as_snowflake(key, item)
            if role == 0:
                raise self.error(key, "0 is not a role id")
            if role not in ids:
                ids.append(role)
        return tuple(ids)

    def webhook(self, t: dict[str, Any]) -> WebhookSettings:
        d = WebhookSettings()
        listen = self.string(t, "webhook.listen", d.listen, allow_empty=True).strip()
        if listen:
            try:
                parse_listen(listen)
            except ValueError as exc:
                raise self.error("webhook.listen", str(exc)) from None
        return WebhookSettings(
            listen=listen,
            secret_env=self.env_name(t, "webhook.secret_env", d.secret_env),
            status_token_env=self.env_name(t, "webhook.status_token_env", d.status_token_env),
            screen_token_env=self.env_name(t, "webhook.screen_token_env", d.screen_token_env),
        )

    def events(self, t: dict[str, Any]) -> EventsSettings:
        d = EventsSettings()
        create_ahead = self.count(t, "events.create_ahead", d.create_ahead)
        if not 1 <= create_ahead <= 100:
            raise self.error(
                "events.create_ahead",
                f"must be 1 to 100 (Discord allows 100 scheduled events per server), "
                f"got {create_ahead}",
            )
        return EventsSettings(
            enabled=self.boolean(t, "events.enabled", d.enabled),
            ama_stage_channel_id=self.snowflake(t, "events.ama_stage_channel_id", 0),
            ama_voice_channel_id=self.snowflake(t, "events.ama_voice_channel_id", 0),
            create_ahead=create_ahead,
            auto_start=self.boolean(t, "events.auto_start", d.auto_start),
            auto_start_after=self.duration(t, "events.auto_start_after", d.auto_start_after),
        )

    def optin(self, t: dict[str, Any]) -> OptinSettings:
        d = OptinSettings()
        rate = self.count(t, "optin.dm_rate_per_minute", d.dm_rate_per_minute)
        if rate < 1:
            raise self.error("optin.dm_rate_per_minute", "must be at least 1")
        return OptinSettings(
            livestream_role_id=self.snowflake(t, "optin.livestream_role_id", 0),
            ama_role_id=self.snowflake(t, "optin.ama_role_id", 0),
            recaps_role_id=self.snowflake(t, "optin.recaps_role_id", 0),
            interested_dm=self.boolean(t, "optin.interested_dm", d.interested_dm),
            dm_rate_per_minute=rate,
        )

    def ama(self, t: dict[str, Any]) -> AmaSettings:
        d = AmaSettings()
        review = self.string(t, "ama.review", d.review)
        if review not in REVIEW_MODES:
            raise self.error("ama.review", f'expected "pre", "post" or "off", got {review!r}')
        open_before = (
            self.duration(t, "ama.open_before", timedelta(0), positive=True)
            if "open_before" in t
            else None
        )
        min_length = self.bounded(t, "ama.min_length", d.min_length, 1, 4000)
        max_length = self.bounded(t, "ama.max_length", d.max_length, 1, 4000)
        if min_length > max_length:
            raise self.error("ama.min_length", f"must not be above ama.max_length ({max_length})")
        settings = AmaSettings(
            enabled=self.boolean(t, "ama.enabled", d.enabled),
            channel_id=self.snowflake(t, "ama.channel_id", d.channel_id),
            review_channel_id=self.snowflake(t, "ama.review_channel_id", d.review_channel_id),
            review=review,
            host_role_ids=self.snowflakes(t, "ama.host_role_ids"),
            open_before=open_before,
            close_after=self.duration(t, "ama.close_after", d.close_after),
            min_length=min_length,
            max_length=max_length,
            max_open=self.bounded(t, "ama.max_open", d.max_open, 1, 100),
            max_per_ama=self.bounded(t, "ama.max_per_ama", d.max_per_ama, 1, 1000),
            cooldown=self.duration(t, "ama.cooldown", d.cooldown),
            push=self.boolean(t, "ama.push", d.push),
            branch_prefix=self.string(t, "ama.branch_prefix", d.branch_prefix),
        )
        if settings.enabled and not settings.channel_id:
            raise self.error("ama.channel_id", "is required when ama.enabled is true")
        if settings.enabled and review != "off" and not settings.review_channel_id:
            raise self.error("ama.review_channel_id", f'is required when ama.review is "{review}"')
        return settings

    def snowflakes(self, t: dict[str, Any], key: str) -> tuple[int, ...]:
        if _leaf(key) not in t:
            return ()
        return tuple(
            self.as_snowflake(f"{key}[{i}]", item) for i, item in enumerate(self.array(t, key))
        )

    # values -----------------------------------------------------------------------------

    def boolean(self, t: dict[str, Any], key: str, default: bool) -> bool:
        value = t.get(_leaf(key), default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def string(
        self, t: dict[str, Any], key: str, default: str, *, allow_empty: bool = False
    ) -> str:
        value = t.get(_leaf(key), default)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got a {_toml_type(value)}")
        if not allow_empty and not value.strip():
            raise self.error(key, "must not be empty")
        return value

    def parsed(
        self,
        t: dict[str, Any],
        key: str,
        default: str,
        parse: Callable[[str], _T],
        *,
        allow_empty: bool = False,
    ) -> _T:
        text = self.string(t, key, default, allow_empty=allow_empty)
        try:
            return parse(text)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def env_name(self, t: dict[str, Any], key: str, default: str) -> str:
        value = t.get(_leaf(key), default)
        # Never echo this value: a common slip is pasting the secret itself here.
        if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
            raise self.error(
                key,
                "must be the name of an environment variable (letters, digits and _), "
                "not the secret itself; the value is not shown",
            )
        return value

    def url(self, t: dict[str, Any], key: str, default: str, schemes: tuple[str, ...]) -> str:
        value = self.string(t, key, default)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            raise self.error(key, f"{value!r} is not a {' or '.join(schemes)} URL")
        return value.rstrip("/")

    def snowflake(self, t: dict[str, Any], key: str, default: int) -> int:
        return self.as_snowflake(key, t.get(_leaf(key), default))

    def as_snowflake(self, key: str, value: Any) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
            number = int(value.strip())
        if number is None or not 0 <= number <= MAX_SNOWFLAKE:
            raise self.error(
                key, f"expected a Discord id (a number like 1234567890123456789), got {value!r}"
            )
        return number

    def storage(self, t: dict[str, Any]) -> StorageSettings:
        d = StorageSettings()
        ttl = self.duration(t, "storage.lease_ttl", d.lease_ttl, positive=True)
        if ttl < timedelta(seconds=2):
            raise self.error("storage.lease_ttl", "must be at least 2s (it is renewed every third)")
        password_env = self.string(t, "storage.password_env", d.password_env)
        text = self.string(t, "storage.database", str(d.database))
        database: Path | str
        if text.startswith(("postgresql://", "postgres://")):
            try:
                password = urlsplit(text).password
            except ValueError as exc:
                raise self.error("storage.database", f"not a valid PostgreSQL URL: {exc}") from exc
            if password:
                raise self.error(
                    "storage.database",
                    "the URL holds a password; remove it and set the environment variable "
                    f"named by storage.password_env ({password_env}) instead",
                )
            database = text
        else:
            database = self.path(t, "storage.database", Path(d.database))
        standby = self.boolean(t, "storage.standby", False) if "standby" in t else d.standby
        return StorageSettings(
            database=database, lease_ttl=ttl, password_env=password_env, standby=standby
        )

    def bounded(self, t: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
        value = self.count(t, key, default)
        if not low <= value <= high:
            raise self.error(key, f"expected {low} to {high}, got {value}")
        return value

    def count(self, t: dict[str, Any], key: str, default: int) -> int:
        value = t.get(_leaf(key), default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(key, f"expected a whole number of 0 or more, got {value!r}")
        return value

    def seconds(self, t: dict[str, Any], key: str, default: float) -> float:
        value = t.get(_leaf(key), default)
        if isinstance(value, str):
            value = self.as_duration(key, value).total_seconds()
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise self.error(
                key, f'expected a number of seconds above 0 or a duration like "60s", got {value!r}'
            )
        return float(value)

    def duration(
        self, t: dict[str, Any], key: str, default: timedelta, *, positive: bool = False
    ) -> timedelta:
        if _leaf(key) not in t:
            return default
        value = self.as_duration(key, t[_leaf(key)])
        if positive and not value:
            raise self.error(key, "must be longer than 0")
        return value

    def as_duration(self, key: str, value: Any) -> timedelta:
        if not isinstance(value, str):
            raise self.error(key, f'expected a duration string like "30m", got {value!r}')
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def clock_time(self, t: dict[str, Any], key: str, default: time) -> time:
        value = t.get(_leaf(key), default)
        if isinstance(value, time) and value.tzinfo is None:
            return value
        try:
            return parse_clock_time(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def weekday(self, t: dict[str, Any], key: str, default: int) -> int:
        if _leaf(key) not in t:
            return default
        try:
            return parse_weekday(t[_leaf(key)])
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def array(self, t: dict[str, Any], key: str) -> list[Any]:
        value = t[_leaf(key)]
        if not isinstance(value, list):
            raise self.error(key, f"expected a list [...], got a {_toml_type(value)}")
        return value

    def path(self, t: dict[str, Any], key: str, default: Path) -> Path:
        text = self.string(t, key, str(default))
        path = Path(text)
        if text.startswith("~") and self.environ.get("HOME"):
            path = Path(self.environ["HOME"]) / text[1:].lstrip("/\\")
        return Path(os.path.abspath(self.base / path))

    def subpath(self, t: dict[str, Any], key: str, default: str) -> str:
        text = self.string(t, key, default)
        parts = PurePosixPath(text.replace("\\", "/"))
        if parts.is_absolute() or ".." in parts.parts:
            raise self.error(key, f"{text!r} must be a path inside content.path")
        return text


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "table"
    return "date or time" if isinstance(value, date | time) else type(value).__name__


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _suggest_key(section: str, key: str) -> str:
    known = [f.name for f in fields(_SECTIONS[section])]
    close = get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {section}.{close[0]}?"
    elsewhere = [s for s, cls in _SECTIONS.items() if key in {f.name for f in fields(cls)}]
    if elsewhere:
        return f"; it belongs in [{elsewhere[0]}] ({elsewhere[0]}.{key})"
    return f"; known keys of [{section}]: {', '.join(known)}"


def _config_keys(cls: type) -> list[str]:
    """The keys a config section may hold: its fields, less those set at start-up."""
    return [f.name for f in fields(cls) if f.name not in _NOT_CONFIG_KEYS]


_NOT_CONFIG_KEYS = frozenset({"key_prefix"})

# The sub-tables a `[[series]]` entry may have: each a top-level section's keys (content:
# only the series' own folders and checkout), a key not set coming from that section.
_SERIES_SUBTABLES = ("content", "announcements", "reminders", "events", "optin", "ama")
_SERIES_CONTENT_KEYS = ("path", "episodes", "recaps", "authors", "ama", "branch", "remote")


class _SeriesLoader(_Loader):
    """One `[[series]]` entry read into a whole Settings view. Its errors name the series:
    ``series[talk-tuesdays].reminders.offsets``; a bad value the series took from a
    top-level section is named there (``reminders.offsets``)."""

    def __init__(
        self,
        parent: _Loader,
        series_id: str,
        entry: dict[str, Any],
        tables: dict[str, dict[str, Any]],
    ):
        super().__init__(parent.file, parent.base, parent.environ)
        self.scope = f"series[{series_id}]"
        self.entry = entry
        self.top = tables
        self.own: dict[str, dict[str, Any]] = {}
        known = _config_keys(SeriesSettings)
        for key, value in entry.items():
            if key in _SERIES_SUBTABLES:
                if not isinstance(value, dict):
                    raise self.error(
                        f"{key}", f"expected a table [series.{key}], got a {_toml_type(value)}"
                    )
                allowed = (
                    list(_SERIES_CONTENT_KEYS) if key == "content" else _config_keys(_SECTIONS[key])
                )
                for sub in value:
                    if sub not in allowed:
                        hint = (
                            f"; [content] {sub} is shared by every series: set it there"
                            if key == "content" and sub in _config_keys(ContentSettings)
                            else _suggest_key(key, sub)
                        )
                        raise self.error(f"{key}.{sub}", "unknown key" + hint)
                self.own[key] = value
            elif key not in known:
                sections = ", ".join(_SERIES_SUBTABLES)
                raise self.error(
                    f"series.{key}",
                    f"unknown key; a series has {', '.join(known)} and the sub-tables "
                    f"{sections}" + _did_you_mean(key, [*known, *_SERIES_SUBTABLES]),
                )

    def error(self, key: str, message: str) -> ConfigError:
        section, _, rest = key.partition(".")
        section = section.split("[", 1)[0]
        if section == "series":
            key = f"{self.scope}.{rest}" if rest else self.scope
        else:
            root = re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else ""
            if root and root not in self.own.get(section, {}) and root in self.top.get(section, {}):
                return ConfigError(message, key=key, file=self.file)  # the top-level's value
            key = f"{self.scope}.{key}"
        return ConfigError(message, key=key, file=self.file)

    def merged(self, section: str) -> dict[str, Any]:
        return {**self.top.get(section, {}), **self.own.get(section, {})}

    def view(self, shared: dict[str, Any]) -> Settings:
        series_table = {k: v for k, v in self.entry.items() if k not in _SERIES_SUBTABLES}
        series_table.setdefault("name", self.entry["id"])
        return Settings(
            content=self.content(self.merged("content")),
            series=self.series(series_table),
            announcements=self.announcements(self.merged("announcements")),
            reminders=self.reminders(self.merged("reminders")),
            events=self.events(self.merged("events")),
            optin=self.optin(self.merged("optin")),
            ama=self.ama(self.merged("ama")),
            **shared,
        )


def _check_lineup(loader: _Loader, views: list[Settings]) -> None:
    """What two series must not share: an id, a name, a folder of episodes, recaps or AMA
    records (each series' index would read the other's files as its own)."""
    seen: dict[tuple[str, object], str] = {}
    for view in views:
        sid = view.series.id
        content = view.content
        owned: list[tuple[str, object, str]] = [
            ("id", sid, f"series[{sid}].id"),
            ("name", view.series.name.strip().lower(), f"series[{sid}].name"),
            ("episodes", content.path / content.episodes, f"series[{sid}].content.episodes"),
            ("recaps", content.path / content.recaps, f"series[{sid}].content.recaps"),
            ("ama", content.path / content.ama, f"series[{sid}].content.ama"),
        ]
        for what, value, key in owned:
            other = seen.get((what, value))
            if other is not None:
                shown = value if isinstance(value, str) else os.path.relpath(str(value))
                raise loader.error(
                    key,
                    f"series {other} has the same {what} ({shown}); "
                    + (
                        "every series needs its own"
                        if what in ("id", "name")
                        else f"give each series its own {what} folder (content.{what})"
                    ),
                )
            seen[(what, value)] = sid
