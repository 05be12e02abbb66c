"""The bot as a real process that can be SIGKILLed, against a sandbox in a process of its own.

Shared by tests/resilience/ (reduced runs in CI) and bench/chaos.py, bench/load.py (full
runs). The sandbox lives in its own process so its record (every message, every request)
survives the bot's death; the bot is `python3 -m bot run --config FILE`; content changes are
real git pushes to a bare remote the bot fetches from (poll) or is told about (signed
webhook). Afterwards `verify` reads the sandbox's record and the bot's outbox (SQLite, opened
read-only after the final stop) and sorts every expected post into delivered, duplicated,
skipped, failed or lost.
"""

# Every wait here takes an explicit timeout on purpose: a run must never hang.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import default_grace
from bot.durations import duration_label, parse_duration
from bot.plan.optin import dm_key
from bot.plan.posts import Post, nonce_for
from bot.plan.reminders import reminder_key
from bot.store import open_store
from bot.web.webhook import sign
from testkit import storeview
from testkit.gap import landed as gap_landed
from testkit.harness import WEBHOOK_SECRET, ContentRepo, git, write_config
from testkit.sandbox import SandboxClient, SandboxError, SandboxTimeout

ROOT = Path(__file__).resolve().parent.parent
SERIES = "Model Mondays"
MESSAGES_ROUTE = "POST /channels/*/messages"

Say = Callable[[str], None]
AMA_EPISODE = "x91-e01"  # with Workload.ama: the episode whose AMA the run holds
AMA_AHEAD = timedelta(hours=2)  # its AMA starts this long after the run's first due time


def _quiet(_line: str) -> None:
    return None


def _answer_text(result: Any) -> str:
    """The text of the bot's answer: its follow-up when it answered in one, else the message
    it sent or edited."""
    if result.followups:
        return str(result.followups[-1].get("content") or "")
    return str(result.content or "")


def utcnow() -> datetime:
    return datetime.now(UTC)


def free_port() -> int:
    """A port free right now; the bot binds it on every restart (the webhook must not move)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


# -- processes -------------------------------------------------------------------------------


class SandboxProcess:
    """`python3 -m testkit.sandbox --port 0 --state layout.json [--knob V ...]`, driven over
    /_sandbox. `knobs` are Sandbox keywords (nonce_window=3.0, ...); unset ones keep
    Discord's defaults."""

    def __init__(self, base: Path, layout: dict[str, Any], knobs: dict[str, float] | None = None):
        self.base = base
        self.layout = layout
        self.knobs = dict(knobs or {})
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.ids: dict[str, Any] = {}
        self.clients: list[SandboxClient] = []

    async def start(self, *, clients: int = 1, validate: bool = True) -> SandboxClient:
        state = self.base / "layout.json"
        state.write_text(json.dumps(self.layout), encoding="utf-8")
        log = (self.base / "sandbox.log").open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "testkit.sandbox",
            "--port",
            "0",
            "--state",
            str(state),
            *(f"--{k.replace('_', '-')}={v}" for k, v in self.knobs.items()),
            *(() if validate else ("--no-validate",)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        log.close()
        if self.proc.stdout is None:
            raise RuntimeError("no pipe to the sandbox's stdout")
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=30)
        text = line.decode().strip()
        if "listening on" not in text:
            raise RuntimeError(f"the sandbox did not start: {text!r}; see {self.base}/sandbox.log")
        self.url = text.rsplit(" ", 1)[-1]
        ids_file = Path(str(state) + ".ids.json")
        self.ids = json.loads(await asyncio.to_thread(ids_file.read_text))[SERIES]
        # One aiohttp session holds at most 100 connections: a pool for many members at once.
        for _ in range(max(clients, 1)):
            client = SandboxClient(self.url, timeout=10.0)
            await client.connect()
            self.clients.append(client)
        return self.clients[0]

    @property
    def client(self) -> SandboxClient:
        return self.clients[0]

    def channel(self, name: str) -> int:
        return int(self.ids["channels"][name])

    def role(self, name: str) -> int:
        return int(self.ids["roles"][name])

    def member(self, name: str) -> int:
        return int(self.ids["members"][name])

    async def stop(self) -> None:
        for client in self.clients:
            await client.close()
        self.clients.clear()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@dataclass
class Downtime:
    killed_at: datetime
    serving_at: datetime | None = None  # the restarted bot answered /healthz again


class BotProcess:
    """`python3 -m bot run --config FILE`: started, SIGKILLed, restarted, stopped. With
    `gap`, the bot runs with the send-gap hook installed (testkit/gap.py)."""

    def __init__(
        self,
        config: Path,
        env: dict[str, str],
        log: Path,
        health_url: str,
        *,
        gap: Path | None = None,
    ):
        self.config = config
        self.gap = gap
        self.env = env
        self.log = log
        self.health_url = health_url
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.downtimes: list[Downtime] = []
        self.startup_seconds: list[float] = []

    async def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"=== start #{self.starts} at {_iso(utcnow())} ===\n".encode())
            out.flush()
            entry = ["testkit.gap", str(self.gap)] if self.gap is not None else ["bot"]
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                *entry,
                "run",
                "--config",
                str(self.config),
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def healthz(self, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with session.get(self.health_url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                # 503 is a bot that serves and reports something wrong (a post overdue...).
                return await resp.json() if resp.status in (200, 503) else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def wait_serving(self, *, timeout: float = 30.0) -> float:
        """Until /healthz answers (the posting service runs); seconds it took."""
        began = time.monotonic()
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - began < timeout:
                if not self.alive:
                    raise RuntimeError(f"the bot exited ({self.proc.returncode}); see {self.log}")
                if await self.healthz(session) is not None:
                    took = time.monotonic() - began
                    self.startup_seconds.append(took)
                    if self.downtimes and self.downtimes[-1].serving_at is None:
                        self.downtimes[-1].serving_at = utcnow()
                    return took
                await asyncio.sleep(0.05)
        raise TimeoutError(f"the bot did not serve /healthz within {timeout}s; see {self.log}")

    async def kill(self) -> None:
        if not self.alive:
            return
        os.kill(self.proc.pid, signal.SIGKILL)
        self.downtimes.append(Downtime(utcnow()))
        await self.proc.wait()

    async def kill_in_gap(self, gap: Path, *, within: float) -> bool:
        """Arm the send-gap hook: the bot SIGKILLs itself right after its next send is
        answered, before recording it. True if that happened within `within` seconds; else
        the hook is disarmed and the bot is SIGKILLed where it stands."""
        kill = gap / "kill"
        kill.write_text("kill", encoding="utf-8")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), within)
        if not self.alive:
            self.downtimes.append(Downtime(utcnow()))
            return True
        kill.unlink(missing_ok=True)
        if not self.alive:  # it went just as the hook was disarmed
            self.downtimes.append(Downtime(utcnow()))
            return True
        await self.kill()
        return False

    async def stop(self) -> int | None:
        if not self.alive:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout=20)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


# -- the workload ------------------------------------------------------------------------------


@dataclass
class Workload:
    """What falls due during one run. The defaults are the full chaos run of issue 7."""

    recaps: int = 20
    reminders: int = 50  # split over episodes: 2 events x len(offsets) each
    announcements: int = 10
    span: float = 60.0  # seconds (after the bot first serves) within which everything is due
    kills: int = 10
    seed: int = 7
    offsets: tuple[str, ...] = ("30s", "0m")
    grace: dict[str, str] = field(default_factory=lambda: {"30s": "5s", "0m": "5s"})
    faults: bool = False
    # With faults: each 503 burst also stores one message before answering 503 (Discord's
    # ambiguous failure), so only the bot itself can avoid posting it twice.
    ambiguous: bool = False
    members: int = 0  # extra member accounts (the load test's crowd)
    filler_episodes: int = 0  # published episodes loaded besides the workload (load test)
    filler_recaps: int = 0
    poll_interval: str = "1s"
    max_down: float = 8.0  # seconds a killed bot may stay down before its restart
    min_down: float = 0.0
    # Sandbox knobs for the run. Resilience runs use a nonce window of seconds (Discord's is
    # "a few minutes"), so only the bot itself can prevent a duplicate after a longer outage.
    sandbox: dict[str, float] = field(default_factory=dict)
    lead: float = 8.0  # seconds allowed for the first start before the first due time
    validate: bool = True  # the stand-in checks each request against Discord's spec
    # Issue 14: kills aimed at the gap between Discord's answer to a send and its record
    # (the bot SIGKILLs itself there, testkit/gap.py); at least `min_up` seconds of
    # serving between two kills, so ten kills are ten outages, not one long one.
    gap_kills: int = 0
    min_up: float = 0.0
    # Members who asked for DM reminders (livestreams, `dm_lead` before): DMs in the workload.
    dm_members: int = 0
    dm_lead: str = "30s"
    busy: int = 0  # member messages in each posting channel before the start
    bury: int = 0  # member messages posted in them while the bot is down after a gap kill
    after_store: int = 0  # sends Discord stores and then answers 503, 502 or drops
    # Kills aimed just before a reminder with an offset over a minute, down `long_down`
    # seconds: it goes out "(delayed)" (later than the 60 s on-time tolerance, within grace).
    long_downs: int = 0
    long_down: float = 75.0
    # Issue 21: the AMA on (`[ama]`, review as given), its two channels, and one episode
    # whose AMA is `AMA_AHEAD` away (organisers open it with `/ama open`).
    ama: bool = False
    ama_review: str = "pre"

    @property
    def events_per_episode(self) -> int:
        return 2 * len(self.offsets)


def episode_md(eid: str, number: int, title: str, livestream: datetime, ama: datetime | None):
    def event(start: datetime | None, url: str) -> str:
        if start is None:
            return "  start: TBD\n"
        return f"  start: {_iso(start)}\n  duration: 5m\n  url: {url}\n"

    return (
        f"---\nid: {eid}\nseason: 90\nepisode: {number}\ntitle: {title}\n"
        "guests: [Dave Voutila]\nhosts: [Nitya Narasimhan]\nstatus: scheduled\n"
        "timezone: UTC\n"
        f"livestream:\n{event(livestream, 'https://example.org/register/' + eid)}"
        f"ama:\n{event(ama, 'https://discord.gg/example?event=' + str(number))}"
        "---\nAbout it.\n"
    )


def filler_episode_md(i: int) -> str:
    season, number = i // 13 + 1, i % 13 + 1
    day = datetime(2001, 1, 1, 17, tzinfo=UTC) + timedelta(weeks=i % 1000, days=i // 1000)
    return (
        f"---\nid: f{season}-e{number:02d}\nseason: {season}\nepisode: {number}\n"
        f"title: Filler topic {i} on agents and evaluation\nsummary: Episode {i}.\n"
        f"guests: [Guest {i % 97}]\nhosts: [Nitya Narasimhan]\ntags: [t{i % 31}, agents]\n"
        f"status: published\ntimezone: UTC\nlivestream:\n  start: {_iso(day)}\n"
        f"  duration: 30m\n  url: https://example.org/e/{i}\nama:\n  start: TBD\n---\nBody.\n"
    )


def recap_md(rid: str, title: str, published: datetime, episode: str | None = None) -> str:
    lines = [
        "---",
        f"id: {rid}",
        "date:",
        f"  created: {_iso(published)}",
        "draft: false",
        "authors:",
        "  - nitya",
        "categories:",
        "  - Recaps",
        "tags:",
        "  - resilience",
        f"url: https://example.org/recaps/{rid}/",
    ]
    if episode:
        lines.append(f"episode: {episode}")
    lines += ["---", "", f"# {title}", "", f"> What {title} taught us.", ""]
    return "\n".join(lines)


AUTHORS = "authors:\n  nitya:\n    name: Nitya Narasimhan\n"


@dataclass
class Expected:
    key: str
    kind: str  # recap | reminder | announce
    channel_id: int
    due_at: datetime | None = None
    deadline: datetime | None = None
    may_fail: bool = False  # posted to the channel that answers 403


@dataclass
class Outcome:
    key: str
    kind: str
    verdict: str  # delivered | duplicated | skipped | failed | lost
    messages: int
    sends: int  # POST requests carrying its nonce (resends answered by the nonce included)
    status: str | None
    reason: str | None
    late: float | None = None  # seconds, sent (or decided) minus due
    note: str = ""


@dataclass
class RunReport:
    workload: Workload
    seed: int
    outcomes: list[Outcome]
    downtimes: list[Downtime]
    problems: list[str]  # anything that breaks the promise, beyond the table
    strays: list[str]  # bot messages in a channel with no expected key
    timings: dict[str, float]
    interactions: dict[str, Any]
    log_path: Path
    # Keys whose send Discord had answered when the bot was SIGKILLed, before the record.
    gap_landed: list[str] = field(default_factory=list)
    delayed: int = 0  # reminders delivered marked "(delayed)"
    kills: list[str] = field(default_factory=list)  # each kill: when, how, downtime

    def count(self, verdict: str, kind: str | None = None) -> int:
        return sum(
            1 for o in self.outcomes if o.verdict == verdict and (kind is None or o.kind == kind)
        )

    @property
    def lost(self) -> int:
        return self.count("lost")

    @property
    def duplicated(self) -> int:
        return self.count("duplicated")

    def table(self) -> str:
        kinds = ("recap", "announce", "reminder", "dm")
        head = f"{'kind':<10}{'expected':>9}{'delivered':>10}{'duplicated':>11}"
        head += f"{'skipped':>8}{'failed':>7}{'lost':>5}"
        rows = [head, "-" * len(head)]
        for kind in (*kinds, None):
            mine = [o for o in self.outcomes if kind is None or o.kind == kind]
            row = f"{kind or 'total':<10}{len(mine):>9}"
            for verdict, width in (
                ("delivered", 10),
                ("duplicated", 11),
                ("skipped", 8),
                ("failed", 7),
                ("lost", 5),
            ):
                row += f"{sum(1 for o in mine if o.verdict == verdict):>{width}}"
            rows.append(row)
        reasons = Counter(
            f"{o.verdict}: {_reason_shape(o.reason)}"
            for o in self.outcomes
            if o.verdict in ("skipped", "failed")
        )
        for reason, n in sorted(reasons.items()):
            rows.append(f"  {n} x {reason}")
        rows.append(
            f"killed between send and record: {len(self.gap_landed)}"
            + (f" ({', '.join(self.gap_landed)})" if self.gap_landed else "")
        )
        rows.append(f"reminders delivered marked (delayed): {self.delayed}")
        resent = sum(1 for o in self.outcomes if o.sends > 1)
        rows.append(f"resent after a crash or error (answered by the nonce, one message): {resent}")
        for o in self.outcomes:
            if o.verdict in ("lost", "duplicated"):
                rows.append(f"  {o.verdict.upper()} {o.key}: status={o.status} {o.note}")
        for line in self.problems:
            rows.append(f"  PROBLEM {line}")
        for d in self.downtimes:
            back = d.serving_at.strftime("%H:%M:%S.%f")[:-3] if d.serving_at else "never"
            rows.append(f"  down {d.killed_at.strftime('%H:%M:%S.%f')[:-3]} -> serving {back} UTC")
        for line in self.strays:
            rows.append(f"  STRAY {line}")
        return "\n".join(rows)


def _reason_shape(reason: str | None) -> str:
    """'late by 7s: past its 5s grace' -> 'late by Ns: past its 5s grace' (for counting)."""
    if not reason:
        return "(no reason)"
    head, _, tail = reason.partition(":")
    if head.startswith("late by"):
        return "late by …:" + tail
    return reason


# -- the run -------------------------------------------------------------------------------------


class World:
    """Sandbox process + content repository + config + the bot process, for one run."""

    def __init__(self, base: Path, workload: Workload, *, say: Say = _quiet):
        self.base = base
        self.w = workload
        self.say = say
        self.rng = random.Random(workload.seed)
        self.port = 0  # the webhook's, chosen once the sandbox holds its own port
        self.expected: dict[str, Expected] = {}
        self.marks: dict[str, str] = {}  # announcement marker -> "" until its key is known
        self.interaction_log: list[dict[str, Any]] = []
        self.timings: dict[str, float] = {}
        self.problems: list[str] = []
        self.kill_log: list[str] = []  # where each kill landed, for the report
        # `storage.database`: the SQLite file here, or a PostgreSQL URL (testkit/failover.py)
        self.database: str | Path = base / "amabot.sqlite3"

    def layout(self) -> dict[str, Any]:
        members = [{"name": "ava", "roles": ["Organisers"]}, {"name": "sam", "roles": [SERIES]}]
        members += [{"name": f"m{i:04d}", "roles": [SERIES]} for i in range(self.w.members)]
        members += [{"name": f"d{i:03d}", "roles": [SERIES]} for i in range(self.w.dm_members)]
        return {
            "guilds": [
                {
                    "name": SERIES,
                    "channels": [
                        {"name": "announcements", "type": "announcement"},
                        {"name": "reminders", "type": "text"},
                        {"name": "ama-reminders", "type": "text"},
                        {"name": "general", "type": "text"},
                        *(
                            [
                                {"name": "ama-questions", "type": "text"},
                                {"name": "ama-review", "type": "text"},
                            ]
                            if self.w.ama
                            else []
                        ),
                    ],
                    "roles": [
                        {"name": "Organisers"},
                        {"name": SERIES, "mentionable": True},
                    ],
                    "members": members,
                }
            ]
        }

    async def setup(self) -> None:
        began = time.monotonic()
        self.base.mkdir(parents=True, exist_ok=True)
        self.sandbox = SandboxProcess(self.base, self.layout(), self.w.sandbox)
        await self.sandbox.start(
            clients=max(1, (self.w.members + 99) // 100), validate=self.w.validate
        )
        self.sb = self.sandbox.client
        # Chosen only now: a port picked earlier could be handed to the sandbox meanwhile.
        self.port = free_port()
        source = self.base / "source"
        await asyncio.to_thread(self._write_filler, source)
        self.repo = await asyncio.to_thread(ContentRepo.create, self.base / "repo", source)
        # Chosen once the filler is written and committed (20 s for 10,000 episodes on a busy
        # machine): the first start gets its whole `lead` before the first due time, else the
        # first reminders were already past their grace when the bot started.
        self.first_due = utcnow() + timedelta(seconds=self.w.lead)
        timed = await asyncio.to_thread(self._timed_episodes)
        await asyncio.to_thread(self.repo.commit, timed, "The workload's episodes")
        self.config = write_config(self.base / "amabot.toml", self.config_sections())
        env = {k: v for k, v in os.environ.items() if k != "AMABOT_CONFIG"}
        env.update({"DISCORD_TOKEN": self.sb.token, "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET})
        self.gap = self.base / "gap"
        self.gap.mkdir(exist_ok=True)
        # The hook acts only when the harness drops a `kill` file in the folder.
        self.bot = BotProcess(
            self.config,
            env,
            self.base / "bot.log",
            f"http://127.0.0.1:{self.port}/healthz",
            gap=self.gap,
        )
        self.timings["setup_s"] = time.monotonic() - began

    def config_sections(self) -> dict[str, dict[str, Any]]:
        sb = self.sandbox
        reminders: dict[str, Any] = {
            "channel_id": sb.channel("reminders"),
            "role_id": sb.role(SERIES),
            "offsets": list(self.w.offsets),
        }
        if self.w.grace:
            reminders["grace"] = dict(self.w.grace)
        if self.w.faults:
            # One kind of reminder goes to the channel that answers 403.
            reminders["ama_channel_id"] = sb.channel("ama-reminders")
        return {
            "discord": {
                "api_base": self.sb.api_base,
                "gateway_url": self.sb.gateway_url,
                "guild_id": int(sb.ids["id"]),
                "connect_timeout": "30s",
            },
            "content": {"path": str(self.repo.checkout), "poll_interval": self.w.poll_interval},
            "storage": {"database": str(self.database)},
            "series": {"name": SERIES, "timezone": "UTC"},
            "announcements": {
                "channel_id": sb.channel("announcements"),
                "role_id": sb.role(SERIES),
                "backlog_days": 1,
            },
            "reminders": reminders,
            "organisers": {"role_ids": [sb.role("Organisers")]},
            "webhook": {"listen": f"127.0.0.1:{self.port}"},
            **(
                {
                    "ama": {
                        "enabled": True,
                        "channel_id": sb.channel("ama-questions"),
                        "review_channel_id": sb.channel("ama-review"),
                        "review": self.w.ama_review,
                    }
                }
                if self.w.ama
                else {}
            ),
        }

    def _write_filler(self, source: Path) -> None:
        """What does not depend on the clock: authors, filler episodes, old recaps."""
        (source / "episodes").mkdir(parents=True)
        (source / "recaps").mkdir()
        (source / "authors.yml").write_text(AUTHORS)
        for i in range(self.w.filler_episodes):
            (source / "episodes" / f"filler-{i:05d}.md").write_text(filler_episode_md(i))
        old = datetime(2020, 1, 1, tzinfo=UTC)
        for i in range(self.w.filler_recaps):
            rid = f"old-{i:05d}"
            (source / "recaps" / f"{rid}.md").write_text(
                recap_md(rid, f"Old recap {i} about agents", old + timedelta(days=i))
            )

    def _timed_episodes(self) -> dict[str, str]:
        """The episodes whose reminders fall due from `first_due` on (path -> text), and
        what each of their posts is expected to do."""
        files: dict[str, str] = {}
        if self.w.ama:
            ama = self.first_due + AMA_AHEAD
            files[f"episodes/{AMA_EPISODE}.md"] = episode_md(
                AMA_EPISODE, 1, "AMA episode", ama - timedelta(hours=1), ama
            )
        offsets = [parse_duration(o) for o in self.w.offsets]
        biggest = max(offsets)
        n_events = -(-self.w.reminders // len(offsets))  # events needed
        n_episodes = -(-n_events // 2)
        # Event starts spread so every reminder falls due within [first_due, first_due + span].
        window = max(self.w.span - biggest.total_seconds(), 1.0)
        starts = sorted(
            self.first_due + biggest + timedelta(seconds=self.rng.uniform(0, window))
            for _ in range(n_events)
        )
        sb = self.sandbox
        for j in range(n_episodes):
            eid = f"x90-e{j:02d}"
            livestream = starts[2 * j]
            ama = starts[2 * j + 1] if 2 * j + 1 < n_events else None
            files[f"episodes/{eid}.md"] = episode_md(
                eid, j + 1, f"Chaos episode {j:02d}", livestream, ama
            )
            for kind, start in (("livestream", livestream), ("ama", ama)):
                if start is None:
                    continue
                for offset in offsets:
                    key = reminder_key(eid, kind, offset, start)
                    grace = parse_duration(self.w.grace.get(duration_label(offset), "5m"))
                    due = start - offset
                    deadline = due + grace if offset <= timedelta(0) else min(due + grace, start)
                    denied = self.w.faults and kind == "ama"
                    channel = sb.channel("ama-reminders" if denied else "reminders")
                    self.expected[key] = Expected(key, "reminder", channel, due, deadline, denied)
                if kind == "livestream":
                    lead = parse_duration(self.w.dm_lead)
                    for i in range(self.w.dm_members):
                        member = sb.member(f"d{i:03d}")
                        key = dm_key(member, eid, "livestream", lead, start)
                        due = start - lead
                        deadline = min(due + default_grace(lead), start)
                        self.expected[key] = Expected(key, "dm", 0, due, deadline)
        return files

    # -- driving -------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before the first start: members' DM choices in the bot's database (as /notify
        would record them) and channels already busy with members' chatter."""
        if self.w.dm_members:
            store = await open_store(self.database)
            try:
                lead = parse_duration(self.w.dm_lead)
                for i in range(self.w.dm_members):
                    member = self.sandbox.member(f"d{i:03d}")
                    await store.optin.set_pref(member, "livestream", "dm", lead, utcnow())
            finally:
                await store.close()
        if self.w.busy:
            sam = self.sandbox.member("sam")
            for name in ("announcements", "reminders"):
                await self.sb.seed_messages(
                    self.sandbox.channel(name), self.w.busy, author=sam, every=0.01, last_ago=1.0
                )

    async def bury(self) -> None:
        """Members talk on while the bot is down: its last post sinks under `bury` more."""
        if not self.w.bury:
            return
        sam = self.sandbox.member("sam")
        for name in ("announcements", "reminders"):
            await self.sb.seed_messages(
                self.sandbox.channel(name), self.w.bury, author=sam, every=0.001, last_ago=0.01
            )

    def landed(self) -> list[str]:
        """The keys of the sends killed between Discord's answer and their record (the
        hook sees the Sender's nonce; an unexpected one is shown as it is)."""
        keys = {nonce_for(k): k for k in self.expected}
        return [keys.get(nonce, nonce) for nonce in gap_landed(self.gap)]

    async def start_bot(self) -> float:
        await self.bot.start()
        return await self.bot.wait_serving(timeout=60)

    async def merge_recap(self, i: int) -> None:
        rid = f"chaos-{i:02d}"
        title = f"Chaos recap {i:02d}"
        text = recap_md(rid, title, utcnow() - timedelta(seconds=2))
        await asyncio.to_thread(self.repo.commit, {f"recaps/{rid}.md": text}, f"Recap {rid}")
        self.expected[f"recap:{rid}"] = Expected(
            f"recap:{rid}", "recap", self.sandbox.channel("announcements")
        )
        if i % 2 == 0:  # the other half is seen by the poll only
            await self.send_webhook()

    async def send_webhook(self) -> int | None:
        head = await asyncio.to_thread(author_head, self.repo)
        body = json.dumps({"ref": "refs/heads/main", "after": head}).encode()
        headers = {
            "X-GitHub-Event": "push",
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, WEBHOOK_SECRET.encode()),
        }
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"http://127.0.0.1:{self.port}/github",
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as resp,
            ):
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None  # the bot is down: the poll after its restart finds the commit

    async def interact(self, what: Callable[[], Any], *, label: str, deadline: float) -> Any:
        """One member action, retried the way a person would when the bot does not answer
        (it was killed, or the gateway was down): wait for it to be back, do it again."""
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            began = time.monotonic()
            try:
                result = await what()
            except SandboxTimeout:
                self.interaction_log.append({"label": label, "outcome": "timeout"})
                continue
            except SandboxError as exc:
                if "gateway session" not in str(exc):
                    raise
                await asyncio.sleep(0.25)
                continue
            self.interaction_log.append(
                {"label": label, "outcome": "answered", "s": time.monotonic() - began}
            )
            return result
        raise TimeoutError(f"{label}: no answer after {tries} tries")

    async def _final(self, pending: Awaitable[Any]) -> Any:
        """The bot's final answer to an interaction: a busy bot acknowledges first and
        answers later (it edits the message or sends a follow-up); the stand-in tells when."""
        return await self.sb.wait_final(await pending, timeout=6)

    async def announce(self, i: int, ahead: float, deadline: float) -> None:
        """An organiser runs /announce create, then clicks Confirm on the preview."""
        marker = f"Chaos announcement {i:02d}"
        self.marks[marker] = ""
        ava, general = self.sandbox.member("ava"), self.sandbox.channel("general")
        while time.monotonic() < deadline:
            due = utcnow() + timedelta(seconds=ahead)
            preview = await self.interact(
                lambda due=due: self._final(
                    self.sb.slash(
                        ava,
                        general,
                        "announce",
                        subcommand="create",
                        message=f"{marker}: the AMA moves to the stage.",
                        when=_iso(due),
                        timeout=6,
                    )
                ),
                label=f"announce create {i}",
                deadline=deadline,
            )
            confirm = _custom_id(preview.components, "amabot:confirm:")
            if confirm is None:
                if "in the past" in (preview.content or ""):
                    continue  # the bot was down longer than the lead time: ask again
                raise AssertionError(f"no Confirm button on the preview: {preview.content!r}")
            result = await self.interact(
                lambda msg=preview.message, cid=confirm: self._final(
                    self.sb.click(ava, general, msg["id"], cid, timeout=6)
                ),
                label=f"announce confirm {i}",
                deadline=deadline,
            )
            text = _answer_text(result)
            if "Scheduled `announce:" in text:
                self.marks[marker] = text.split("`")[1]
                return
            if "already handled" in text:
                # An earlier click got through before the bot died: the row should exist.
                self.marks[marker] = "?"
                return
            if "has passed" in text or "expired" in text:
                continue  # the organiser runs /announce create again
            raise AssertionError(f"unexpected answer to Confirm: {text!r}")

    async def wait_settled(self, *, timeout: float) -> dict[str, Any]:
        """Until the bot has pulled the last commit and holds no pending post."""
        head = await asyncio.to_thread(author_head, self.repo)
        limit = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < limit:
                last = await self.bot.healthz(session)
                if (
                    last is not None
                    and last.get("last_commit") == head
                    and last["posts"]["pending"] == 0
                ):
                    return last
                await asyncio.sleep(0.2)
        raise TimeoutError(f"the bot did not settle within {timeout}s: {last}")

    async def finish(self) -> None:
        await self.bot.stop()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.bot.stop()
        await self.sandbox.stop()


def _custom_id(components: list[dict[str, Any]], prefix: str) -> str | None:
    for row in components or []:
        for c in row.get("components", []):
            if str(c.get("custom_id", "")).startswith(prefix):
                return c["custom_id"]
    return None


def author_head(repo: ContentRepo) -> str:
    """The author's last pushed commit: what the bot's checkout must end up on."""
    return git("rev-parse", "HEAD", cwd=repo.author)


Scenario = Callable[["World"], Any]  # an async job run beside the workload


async def run_chaos(
    base: Path,
    workload: Workload,
    *,
    say: Say = _quiet,
    before_start: Scenario | None = None,
    scenario: Scenario | None = None,
) -> RunReport:
    """The crash test (workload.kills > 0) or the fault test (workload.faults): drive the
    workload, kill and restart the bot or inject Discord's bad days, then verify.
    `before_start(world)` runs once the sandbox is up, before the bot's first start (to arm
    faults, set overwrites); `scenario(world)` runs beside the workload (a targeted crash)."""
    world = World(base, workload, say=say)
    await world.setup()
    try:
        await world.prepare()
        if before_start is not None:
            await before_start(world)
        return await _drive(world, scenario)
    finally:
        await world.close()


class Timeline:
    """The workload's merges and organisers' announcements on the clock from `t0`, drawn from
    the world's seeded rng (the crash run's and the failover run's alike)."""

    def __init__(self, world: World, t0: float, *, announce_within: float, grace: float):
        span = world.w.span
        self.world, self.t0 = world, t0
        # Everything happens within [0, span] seconds from t0.
        self.recap_at = sorted(world.rng.uniform(0.5, span * 0.85) for _ in range(world.w.recaps))
        self.announce_at = sorted(
            world.rng.uniform(0.5, span * announce_within) for _ in range(world.w.announcements)
        )
        self.deadline = t0 + span + grace

    async def at(self, offset: float) -> None:
        await asyncio.sleep(max(0.0, self.t0 + offset - time.monotonic()))

    async def recaps(self) -> None:
        for i, when in enumerate(self.recap_at):
            await self.at(when)
            await self.world.merge_recap(i)

    async def announcements(self) -> None:
        async def one(i: int, when: float) -> None:
            await self.at(when)
            await self.world.announce(i, self.world.rng.uniform(12, 20), self.deadline)

        await asyncio.gather(*(one(i, when) for i, when in enumerate(self.announce_at)))


async def _drive(world: World, scenario: Scenario | None = None) -> RunReport:
    w, say = world.w, world.say
    rng = world.rng
    began = time.monotonic()
    first = await world.start_bot()
    say(f"bot serving after {first:.1f}s; seed {w.seed}")
    t0 = time.monotonic()
    span = w.span
    # Everything happens within [0, span] seconds from t0.
    timeline = Timeline(world, t0, announce_within=0.6, grace=60)
    at, recaps, announcements = timeline.at, timeline.recaps, timeline.announcements
    kill_at = _spread(rng, w.kills, 2.0, span, gap=max(span / (w.kills + 1) * 0.6, 3.0))

    # Half the kills land at random, half just after something fell due (mid-delivery);
    # each time the bot stays down 0 to `max_down` seconds (a crash loop, a host reboot).
    aimed = [
        (e.due_at - utcnow()).total_seconds() + (time.monotonic() - t0)
        for e in world.expected.values()
        if e.due_at is not None
    ]
    kill_plan: list[tuple[float, float, str]] = []
    gap_left = w.gap_kills
    for i, when in enumerate(kill_at):
        how = "random"
        if (i % 2 or gap_left >= w.kills - i) and aimed:
            near = min(aimed, key=lambda a, when=when: abs(a - when))
            when = max(near + rng.uniform(0.0, 0.4), 0.5)
            how = "aimed"
            if gap_left > 0:
                # Armed a little before the due time: the next send is the one killed.
                when, how, gap_left = max(near - 0.3, 0.5), "gap", gap_left - 1
        kill_plan.append((when, rng.uniform(min(w.min_down, w.max_down), w.max_down), how))
    long_aims = sorted(
        (e.due_at - utcnow()).total_seconds() + (time.monotonic() - t0)
        for e in world.expected.values()
        if e.kind == "reminder"
        and e.due_at is not None
        and e.deadline is not None
        and (e.deadline - e.due_at) > timedelta(seconds=w.long_down - 5)
    )
    for when in long_aims[: w.long_downs]:
        kill_plan.append((max(when - 3.0, 0.5), w.long_down, "long"))
    kill_plan.sort()

    async def kills() -> None:
        for when, down, how in kill_plan:
            await at(when)
            moment = time.monotonic() - t0
            if how == "gap":
                landed = await world.bot.kill_in_gap(world.gap, within=8.0)
                how = "gap (landed)" if landed else "gap (no send came; plain SIGKILL)"
            else:
                await world.bot.kill()
            line = f"SIGKILL at +{moment:5.1f}s, {how}, down {down:.1f}s"
            world.kill_log.append(line)
            say("  " + line)
            await world.bury()
            await asyncio.sleep(down)
            await world.bot.start()
            await world.bot.wait_serving(timeout=60)
            if w.min_up:
                await asyncio.sleep(w.min_up)  # serving for a while: each kill its own outage

    async def after_store() -> None:
        statuses: list[int | str] = [503, "drop", 502]
        moments = sorted(rng.uniform(1.0, span * 0.8) for _ in range(w.after_store))
        for n, when in enumerate(moments):
            await at(when)
            await world.sb.fail_after_store(MESSAGES_ROUTE, statuses[n % 3], count=1)
            say(f"  stored-then-{statuses[n % 3]} armed at +{time.monotonic() - t0:5.1f}s")

    async def faults() -> None:
        sb = world.sb
        # 429 on every third request (every fourth of those global), from now to the end.
        await sb.fail_every(3, 429, None, retry_after=0.3, global_every=4)
        drops = sorted(rng.uniform(3, span * 0.8) for _ in range(3))
        bursts = sorted(rng.uniform(2, span * 0.8) for _ in range(4))
        delays = sorted(rng.uniform(1, span * 0.8) for _ in range(4))
        events = sorted(
            [(t, "drop") for t in drops]
            + [(t, "503") for t in bursts]
            + [(t, "delay") for t in delays]
        )
        for when, what in events:
            await at(when)
            if what == "drop":
                await sb.close_gateway(4000)
            elif what == "503":
                await sb.fail_next(3, 503, MESSAGES_ROUTE)
                if w.ambiguous:
                    await sb.fail_after_store(MESSAGES_ROUTE, 503)
            else:
                await sb.delay(2.0, MESSAGES_ROUTE, count=3)
            say(f"  fault {what} at +{time.monotonic() - t0:5.1f}s")

    jobs = [recaps(), announcements()]
    if kill_plan:
        jobs.append(kills())
    if w.after_store:
        jobs.append(after_store())
    if w.faults:
        await world.sandbox.client.deny_channel(world.sandbox.channel("ama-reminders"))
        jobs.append(faults())
    if scenario is not None:
        jobs.append(scenario(world))
    await asyncio.gather(*jobs)
    driven = time.monotonic() - t0
    health = await world.wait_settled(timeout=max(60.0, span))
    settled = time.monotonic() - t0
    if w.faults:
        await world.sb.clear_faults()
    await world.finish()
    world.timings.update(
        first_start_s=first,
        driven_s=driven,
        settled_s=settled,
        total_s=time.monotonic() - began,
        restarts=float(len(world.bot.downtimes)),
        restart_p50_s=statistics.median(world.bot.startup_seconds[1:] or [0.0]),
    )
    say(f"settled at +{settled:.1f}s: {health['posts']}")
    return await verify(world)


def _spread(rng: random.Random, n: int, lo: float, hi: float, *, gap: float) -> list[float]:
    """n random moments in [lo, hi], at least `gap` apart (each kill needs the bot back up)."""
    if n == 0:
        return []
    slack = max((hi - lo) - gap * (n - 1), 0.0)
    cuts = sorted(rng.uniform(0, slack) for _ in range(n))
    return [lo + c + i * gap for i, c in enumerate(cuts)]


# -- verification --------------------------------------------------------------------------------


def _text(payload: dict[str, Any]) -> str:
    """A payload as the store holds it (compact JSON, text unescaped): markers are found in it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


async def verify(world: World) -> RunReport:
    sb, sandbox = world.sb, world.sandbox
    rows = await storeview.outbox_rows(world.database)  # the bot has stopped
    # Organiser announcements: their keys come from the outbox, matched by the marker text.
    announcements = sandbox.channel("announcements")
    for marker in world.marks:
        found = [k for k, r in rows.items() if r.kind == "announce" and marker in _text(r.payload)]
        if not found:  # confirmed (or "already handled") but no row: lost
            world.expected[f"announce:?{marker}"] = Expected(
                f"announce:?{marker}", "announce", announcements
            )
        for key in found:  # two rows for one Confirm would be two posts: shown as extra keys
            world.expected[key] = Expected(key, "announce", int(rows[key].channel_id))
        if len(found) > 1:
            world.problems.append(f"{marker!r} scheduled {len(found)} times: {found}")
    requests = await sb.requests()
    # The full record beside the bot's log, for whoever investigates a failed run.
    record = json.dumps(requests, indent=1, default=str)
    await asyncio.to_thread((world.base / "requests.json").write_text, record)
    channels = ["announcements", "reminders", "ama-reminders", "general"]
    messages: dict[int, list[dict[str, Any]]] = {}
    for name in channels:
        cid = sandbox.channel(name)
        messages[cid] = await sb.messages(cid)
    sends: Counter[str] = Counter()
    for r in requests:
        if r["method"] == "POST" and r["path"].endswith("/messages") and r["json"]:
            nonce = r["json"].get("nonce")
            if nonce is not None:
                sends[str(nonce)] += 1
    per_key = messages_per_key(await sb.bot_messages(), rows, world.expected)

    outcomes: list[Outcome] = []
    problems: list[str] = list(world.problems)
    downtimes = world.bot.downtimes
    for exp in sorted(world.expected.values(), key=lambda e: (e.kind, e.key)):
        nonce = nonce_for(exp.key)
        # Counted per outbox key in every channel and DM, whatever nonce each copy carries.
        msgs = per_key.get(exp.key, [])
        row = rows.get(exp.key)
        status = row.status.value if row else None
        reason = row.reason if row else None
        late = None
        note = ""
        if row and exp.due_at is not None:
            when = row.sent_at or row.updated_at
            late = (when - exp.due_at).total_seconds() if when else None
        if len(msgs) > 1:
            verdict = "duplicated"
            where = sorted({str(m["channel_id"]) for m in msgs})
            note = f"{len(msgs)} messages for its key (channels {', '.join(where)})"
        elif len(msgs) == 1:
            verdict = "delivered"
            if status != "sent" or int(row.message_id or 0) != int(msgs[0]["id"]):
                problems.append(f"{exp.key}: one message but outbox says {status}")
            if int(msgs[0]["channel_id"]) != exp.channel_id and exp.channel_id:
                problems.append(f"{exp.key}: posted in channel {msgs[0]['channel_id']}")
            if exp.kind == "reminder" and late is not None and exp.deadline is not None:
                sent_at = row.sent_at
                if sent_at is not None and sent_at > exp.deadline + timedelta(seconds=1):
                    over = (sent_at - exp.deadline).total_seconds()
                    problems.append(
                        f"{exp.key}: sent {late:.1f}s after due, {over:.1f}s past its grace "
                        f"(should have been skipped)"
                    )
        elif status == "skipped" and reason:
            verdict = "skipped"
            why = _skip_justified(exp, row, downtimes, faults=world.w.faults)
            if why:
                verdict, note = "lost", f"skipped without cause: {why} ({reason})"
        elif status == "failed" and reason:
            verdict = "failed"
            if not exp.may_fail:
                verdict, note = "lost", f"failed outside the denied channel: {reason}"
        else:
            verdict = "lost"
            note = f"no message; reason={reason!r}"
        outcomes.append(
            Outcome(exp.key, exp.kind, verdict, len(msgs), sends[nonce], status, reason, late, note)
        )

    known = {nonce_for(k) for k in world.expected}
    bot_id = str(sb.info["bot_user_id"])
    strays: list[str] = []
    for cid, msgs in messages.items():
        seen: Counter[str] = Counter()
        for m in msgs:
            if m.get("nonce") is not None and str(m["nonce"]) not in known:
                strays.append(f"channel {cid} message {m['id']}: {m['content'][:60]!r}")
            if m.get("interaction_metadata") or m.get("webhook_id"):
                continue  # replies to members, not the bot's own posts
            if str(m.get("author", {}).get("id")) != bot_id:
                continue  # members' chatter (busy channels)
            shape = json.dumps([m.get("content"), m.get("embeds")], sort_keys=True)
            seen[shape] += 1
        for shape, n in seen.items():
            if n > 1:
                problems.append(f"channel {cid}: the same post appears {n} times: {shape[:80]}")
    violations = await sb.violations()
    stats = await sb.stats()
    for v in (violations["requests"] + violations["responses"])[:20]:
        problems.append(f"Discord API spec violation: {v}")
    callbacks = _callbacks(requests)
    statuses = Counter(str(r["status"]) for r in requests)
    delayed = sum(
        1
        for o in outcomes
        if o.kind == "reminder"
        and o.verdict == "delivered"
        and any("(delayed)" in (m.get("content") or "") for m in per_key.get(o.key, []))
    )
    return RunReport(
        gap_landed=world.landed(),
        kills=list(world.kill_log),
        delayed=delayed,
        workload=world.w,
        seed=world.w.seed,
        outcomes=outcomes,
        downtimes=downtimes,
        problems=problems,
        strays=strays,
        timings=world.timings,
        interactions={
            **callbacks,
            "timeouts": sum(1 for x in world.interaction_log if x["outcome"] == "timeout"),
            "answered": sum(1 for x in world.interaction_log if x["outcome"] == "answered"),
            "statuses": dict(sorted(statuses.items())),
            # Interactions a member saw fail (no answer within 3 s), and the 401/403/429
            # answers of the last 10 minutes (Cloudflare bans at 10,000).
            "failed_interactions": stats["failed_interactions"],
            "invalid_requests": stats["invalid_requests"],
        },
        log_path=world.bot.log,
    )


def _shows(message: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Whether a message shows this outbox payload (its text, or its embeds' titles)."""
    content = (payload.get("content") or "").strip()
    titles = [e.get("title") for e in payload.get("embeds") or []]
    if content:
        return content[:200] in (message.get("content") or "")
    return any(titles) and titles == [e.get("title") for e in message.get("embeds") or []]


def messages_per_key(
    messages: list[dict[str, Any]], rows: dict[str, Post], expected: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Every bot post (all channels and DMs) assigned to the outbox key it delivers: by its
    nonce when that is a key's, else by showing a key's payload in that key's channel or in
    a DM. A resend with another nonce, or none, still counts against its key."""
    by_nonce = {nonce_for(k): k for k in {*rows, *expected}}
    payloads = {k: r.payload for k, r in rows.items() if r.payload}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        if m.get("interaction_metadata") or m.get("webhook_id"):
            continue  # replies to members, not outbox posts
        key = by_nonce.get(str(m.get("nonce")))
        if key is None:
            for k, payload in payloads.items():
                same_place = int(rows[k].channel_id or 0) == int(m["channel_id"])
                if (same_place or m.get("dm")) and _shows(m, payload):
                    key = k
                    break
        if key is not None:
            out[key].append(m)
    return out


# After /healthz answers again, the restarted bot needs this long for its first deliveries.
STARTUP_ALLOWANCE = timedelta(seconds=1.5)
# Windows shorter than this in which the bot was serving cannot decide a skip either way.
SERVING_SLACK = timedelta(seconds=0.5)


def _skip_justified(
    exp: Expected, row: Post, downtimes: list[Downtime], *, faults: bool = False
) -> str:
    """'' when skipping was right, else what is wrong. Against the exact downtimes and grace:
    the whole window in which the post was due and still within its grace, [due, deadline],
    must have been covered by the bot being down (killed until serving again, plus the
    start-up allowance). In a fault run Discord itself can hold sends back past the grace:
    there a skip also counts when the row records Discord refusing an attempt."""
    if exp.due_at is None or exp.deadline is None:
        return "not a post with a deadline"
    # The bot's own times: the episode file holds whole seconds, the workload exact times.
    deadline = row.deadline or exp.deadline
    due = row.due_at or exp.due_at
    decided = row.updated_at
    if decided is not None and decided <= deadline:
        return f"decided {(deadline - decided).total_seconds():.1f}s before its deadline"
    down = sorted((d.killed_at, (d.serving_at or utcnow()) + STARTUP_ALLOWANCE) for d in downtimes)
    cursor, serving = due, timedelta(0)
    worst: tuple[datetime, datetime] | None = None
    for start, end in down:
        if end <= cursor or start >= deadline:
            continue
        if start > cursor:
            serving += start - cursor
            worst = worst or (cursor, start)
        cursor = max(cursor, end)
        if cursor >= deadline:
            break
    if cursor < deadline:
        serving += deadline - cursor
        worst = worst or (cursor, deadline)
    if serving <= SERVING_SLACK:
        return ""
    if faults and row.last_error:
        return ""
    worst = worst or (due, deadline)
    return (
        f"the bot was serving {serving.total_seconds():.1f}s of its window "
        f"{_hms(due)}-{_hms(deadline)} (e.g. {_hms(worst[0])}-{_hms(worst[1])})"
    )


def _hms(when: datetime) -> str:
    return when.strftime("%H:%M:%S.%f")[:-3]


def _callbacks(requests: list[dict[str, Any]]) -> dict[str, Any]:
    per: Counter[str] = Counter()
    rejected = 0
    for r in requests:
        parts = r["path"].strip("/").split("/")
        if r["method"] == "POST" and parts[0] == "interactions" and parts[-1] == "callback":
            if r["status"] == 200 or r["status"] == 204:
                per[parts[1]] += 1
            elif r["status"] == 400 and (r.get("json") is not None):
                rejected += 1
    return {
        "interactions_answered": len(per),
        "answered_twice": sum(1 for n in per.values() if n > 1),
        "second_callbacks_rejected": rejected,
    }


# -- load --------------------------------------------------------------------------------------

DISCORD_EPOCH_MS = 1420070400000


@dataclass
class LoadReport:
    members: int
    episodes: int
    sent: int  # interactions the crowd sent
    answered: int
    unanswered: list[str]
    answered_twice: int
    second_callbacks_rejected: int
    client_ms: dict[str, list[float]]  # per kind: round trip seen by the member's client
    server_ms: list[float]  # INTERACTION_CREATE (its snowflake) to the bot's callback
    deliveries: RunReport
    timings: dict[str, float]
    failed_interactions: int = 0  # the stand-in's count: "This interaction failed" (3 s)
    bot_line: str = ""  # the bot's own time per interaction, from its log

    def summary(self) -> str:
        lines = [
            f"{self.members} members, {self.episodes:,} episodes: {self.sent} interactions sent, "
            f"{self.answered} answered, {len(self.unanswered)} unanswered, "
            f"{self.answered_twice} answered twice "
            f"({self.second_callbacks_rejected} second callbacks rejected), "
            f"{self.failed_interactions} failed interactions (past Discord's 3 s)",
        ]
        every = [x for xs in self.client_ms.values() for x in xs]
        for kind, xs in [*sorted(self.client_ms.items()), ("all", every)]:
            if xs:
                lines.append(
                    f"  {kind:<22} n={len(xs):>5}  p50 {percentile(xs, 50):7.1f} ms  "
                    f"p99 {percentile(xs, 99):7.1f} ms  max {max(xs):7.1f} ms  (client round trip)"
                )
        if self.server_ms:
            xs = self.server_ms
            lines.append(
                f"  {'callback after create':<22} n={len(xs):>5}  p50 {percentile(xs, 50):7.1f} ms"
                f"  p99 {percentile(xs, 99):7.1f} ms  max {max(xs):7.1f} ms  (sandbox clock)"
            )
        lines.append(f"  {'inside the bot':<22} {self.bot_line or 'not logged'}")
        lines += ["deliveries during the load:", self.deliveries.table()]
        return "\n".join(lines)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[rank]


async def run_load(
    base: Path,
    *,
    members: int = 500,
    episodes: int = 10_000,
    rounds: int = 4,
    span: float = 30.0,
    seed: int = 7,
    say: Say = _quiet,
    sandbox: dict[str, float] | None = None,
    validate: bool = True,
) -> LoadReport:
    """Part 3: `members` members at once send /episode, /recap and autocomplete (with
    `episodes` episodes loaded) while recaps, reminders and announcements are delivered."""
    workload = Workload(
        recaps=6,
        reminders=20,
        announcements=4,
        span=span,
        kills=0,
        seed=seed,
        members=members,
        filler_episodes=episodes,
        filler_recaps=50,
        grace={"30s": "10s", "0m": "10s"},
        lead=12.0,
        sandbox=dict(sandbox or {}),
        validate=validate,
    )
    world = World(base, workload, say=say)
    await world.setup()
    try:
        return await _load(world, rounds)
    finally:
        await world.close()


async def _load(world: World, rounds: int) -> LoadReport:
    w, rng, say = world.w, world.rng, world.say
    first = await world.start_bot()
    await world.sb.wait_ready(timeout=60)
    say(f"bot serving after {first:.1f}s with {w.filler_episodes:,} episodes; crowd starts")
    t0 = time.monotonic()
    deadline = t0 + w.span + 60
    general = world.sandbox.channel("general")
    client_ms: dict[str, list[float]] = defaultdict(list)
    unanswered: list[str] = []
    sent = 0
    seasons = max(w.filler_episodes // 13, 1)

    def query() -> tuple[str, Callable[[SandboxClient, int], Any]]:
        season, number = rng.randint(1, seasons), rng.randint(1, 13)
        pick = rng.random()
        if pick < 0.35:
            code = f"s{season}e{number}"
            return "/episode", lambda c, m: c.slash(m, general, "episode", query=code, timeout=10)
        if pick < 0.6:
            words = rng.choice(["agents", "old recap", "chaos", f"recap {rng.randint(0, 49)}"])
            return "/recap", lambda c, m: c.slash(m, general, "recap", query=words, timeout=10)
        if pick < 0.85:
            text = rng.choice([f"s{season}e", f"Filler topic {rng.randint(1, 999)}", "agen"])
            return "episode autocomplete", lambda c, m: c.autocomplete(
                m, general, "episode", "query", text, timeout=10
            )
        text = rng.choice(["old", "agents", "chaos re"])
        return "recap autocomplete", lambda c, m: c.autocomplete(
            m, general, "recap", "query", text, timeout=10
        )

    async def member(i: int) -> None:
        nonlocal sent
        client = world.sandbox.clients[i % len(world.sandbox.clients)]
        who = world.sandbox.member(f"m{i:04d}")
        await asyncio.sleep(rng.uniform(0, 1.0))
        for _ in range(rounds):
            kind, call = query()
            sent += 1
            began = time.monotonic()
            try:
                await call(client, who)
            except (SandboxTimeout, SandboxError) as exc:
                unanswered.append(f"m{i:04d} {kind}: {exc}"[:200])
                continue
            client_ms[kind].append((time.monotonic() - began) * 1000)

    async def crowd() -> None:
        await asyncio.gather(*(member(i) for i in range(w.members)))

    async def recaps() -> None:
        for i in range(w.recaps):
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            await world.merge_recap(i)

    async def announcements() -> None:
        await asyncio.gather(
            *(world.announce(i, rng.uniform(5, 15), deadline) for i in range(w.announcements))
        )

    await asyncio.gather(crowd(), recaps(), announcements())
    crowd_s = time.monotonic() - t0
    failed_interactions = int((await world.sb.stats()).get("failed_interactions", 0))
    await world.wait_settled(timeout=max(60.0, w.span + 30))
    await world.finish()
    bot_line = ""
    log_text = await asyncio.to_thread(world.bot.log.read_text, "utf-8", "replace")
    for line in log_text.splitlines():
        if "the bot's own time" in line:
            bot_line = line.split("interactions: ", 1)[-1]
    deliveries = await verify(world)
    requests = json.loads(await asyncio.to_thread((world.base / "requests.json").read_text))
    server_ms = []
    for r in requests:
        parts = r["path"].strip("/").split("/")
        if r["method"] == "POST" and parts[0] == "interactions" and r["status"] == 200:
            created = DISCORD_EPOCH_MS + (int(parts[1]) >> 22)
            answered = datetime.fromisoformat(r["time"]).timestamp() * 1000
            server_ms.append(max(answered - created, 0.0))
    world.timings.update(first_start_s=first, crowd_s=crowd_s)
    i = deliveries.interactions
    return LoadReport(
        members=w.members,
        episodes=w.filler_episodes,
        sent=sent,
        answered=sent - len(unanswered),
        unanswered=unanswered,
        answered_twice=i["answered_twice"],
        second_callbacks_rejected=i["second_callbacks_rejected"],
        client_ms=dict(client_ms),
        server_ms=server_ms,
        deliveries=deliveries,
        timings=world.timings,
        failed_interactions=failed_interactions,
        bot_line=bot_line,
    )
