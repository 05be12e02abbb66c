"""Two bot processes on one database (a SQLite file, or a PostgreSQL server), a leader and a
standby, and the leader's end by SIGKILL, SIGTERM, SIGSTOP (then SIGCONT) or a SIGKILL in the
send->record gap (issue 22).

Built on testkit/processes.py's crash world (the sandbox process, the content repository,
the workload, `verify`): the same run, with a second `amabot run` standing by (`[storage]
standby = true`, each process its own webhook port) instead of a restart after each kill. A
process whose leadership ended is started again as the new standby once it is gone (a
paused one is let go on with SIGCONT first: it must step down, exit STEPPED_DOWN, and send
and record nothing). Each failover is measured from the leader's end (the signal) to the
lease taken, the new leader serving (/readyz 200), and its first send.

Used by tests/resilience/test_failover.py (reduced) and bench/failover.py (the full run).
"""

# Every wait here takes an explicit timeout on purpose: a run must never hang.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bot.discord.lease import STEPPED_DOWN
from bot.store import open_store
from testkit.harness import write_config
from testkit.processes import (
    BotProcess,
    Downtime,
    RunReport,
    Say,
    Timeline,
    Workload,
    World,
    _quiet,
    free_port,
    utcnow,
    verify,
)

KINDS = ("SIGKILL", "SIGTERM", "SIGSTOP", "gap")
POLL = 0.05


@dataclass
class Failover:
    """One end of a leader and the takeover that followed."""

    how: str  # one of KINDS
    ended_at: datetime  # the signal (gap: the moment the leader killed itself)
    old: int  # the processes' indexes
    new: int
    lease_s: float | None = None  # the end -> the lease held by the new leader
    serving_s: float | None = None  # the end -> the new leader's /readyz 200
    first_send_s: float | None = None  # the end -> the new leader's first send (any post)
    old_status: int | None = None  # the old process' exit status
    note: str = ""
    old_log_after: str = ""  # what the old process logged after SIGCONT (SIGSTOP only)

    def line(self) -> str:
        def s(v: float | None) -> str:
            return "   -  " if v is None else f"{v:5.2f}s"

        return (
            f"{self.how:<8} {self.old}->{self.new}  lease {s(self.lease_s)}  serving "
            f"{s(self.serving_s)}  first send {s(self.first_send_s)}  old exit "
            f"{self.old_status}  {self.note}"
        )


@dataclass
class FailoverReport:
    run: RunReport
    failovers: list[Failover] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)  # each process's log

    def figures(self) -> dict[str, float]:
        sends = [f.first_send_s for f in self.failovers if f.first_send_s is not None]
        leases = [f.lease_s for f in self.failovers if f.lease_s is not None]
        return {
            "failovers": float(len(self.failovers)),
            "first_send_median_s": statistics.median(sends) if sends else float("nan"),
            "first_send_max_s": max(sends) if sends else float("nan"),
            "lease_median_s": statistics.median(leases) if leases else float("nan"),
            "lease_max_s": max(leases) if leases else float("nan"),
        }

    def table(self) -> str:
        rows = [self.run.table(), "failovers (from the leader's end):"]
        rows += ["  " + f.line() for f in self.failovers]
        fig = self.figures()
        rows.append(
            f"first send after the leader's end: median {fig['first_send_median_s']:.2f}s, "
            f"max {fig['first_send_max_s']:.2f}s; lease taken: median "
            f"{fig['lease_median_s']:.2f}s, max {fig['lease_max_s']:.2f}s"
        )
        return "\n".join(rows)


class FailoverWorld(World):
    """The crash world with two bot processes on its one database."""

    def __init__(
        self,
        base: Path,
        workload: Workload,
        *,
        ttl: str = "3s",
        database: str | None = None,
        say: Say = _quiet,
    ):
        super().__init__(base, workload, say=say)
        if database is not None:  # a PostgreSQL URL: standing by is that backend's default
            self.database = database
        self.ttl = ttl
        self.bots: list[BotProcess] = []
        self.leader = 0
        self.outages: list[Downtime] = []
        self.failovers: list[Failover] = []

    # World reads `self.bot` (healthz, the final stop, the log): the leader.
    @property  # type: ignore[override]
    def bot(self) -> BotProcess:
        return self.bots[self.leader]

    @bot.setter
    def bot(self, first: BotProcess) -> None:
        self.bots[:] = [first]

    @property
    def standby(self) -> BotProcess:
        return self.bots[1 - self.leader]

    async def setup(self) -> None:
        await super().setup()
        first = self.bots[0]
        port = free_port()
        for i, (path, listen) in enumerate(
            ((self.config, self.port), (self.base / "amabot-b.toml", port))
        ):
            sections = self.config_sections()
            sections["storage"] = {**sections["storage"], "lease_ttl": self.ttl}
            if isinstance(self.database, Path):  # SQLite refuses a second run unless told
                sections["storage"]["standby"] = True
            sections["webhook"] = {"listen": f"127.0.0.1:{listen}"}
            write_config(path, sections)
            if i == 1:
                self.bots.append(
                    BotProcess(
                        path,
                        first.env,
                        self.base / "bot-b.log",
                        f"http://127.0.0.1:{listen}/healthz",
                        gap=self.gap,
                    )
                )

    # -- who leads ----------------------------------------------------------------------------

    async def lease(self) -> tuple[str, int] | None:
        store = await open_store(self.database)
        try:
            info = await store.leases.get()
        finally:
            await store.close()
        return None if info is None else (info.holder, info.term)

    @staticmethod
    async def readyz(bot: BotProcess, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        url = bot.health_url.replace("/healthz", "/readyz")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                return await resp.json() if resp.status in (200, 503) else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def wait_ready(self, bot: BotProcess, *, standby: bool, timeout: float = 60.0) -> float:
        """Until `bot` serves as the leader (/readyz 200) or as a standby (503, standby)."""
        began = time.monotonic()
        async with aiohttp.ClientSession() as session:
            while time.monotonic() - began < timeout:
                if not bot.alive:
                    raise RuntimeError(f"the bot exited ({bot.proc.returncode}); see {bot.log}")
                ready = await self.readyz(bot, session)
                if ready is not None:
                    waiting = any(r.startswith("standby") for r in ready.get("reasons", []))
                    if (standby and waiting) or (not standby and ready.get("ready")):
                        return time.monotonic() - began
                await asyncio.sleep(POLL)
        what = "standing by" if standby else "leading"
        raise TimeoutError(f"{bot.log.name}: not {what} within {timeout}s")

    async def start_pair(self) -> float:
        """The first process leads, the second stands by; seconds until the first serves."""
        await self.bots[0].start()
        took = await self.wait_ready(self.bots[0], standby=False)
        await self.bots[1].start()
        await self.wait_ready(self.bots[1], standby=True)
        return took

    async def start_bot(self) -> float:  # World's first start
        return await self.start_pair()

    # -- ending the leader --------------------------------------------------------------------

    async def fail_over(self, how: str, *, pause: float = 0.0, within: float = 8.0) -> Failover:
        """End the leader `how`; wait for the standby to lead and send; bring the old process
        back as the standby. `pause`: how long a SIGSTOPped leader stays stopped."""
        old, new = self.leader, 1 - self.leader
        leader, standby = self.bots[old], self.bots[new]
        before = await self.lease()
        requests_before = len(await self.sb.requests())
        note = ""
        if how == "gap":
            landed = await leader.kill_in_gap(self.gap, within=within)
            note = "killed in the gap" if landed else "no send came: plain SIGKILL"
            leader.downtimes.clear()
        elif how == "SIGKILL":
            os.kill(leader.proc.pid, signal.SIGKILL)
        elif how == "SIGTERM":
            leader.proc.send_signal(signal.SIGTERM)
        elif how == "SIGSTOP":
            leader.proc.send_signal(signal.SIGSTOP)
        else:
            raise ValueError(how)
        ended = utcnow()
        began = time.monotonic()
        self.outages.append(Downtime(ended))
        record = Failover(how, ended, old, new, note=note)
        self.failovers.append(record)
        self.leader = new
        # The lease changes hands ...
        limit = began + 60
        while time.monotonic() < limit:
            now_held = await self.lease()
            if now_held is not None and now_held != before and now_held[0] != (before or ("",))[0]:
                record.lease_s = time.monotonic() - began
                break
            await asyncio.sleep(POLL)
        # ... the new leader serves ...
        await self.wait_ready(standby, standby=False)
        record.serving_s = time.monotonic() - began
        self.outages[-1].serving_at = utcnow()
        self.say(f"  {how}: lease after {record.lease_s}s, serving after {record.serving_s:.2f}s")
        if how == "SIGSTOP":
            await asyncio.sleep(max(0.0, pause - (time.monotonic() - began)))
            mark = leader.log.stat().st_size
            leader.proc.send_signal(signal.SIGCONT)
            record.old_status = await asyncio.wait_for(leader.proc.wait(), 30)
            record.old_log_after = leader.log.read_bytes()[mark:].decode(errors="replace")
        else:
            record.old_status = await asyncio.wait_for(leader.proc.wait(), 30)
        # ... and sends (the first POST of a message after the end: the old one has gone).
        record.first_send_s = await self._first_send_after(ended, requests_before)
        # The old process comes back as the standby.
        await leader.start()
        await self.wait_ready(leader, standby=True)
        return record

    async def _first_send_after(self, ended: datetime, since: int) -> float | None:
        limit = time.monotonic() + 30
        while time.monotonic() < limit:
            for r in await self.sb.requests(since):
                if r["method"] == "POST" and _is_messages(r["path"]):
                    at = datetime.fromisoformat(r["time"])
                    if at >= ended:
                        return (at - ended).total_seconds()
            await asyncio.sleep(0.2)
        return None

    async def close(self) -> None:
        for bot in self.bots:
            if bot.alive:
                with contextlib.suppress(ProcessLookupError):
                    bot.proc.send_signal(signal.SIGCONT)
            with contextlib.suppress(Exception):
                await bot.stop()
        await self.sandbox.stop()


def _is_messages(path: str) -> bool:
    parts = path.strip("/").split("/")
    return len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages"


async def run_failovers(
    base: Path,
    workload: Workload,
    plan: list[str],
    *,
    ttl: str = "3s",
    pause: float = 6.0,
    min_up: float = 3.0,
    database: str | None = None,
    say: Say = _quiet,
) -> FailoverReport:
    """Drive the crash run's workload (recaps merged, reminders and DMs due, organisers'
    announcements) while the leader is ended once per entry of `plan` (KINDS), spread over
    the span; verify as the crash run does, every takeover counted as an outage.
    `database`: a PostgreSQL URL (an empty database); None: a SQLite file in `base`."""
    world = FailoverWorld(base, workload, ttl=ttl, database=database, say=say)
    await world.setup()
    try:
        await world.prepare()
        first = await world.start_pair()
        say(f"leader serving after {first:.1f}s, standby waiting; seed {workload.seed}")
        t0 = time.monotonic()
        span = workload.span
        timeline = Timeline(world, t0, announce_within=0.5, grace=90)
        at, recaps, announcements = timeline.at, timeline.recaps, timeline.announcements

        # Aimed a little before something falls due, so the gap has a send to hit and the
        # new leader has something to send at once.
        dues = sorted(
            (e.due_at - utcnow()).total_seconds() + (time.monotonic() - t0)
            for e in world.expected.values()
            if e.due_at is not None
        )

        async def failovers() -> None:
            slot = span / (len(plan) + 1)
            for i, how in enumerate(plan):
                target = slot * (i + 1)
                later = [d for d in dues if d >= target and d >= time.monotonic() - t0]
                when = (later[0] - 0.3) if later and later[0] - target < slot / 2 else target
                await at(when)
                record = await world.fail_over(how, pause=pause)
                say("  " + record.line())
                await asyncio.sleep(min_up)

        await asyncio.gather(recaps(), announcements(), failovers())
        health = await world.wait_settled(timeout=max(60.0, span))
        say(f"settled: {health['posts']}")
        await world.bot.stop()
        await world.standby.stop()
        world.bot.downtimes = list(world.outages)  # what verify judges skips against
        report = await verify(world)
        return FailoverReport(report, list(world.failovers), [b.log for b in world.bots])
    finally:
        await world.close()


def stepped_down(record: Failover) -> list[str]:
    """What is wrong with how a paused leader behaved after SIGCONT (empty: nothing)."""
    wrong = []
    if record.old_status != STEPPED_DOWN:
        wrong.append(f"exit status {record.old_status}, not {STEPPED_DOWN}")
    log = record.old_log_after
    if "stepping down" not in log:
        wrong.append("no 'stepping down' in its log")
    for line in log.splitlines():
        if " sent " in line and "as message" in line:
            wrong.append(f"it sent after waking: {line}")
    return wrong
