"""The bot, running for real against the local Discord stand-in, with a git content repository.

One place that builds the world the end-to-end tests, `amabot demo` and the benchmarks share:
a sandbox guild named after the series (announcement, reminder and stage channels, the
Organisers and member roles, a few members), a bare "GitHub" remote with the bot's checkout
and an author's clone, a config file written out and loaded the way operators' files are,
and the real `AmaBot` started against all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.clock import Clock, system_clock
from bot.config import Settings, load_settings
from bot.discord.app import AmaBot
from bot.web.webhook import sign
from testkit.sandbox import Sandbox
from testkit.sandbox.state import MANAGE_CHANNELS, MOVE_MEMBERS, MUTE_MEMBERS

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Content Author",
    "GIT_AUTHOR_EMAIL": "author@example.org",
    "GIT_COMMITTER_NAME": "Content Author",
    "GIT_COMMITTER_EMAIL": "author@example.org",
    "GIT_TERMINAL_PROMPT": "0",
}
SAMPLE_CONTENT = Path(__file__).resolve().parent.parent / "content"
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - a throwaway secret for local runs only


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, **GIT_ENV}
    # A fixed executable with argument lists, never a shell.
    done = subprocess.run(  # noqa: S603
        ["git", *args],  # noqa: S607
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


class ContentRepo:
    """A bare remote (what GitHub holds), the bot's checkout, and an author's clone."""

    def __init__(self, base: Path):
        self.base = base
        self.remote = base / "remote.git"
        self.checkout = base / "checkout"
        self.author = base / "author"

    @classmethod
    def create(cls, base: Path, source: Path | None = None) -> ContentRepo:
        repo = cls(base)
        base.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", str(repo.remote), cwd=base)
        git("clone", "-q", str(repo.remote), str(repo.author), cwd=base)
        git("checkout", "-q", "-B", "main", cwd=repo.author)
        if source is not None:
            shutil.copytree(source, repo.author, dirs_exist_ok=True)
        (repo.author / ".keep").write_text("content repository\n")
        git("add", "-A", cwd=repo.author)
        git("commit", "-q", "-m", "Initial content", cwd=repo.author)
        git("push", "-q", "origin", "main", cwd=repo.author)
        git("clone", "-q", "-b", "main", str(repo.remote), str(repo.checkout), cwd=base)
        return repo

    def commit(self, files: Mapping[str, str | None], message: str, *, push: bool = True) -> str:
        """Write (or delete, for None) files in the author's clone, commit, push; the sha."""
        for rel, text in files.items():
            path = self.author / rel
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        git("add", "-A", cwd=self.author)
        git("commit", "-q", "-m", message, cwd=self.author)
        if push:
            git("push", "-q", "origin", "main", cwd=self.author)
        return git("rev-parse", "HEAD", cwd=self.author)

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.checkout)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, sections: Mapping[str, Any]) -> Path:
    """A config file from {section: {key: value}}; a section given as a list of tables is
    an array of tables (``[[series]]``), each table's dict values its sub-tables
    (``[series.reminders]``)."""
    lines: list[str] = []
    for section, values in sections.items():
        if isinstance(values, list | tuple):
            for table in values:
                lines.append(f"[[{section}]]")
                subs = {k: v for k, v in table.items() if isinstance(v, dict)}
                lines.extend(
                    f"{key} = {_toml_value(value)}"
                    for key, value in table.items()
                    if key not in subs
                )
                for sub, sub_values in subs.items():
                    lines.append(f"[{section}.{sub}]")
                    lines.extend(f"{k} = {_toml_value(v)}" for k, v in sub_values.items())
                lines.append("")
            continue
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass
class ShowWorld:
    """A series beside the harness' first one: its folders in the content repository, its
    own announcement and reminder channels and its role in the sandbox guild."""

    id: str
    name: str
    announcements: Any = None
    reminders: Any = None
    role: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # more keys / sub-tables for it

    @property
    def folder(self) -> str:
        return self.id

    def table(self) -> dict[str, Any]:
        table: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "content": {
                "episodes": f"{self.folder}/episodes",
                "recaps": f"{self.folder}/recaps",
                "ama": f"{self.folder}/ama",
            },
            "announcements": {"channel_id": self.announcements.id, "role_id": self.role.id},
            "reminders": {"channel_id": self.reminders.id, "role_id": self.role.id},
        }
        for key, value in self.extra.items():
            if isinstance(value, dict):
                table.setdefault(key, {}).update(value)
            else:
                table[key] = value
        return table


@dataclass
class Harness:
    """A sandbox guild, a content repository and the bot's config; `start_bot()` runs it."""

    base: Path
    clock: Clock = system_clock
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    content_source: Path | None = None
    series: str = "Model Mondays"
    validate: bool | None = True  # None: when jsonschema is installed (the demo)
    guild_ready_timeout: float = 0.1
    sweep_interval: float = 30.0

    def __post_init__(self) -> None:
        # The stand-in keeps the bot's time: Discord refuses events that start in its past.
        self.sandbox = Sandbox(
            clock=self.clock, validate=self.validate, validate_responses=self.validate
        )
        self.bot: AmaBot | None = None
        self._bot_task: asyncio.Task[None] | None = None
        self.settings: Settings | None = None
        self.environ: dict[str, str] = {}
        # Series beside the first (`add_series`): the config is then `[[series]]`.
        self.shows: list[ShowWorld] = []

    # -- world -----------------------------------------------------------------------------

    async def start(self) -> Harness:
        await self.sandbox.start()
        sb = self.sandbox
        self.guild = sb.add_guild(self.series)
        self.announcements = sb.add_channel(self.guild, "announcements", "announcement")
        self.reminders = sb.add_channel(self.guild, "reminders", "text")
        self.stage = sb.add_channel(self.guild, "ama-stage", "stage")
        self.general = sb.add_channel(self.guild, "general", "text")
        # guild-scheduled-event.mdx: a stage event also needs Manage Channels, Mute Members and
        # Move Members on the stage channel; the admin grants them to the bot's role there.
        await sb.set_overwrite(
            self.stage, sb.bot_role(self.guild), allow=MANAGE_CHANNELS | MUTE_MEMBERS | MOVE_MEMBERS
        )
        self.organisers_role = sb.add_role(self.guild, "Organisers")
        self.members_role = sb.add_role(self.guild, self.series, mentionable=True)
        self.organiser = sb.add_member(self.guild, "ava", roles=[self.organisers_role])
        self.member = sb.add_member(self.guild, "sam", roles=[self.members_role])
        source = self.content_source or SAMPLE_CONTENT
        self.repo = await asyncio.to_thread(ContentRepo.create, self.base / "repo", source)
        self.environ = {"DISCORD_TOKEN": sb.token, "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET}
        self.config_path = self.write_config()
        self.settings = load_settings(self.config_path, environ=self.environ)
        return self

    def config_sections(self) -> dict[str, dict[str, Any]]:
        sections: dict[str, dict[str, Any]] = {
            "discord": {
                "api_base": self.sandbox.api_base,
                "gateway_url": self.sandbox.gateway_url,
                "guild_id": self.guild.id,
            },
            "content": {"path": str(self.repo.checkout), "poll_interval": "60s"},
            "storage": {"database": str(self.base / "amabot.sqlite3")},
            "series": self._series_section(),
            "announcements": {
                "channel_id": self.announcements.id,
                "role_id": self.members_role.id,
                "backlog_days": 0,
            },
            "reminders": {"channel_id": self.reminders.id, "role_id": self.members_role.id},
            "organisers": {"role_ids": [self.organisers_role.id]},
            "webhook": {"listen": "127.0.0.1:0"},
        }
        for section, values in self.overrides.items():
            if section == "series" and self.shows:
                sections["series"][0].update(values)
                continue
            sections.setdefault(section, {}).update(values)
        return sections

    def _series_section(self) -> Any:
        if not self.shows:
            return {"name": self.series}
        first = {"id": _slug(self.series), "name": self.series}
        return [first, *(show.table() for show in self.shows)]

    def add_series(self, series_id: str, name: str, **extra: Any) -> ShowWorld:
        """A second (third...) series: its channels and role in the guild, its folders
        ``<id>/episodes`` and ``<id>/recaps`` in the content repository, the config
        rewritten as ``[[series]]`` and reloaded (restart the bot to use it)."""
        sb = self.sandbox
        show = ShowWorld(
            id=series_id,
            name=name,
            announcements=sb.add_channel(self.guild, f"{series_id}-announcements", "announcement"),
            reminders=sb.add_channel(self.guild, f"{series_id}-reminders", "text"),
            role=sb.add_role(self.guild, name, mentionable=True),
            extra=dict(extra),
        )
        self.shows.append(show)
        self.reload_config()
        return show

    def reload_config(self) -> Settings:
        self.config_path = self.write_config()
        self.settings = load_settings(self.config_path, environ=self.environ)
        return self.settings

    def show(self, series_id: str) -> ShowWorld:
        return next(s for s in self.shows if s.id == series_id)

    def write_config(self) -> Path:
        return write_config(self.base / "amabot.toml", self.config_sections())

    async def stop(self) -> None:
        await self.stop_bot()
        await self.sandbox.stop()

    async def __aenter__(self) -> Harness:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the bot ---------------------------------------------------------------------------

    async def start_bot(self, *, ready_within: float = 15.0) -> AmaBot:
        if self.settings is None:
            raise RuntimeError("Harness.start() first")
        bot = AmaBot(
            self.settings,
            clock=self.clock,
            guild_ready_timeout=self.guild_ready_timeout,
            sweep_interval=self.sweep_interval,
            environ=self.environ,
        )
        self.bot = bot
        self._bot_task = asyncio.create_task(bot.start(self.sandbox.token), name="harness-bot")
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._bot_task}, timeout=ready_within, return_when="FIRST_COMPLETED"
        )
        if ready not in done:
            ready.cancel()
            if self._bot_task in done and self._bot_task.exception() is not None:
                raise self._bot_task.exception()  # type: ignore[misc]
            raise TimeoutError(f"the bot did not become ready within {ready_within}s")
        return bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._bot_task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._bot_task
        self.bot = None
        self._bot_task = None

    async def restart_bot(self) -> AmaBot:
        await self.stop_bot()
        return await self.start_bot()

    @property
    def posting(self):
        if self.bot is None:
            raise RuntimeError("the bot is not running")
        return self.bot.posting

    # -- content changes -------------------------------------------------------------------

    async def merge(self, files: Mapping[str, str | None], message: str) -> str:
        return await asyncio.to_thread(self.repo.commit, files, message)

    async def send_webhook(
        self,
        payload: Mapping[str, Any] | None = None,
        *,
        event: str = "push",
        secret: str | None = None,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> int:
        """POST a GitHub-style delivery to the bot's webhook receiver; the HTTP status."""
        webhook = self.bot.webhook if self.bot else None
        if webhook is None:
            raise RuntimeError("the webhook receiver is not running")
        if body is None:
            body = json.dumps(
                payload or {"ref": "refs/heads/main", "after": self.repo.head()}
            ).encode()
        headers = {"X-GitHub-Event": event, "Content-Type": "application/json"}
        if signature is None and secret is not False:
            signature = sign(body, (secret or WEBHOOK_SECRET).encode())
        if signature:
            headers["X-Hub-Signature-256"] = signature
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{webhook.url}/github", data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
