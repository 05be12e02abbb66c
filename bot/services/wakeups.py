"""APScheduler as a cache of wake-ups for pending outbox rows.

The store is the truth. The scheduler holds one job per pending row (job id = row key,
`replace_existing=True`), rebuilt from the table at start-up and after every reconcile; its
own job stores are never used, so nothing in it has to survive a restart.

`misfire_grace_time=None` is deliberate: a wake-up that fires late must still run, because
lateness is decided by our per-kind policy (planning.late_decision), which records a skip
with its reason. APScheduler's own grace would drop the job silently. `coalesce=True` folds
piled-up runs of one job into one: delivery is idempotent per key anyway.

`deliver(key)` is told which row woke up and must deliver at least that row if it is due
(PostingService delivers everything due). Wake-ups are drained one pass at a time: those that
fire while a pass runs queue behind it, so a burst of rows due together costs one scan, not
one per row. A pass slower than `stall` seconds hands the queue to a fresh drain, so one
channel sitting out a rate limit never delays the others' wake-ups by more than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock

log = logging.getLogger("amabot.wakeups")

SWEEP_JOB = "__sweep__"


class Wakeups:
    def __init__(
        self,
        deliver: Callable[[str], Awaitable[object]],
        sweep: Callable[[], Awaitable[object]],
        *,
        clock: Clock,
        sweep_interval: float = 30.0,
        stall: float = 1.0,
    ):
        self._deliver = deliver
        self._sweep = sweep
        self._clock = clock
        self._sweep_interval = sweep_interval
        self._stall = stall
        self._woken: deque[str] = deque()
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        self._scheduler.start()
        # A safety net: if a wake-up was ever missed, the sweep delivers whatever is due.
        self._scheduler.add_job(
            self._run_sweep,
            "interval",
            seconds=self._sweep_interval,
            id=SWEEP_JOB,
            replace_existing=True,
        )

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._woken.clear()
        for task in list(self._tasks):
            task.cancel()

    def _real_time(self, due: datetime) -> datetime:
        # The injected clock may run ahead of the wall clock (tests, the demo): schedule the
        # same distance from now on the wall clock that the due time is on the injected one.
        return datetime.now(UTC) + (due - self._clock())

    def rebuild(self, pending: Iterable[tuple[str, datetime]]) -> int:
        """Make the jobs match exactly the pending rows given as (key, wake-up time)."""
        wanted = dict(pending)
        for job in self._scheduler.get_jobs():
            if job.id != SWEEP_JOB and job.id not in wanted:
                job.remove()
        for key, due in wanted.items():
            self.schedule(key, due)
        return len(wanted)

    def schedule(self, key: str, due: datetime) -> None:
        self._scheduler.add_job(
            self._run_one,
            "date",
            run_date=self._real_time(due),
            args=[key],
            id=key,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    def unschedule(self, key: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(key)

    def job_ids(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs() if job.id != SWEEP_JOB}

    def next_run(self, key: str) -> datetime | None:
        job = self._scheduler.get_job(key)
        return None if job is None else job.next_run_time

    async def _run_one(self, key: str) -> None:
        # Wake-ups that fire while a delivery pass runs queue up behind it instead of starting
        # passes of their own: a hundred reminders due in the same second would otherwise
        # each scan and claim the same due rows (quadratic; bench/reminders.py --spread 1).
        # The job itself returns at once: APScheduler skips a job whose previous run is still
        # going (max_instances), so a long drain inside the job would swallow the next
        # wake-up of the same key (a retry scheduled while its first attempt drains).
        self._woken.append(key)
        if not self._draining:
            self._draining = True
            self._spawn(self._drain(), "amabot-wake-drain")

    async def _drain(self) -> None:
        handed_over = False
        try:
            while self._woken:
                key = self._woken.popleft()
                task = self._spawn(self._deliver_logged(key), f"amabot-wake-{key}")
                done, _ = await asyncio.wait({task}, timeout=self._stall)
                if not done:
                    # A slow pass (a channel waiting out a long rate limit) must not hold up
                    # the wake-ups behind it: a fresh drain takes the queue, this one finishes.
                    handed_over = True
                    self._spawn(self._drain(), "amabot-wake-drain")
                    await task
                    return
        finally:
            if not handed_over:
                self._draining = False

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)  # a strong reference until done; cancelled at shutdown
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver_logged(self, key: str) -> None:
        try:
            await self._deliver(key)
        except Exception:
            log.exception("delivery of %s failed; the sweep will try again", key)

    async def _run_sweep(self) -> None:
        try:
            await self._sweep()
        except Exception:
            log.exception("outbox sweep failed; next sweep in %ss", self._sweep_interval)
