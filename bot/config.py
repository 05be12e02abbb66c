"""TOML + environment -> one frozen, validated Settings object.

The dataclasses below are the contract every other module reads; `load_settings` (below)
parses and validates a file into them. Defaults here are the defaults of the example config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path


class ConfigError(Exception):
    """A config value is missing or wrong. The message names the key, the file and the fault."""

    exit_code = 2

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None):
        self.key = key
        self.file = file
        where = ", ".join(p for p in (f"file {file}" if file else None, key and f"key {key}") if p)
        super().__init__(f"config error: {where}: {message}" if where else f"config error: {message}")


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    token_env: str = "DISCORD_TOKEN"
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    guild_id: int = 0


@dataclass(frozen=True, slots=True)
class ContentSettings:
    path: Path = Path("content")  # resolved against the config file's folder
    episodes: str = "episodes"
    recaps: str = "recaps"
    authors: str = "authors.yml"
    poll_interval: float = 60.0  # seconds between `git fetch` polls
    branch: str | None = None  # None = the checkout's current branch
    remote: str = "origin"
    git_timeout: float = 30.0

    @property
    def episodes_dir(self) -> Path:
        return self.path / self.episodes

    @property
    def recaps_dir(self) -> Path:
        return self.path / self.recaps

    @property
    def authors_file(self) -> Path:
        return self.path / self.authors


@dataclass(frozen=True, slots=True)
class StorageSettings:
    database: Path = Path("data/amabot.sqlite3")


@dataclass(frozen=True, slots=True)
class SeriesSettings:
    name: str = "Model Mondays"
    timezone: str = "America/Los_Angeles"
    livestream_time: time = time(10, 30)
    livestream_duration: timedelta = timedelta(minutes=30)
    ama_weekday: int = 4  # Monday = 0 ... Friday = 4
    ama_time: time = time(10, 30)
    ama_duration: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class AnnouncementSettings:
    channel_id: int = 0
    role_id: int = 0  # 0 = ping nobody
    backlog_days: int = 0


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    channel_id: int = 0
    role_id: int = 0
    offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1), timedelta(minutes=10))
    # Explicit grace per offset; offsets not listed use default_grace(offset).
    grace: tuple[tuple[timedelta, timedelta], ...] = ()
    livestream_channel_id: int = 0  # 0 = channel_id
    ama_channel_id: int = 0
    livestream_role_id: int = 0  # 0 = role_id
    ama_role_id: int = 0

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


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    listen: str = ""  # "host:port"; empty = off
    secret_env: str = "GITHUB_WEBHOOK_SECRET"


@dataclass(frozen=True, slots=True)
class SiteSettings:
    recaps_url: str = ""  # e.g. "https://example.org/blog/{yyyy}/{mm}/{dd}/{slug}/"


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
    source: str | None = None  # the file these came from, for messages
