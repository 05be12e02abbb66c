"""Issue 22, reduced for CI: two `amabot run` processes on one database (a SQLite file with
`[storage] standby = true`, then a PostgreSQL server from testkit/postgres.py), a leader and a
standby, against the strict stand-in with a short nonce window, while the crash run's workload
falls due (recaps merged, reminders, members' DMs, organisers' announcements). The leader is
ended four times: SIGTERM (it resigns), SIGKILL in the send->record gap, SIGSTOP for longer
than the lease (then SIGCONT) and SIGKILL; each time the standby takes over, adopts the outbox
and sends. Full run: `python3 bench/failover.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import pytest

from testkit import postgres
from testkit.failover import run_failovers, stepped_down
from testkit.processes import Workload

NONCE_WINDOW = 1.5
TTL = 3.0  # seconds: the lease's ttl in this run
PAUSE = TTL + 4.0  # a SIGSTOPped leader stays stopped this long: past its lease


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request, tmp_path) -> AsyncIterator[str | None]:
    """None: the SQLite file of the run (`[storage] standby = true`); else an empty database
    on a PostgreSQL server of the test's own (standing by is that backend's default)."""
    if request.param == "sqlite":
        yield None
        return
    try:
        server = postgres.start()
    except postgres.Unavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    try:
        yield await server.fresh_database("amabot_failover")
    finally:
        server.stop()


async def test_failovers_by_sigterm_gap_sigstop_and_sigkill_lose_and_duplicate_nothing(
    tmp_path, seed, database
):
    workload = Workload(
        recaps=6,
        reminders=16,
        announcements=2,
        span=40.0,
        kills=0,
        seed=seed,
        offsets=("10s", "0m"),
        grace={"10s": "8s", "0m": "8s"},
        dm_members=2,
        dm_lead="10s",
        sandbox={"nonce_window": NONCE_WINDOW},
    )
    plan = ["SIGTERM", "gap", "SIGSTOP", "SIGKILL"]
    report = await run_failovers(
        tmp_path / "run",
        workload,
        plan,
        ttl=f"{TTL:.0f}s",
        pause=PAUSE,
        database=database,
        say=print,
    )
    print(report.table())
    run = report.run
    assert [f.how for f in report.failovers] == plan
    assert run.lost == 0, report.table()
    assert run.duplicated == 0, report.table()
    assert not run.strays, run.strays
    assert not run.problems, run.problems
    assert run.interactions["answered_twice"] == 0
    assert run.count("delivered", "recap") == workload.recaps
    assert run.count("delivered", "announce") == workload.announcements
    by = {f.how: f for f in report.failovers}
    # A clean stop resigns: the standby holds the lease within its poll (1 s) and a bit.
    assert by["SIGTERM"].lease_s is not None and by["SIGTERM"].lease_s <= 2.5, by["SIGTERM"]
    assert by["SIGTERM"].old_status == 0
    # Killed (on one host the dead holder is seen at once) or paused: within ttl + a few s.
    for how in ("gap", "SIGKILL", "SIGSTOP"):
        assert by[how].lease_s is not None and by[how].lease_s <= TTL + 3.0, by[how]
    # The paused leader, woken after the standby took over and sent: it sends nothing,
    # records nothing (the row it had sent is the new leader's find), and steps down.
    assert by["SIGSTOP"].first_send_s is not None and by["SIGSTOP"].first_send_s < PAUSE
    assert stepped_down(by["SIGSTOP"]) == [], by["SIGSTOP"].old_log_after
    # A standby says so, and who holds the lease (host:pid:tag, term).
    logs = "".join(path.read_text(errors="replace") for path in report.logs)
    assert re.search(r"standing by: the lease on \S+ is held by [^:\s]+:\d+:\w+ \(term \d+", logs)
    # Each new leader sends (the last one may find nothing more due after its takeover).
    for f in report.failovers[:-1]:
        assert f.first_send_s is not None, f.line()
