"""bot/services/wakeups.py for real: a running AsyncIOScheduler, real waits of a few ms."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock, system_clock
from bot.services.wakeups import SWEEP_JOB, Wakeups

MS = timedelta(milliseconds=1)


class Recorder:
    """The deliver/sweep callbacks: remembers which key woke up when, wakes waiters."""

    def __init__(self) -> None:
        self.fired: list[tuple[str, float]] = []
        self.sweeps = 0
        self.changed = asyncio.Event()
        self.fail: set[str] = set()

    async def deliver(self, key: str) -> None:
        self.fired.append((key, time.monotonic()))
        self.changed.set()
        if key in self.fail:
            raise RuntimeError(f"delivery of {key} blew up")

    async def sweep(self) -> None:
        self.sweeps += 1
        self.changed.set()

    async def until(self, predicate, timeout: float = 2.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    def keys(self) -> list[str]:
        return [k for k, _ in self.fired]


@pytest.fixture
async def rec():
    return Recorder()


@pytest.fixture
async def make(rec):
    made: list[Wakeups] = []

    def build(clock=system_clock, sweep_interval: float = 3600.0) -> Wakeups:
        w = Wakeups(rec.deliver, rec.sweep, clock=clock, sweep_interval=sweep_interval)
        made.append(w)
        return w

    yield build
    for w in made:
        w.shutdown()


async def test_a_job_fires_at_its_time_not_before(rec, make):
    w = make()
    w.start()
    scheduled_at = time.monotonic()
    w.schedule("reminder:a:ama:1h", datetime.now(UTC) + 80 * MS)
    await rec.until(lambda: rec.fired)
    (key, at), *_ = rec.fired
    assert key == "reminder:a:ama:1h"
    assert at - scheduled_at >= 0.075  # not early (a few ms of float slack)
    assert at - scheduled_at < 0.5  # and not a sweep's worth late
    assert w.job_ids() == set()  # a date job is gone once it ran


async def test_jobs_fire_in_due_order_and_each_once(rec, make):
    w = make()
    w.start()
    now = datetime.now(UTC)
    w.rebuild([("k3", now + 90 * MS), ("k1", now + 30 * MS), ("k2", now + 60 * MS)])
    await rec.until(lambda: len(rec.fired) >= 3)
    await asyncio.sleep(0.05)  # a margin in which a duplicate would show up
    assert rec.keys() == ["k1", "k2", "k3"]


async def test_rebuild_matches_the_pending_rows_exactly(rec, make):
    w = make()
    w.start()
    later = datetime.now(UTC) + timedelta(hours=1)
    w.rebuild([("stale", later), ("kept", later)])
    assert w.job_ids() == {"stale", "kept"}
    soon = datetime.now(UTC) + 40 * MS
    count = w.rebuild([("kept", soon), ("new", soon)])
    assert count == 2
    assert w.job_ids() == {"kept", "new"}  # the stale one is gone, the sweep is not counted
    assert w.next_run("stale") is None
    await rec.until(lambda: len(rec.fired) >= 2)
    assert sorted(rec.keys()) == ["kept", "new"]  # kept moved to its new, earlier time


async def test_rebuild_before_start_is_applied_on_start(rec, make):
    # PostingService reconciles (and so rebuilds) before it starts the scheduler.
    w = make()
    soon = datetime.now(UTC) + 30 * MS
    w.rebuild([("a", soon), ("b", soon + timedelta(hours=1))])
    w.rebuild([("a", soon)])
    w.start()
    assert w.job_ids() == {"a"}
    await rec.until(lambda: rec.fired)
    assert rec.keys() == ["a"]


async def test_a_past_due_row_still_wakes_up_at_once(rec, make):
    # No APScheduler grace: lateness is decided (and recorded) by delivery, never dropped here.
    w = make()
    w.start()
    w.schedule("late", datetime.now(UTC) - timedelta(hours=3))
    await rec.until(lambda: rec.fired)
    assert rec.keys() == ["late"]


async def test_misfire_grace_and_coalesce_are_explicit(rec, make):
    w = make()
    w.start()
    w.schedule("k", datetime.now(UTC) + timedelta(hours=1))
    job = w._scheduler.get_job("k")
    assert job.misfire_grace_time is None
    assert job.coalesce is True
    assert job.max_instances == 1
    sweep = w._scheduler.get_job(SWEEP_JOB)
    assert sweep.coalesce is True and sweep.misfire_grace_time is None


async def test_manual_clock_ahead_of_the_wall_clock_schedules_relative(rec, make):
    clock = ManualClock(datetime(2031, 1, 1, 12, 0, tzinfo=UTC))
    w = make(clock=clock)
    w.start()
    w.schedule("soon", clock() + 60 * MS)
    w.schedule("tomorrow", clock() + timedelta(days=1))
    wall = datetime.now(UTC)
    assert abs(w.next_run("tomorrow") - (wall + timedelta(days=1))) < timedelta(seconds=1)
    await rec.until(lambda: rec.fired)
    assert rec.keys() == ["soon"]
    assert w.job_ids() == {"tomorrow"}


async def test_manual_clock_behind_the_wall_clock_schedules_relative(rec, make):
    clock = ManualClock(datetime(2020, 1, 1, tzinfo=UTC))
    w = make(clock=clock)
    w.start()
    w.schedule("in-an-hour", clock() + timedelta(hours=1))
    expected = datetime.now(UTC) + timedelta(hours=1)
    assert abs(w.next_run("in-an-hour") - expected) < timedelta(seconds=1)


async def test_unschedule_and_unknown_keys(rec, make):
    w = make()
    w.start()
    w.schedule("gone", datetime.now(UTC) + 30 * MS)
    w.unschedule("gone")
    w.unschedule("never-there")  # no error
    w.schedule("stays", datetime.now(UTC) + 60 * MS)
    await rec.until(lambda: rec.fired)
    assert rec.keys() == ["stays"]


async def test_a_failing_delivery_is_logged_and_the_others_still_fire(rec, make, caplog):
    w = make()
    w.start()
    rec.fail.add("bad")
    now = datetime.now(UTC)
    with caplog.at_level(logging.ERROR, logger="amabot.wakeups"):
        w.rebuild([("bad", now + 20 * MS), ("good", now + 50 * MS)])
        await rec.until(lambda: len(rec.fired) >= 2)
    assert rec.keys() == ["bad", "good"]
    assert "delivery of bad failed" in caplog.text


async def test_the_sweep_runs_on_its_interval(rec, make):
    w = make(sweep_interval=0.05)
    w.start()
    await rec.until(lambda: rec.sweeps >= 2)
    assert SWEEP_JOB not in w.job_ids()


async def test_shutdown_is_idempotent_and_stops_wakeups(rec, make):
    w = make()
    w.start()
    w.schedule("never", datetime.now(UTC) + 30 * MS)
    w.shutdown()
    w.shutdown()
    await asyncio.sleep(0.08)
    assert rec.fired == []


async def test_wakeups_during_a_pass_queue_behind_it_not_beside_it():
    # A burst due together: one pass at a time, never one concurrent scan per row.
    running = 0
    most = 0
    done: list[str] = []
    finished = asyncio.Event()

    async def deliver(key: str) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.005)  # a send
        running -= 1
        done.append(key)
        if len(done) == 50:
            finished.set()

    w = Wakeups(deliver, Recorder().sweep, clock=system_clock, sweep_interval=3600)
    try:
        w.start()
        due = datetime.now(UTC) + 20 * MS
        w.rebuild([(f"k{i:02d}", due) for i in range(50)])
        await asyncio.wait_for(finished.wait(), 5)
    finally:
        w.shutdown()
    assert most == 1
    assert sorted(done) == [f"k{i:02d}" for i in range(50)]


async def test_a_stalled_pass_hands_the_queue_over():
    # One channel waiting out a long rate limit must not hold up the next wake-up for long.
    release = asyncio.Event()
    delivered: dict[str, float] = {}
    fast_done = asyncio.Event()
    slow_done = asyncio.Event()

    async def deliver(key: str) -> None:
        if key == "slow":
            await release.wait()
        delivered[key] = time.monotonic()
        (slow_done if key == "slow" else fast_done).set()

    w = Wakeups(deliver, Recorder().sweep, clock=system_clock, sweep_interval=3600, stall=0.05)
    try:
        w.start()
        now = datetime.now(UTC)
        w.rebuild([("slow", now + 10 * MS), ("fast", now + 30 * MS)])
        await asyncio.wait_for(fast_done.wait(), 2)
        assert "slow" not in delivered  # still stuck, yet "fast" went out
        release.set()
        await asyncio.wait_for(slow_done.wait(), 2)
        assert set(delivered) == {"slow", "fast"}
        assert not w._draining  # the drain ended: the next wake-up starts a new one
    finally:
        w.shutdown()
