"""Crash and fault runs (issue 7 parts 1 and 2, issue 14): the real bot as a process,
SIGKILLed and restarted, or facing Discord's bad days, while recaps are merged, reminders
and members' DM reminders fall due and organisers confirm announcements. Prints the table:
expected, delivered, duplicated, skipped (with reasons), failed, lost, and where each kill
landed. Exits 1 when anything was lost or duplicated, a skip was unjustified, or fewer kills
than asked landed between a send and its record.

    python3 bench/chaos.py                      # crash run (issue 14): 20 recaps, 50
        # reminders, 10 announcements, 10 DMs; 10 SIGKILLs, 4 aimed at the send->record gap,
        # each down longer than the stand-in's 3 s nonce window, one 70 s (a "(delayed)"
        # reminder); 600 members' messages in each posting channel (150 more per gap kill);
        # 4 sends stored then answered 503/drop/502
    python3 bench/chaos.py --faults             # fault run: 429 every third request (some
                                                # global), 503 bursts, 403 channel, 2 s
                                                # delays, 3 gateway drops
    python3 bench/chaos.py --faults --ambiguous # and each 503 burst stores one message
                                                # before answering 503
    python3 bench/chaos.py --seed 42 --kills 3 --gap-kills 1 --span 40 --keep
    python3 bench/chaos.py --smoke              # the smallest crash run: that it runs

The sandbox honours enforce_nonce for --nonce-window seconds (default 3; Discord: a few
minutes), so a duplicate after a longer outage can only be prevented by the bot itself.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit.processes import Workload, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", action="store_true", help="the fault run instead of kills")
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--kills", type=int, default=None, help="default 10 (0 with --faults)")
    parser.add_argument("--recaps", type=int, default=20)
    parser.add_argument("--reminders", type=int, default=50)
    parser.add_argument("--announcements", type=int, default=10)
    parser.add_argument("--span", type=float, default=150.0, help="seconds everything falls due in")
    parser.add_argument("--gap-kills", type=int, default=4, help="kills aimed at send->record")
    parser.add_argument("--dms", type=int, default=5, help="members with DM reminders")
    parser.add_argument("--busy", type=int, default=600, help="members' messages per channel")
    parser.add_argument("--bury", type=int, default=150, help="more of them per gap kill")
    parser.add_argument("--after-store", type=int, default=4, help="stored-then-5xx faults")
    parser.add_argument("--long-downs", type=int, default=1, help='70 s outages ("(delayed)")')
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, db)")
    parser.add_argument(
        "--ambiguous",
        action="store_true",
        help="with --faults: each 503 burst also answers 503 to one stored message",
    )
    parser.add_argument(
        "--nonce-window",
        type=float,
        default=3.0,
        help="seconds the sandbox honours enforce_nonce (Discord: a few minutes); short, so "
        "only the bot itself prevents a duplicate after an outage",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest crash run, that it runs at all (tests/test_benches.py): 2 recaps, "
        "3 reminders, 1 announcement, 1 DM, 1 kill (not aimed at the gap), no long outage",
    )
    args = parser.parse_args()
    if args.smoke:
        args.recaps, args.reminders, args.announcements, args.dms = 2, 3, 1, 1
        args.span, args.kills, args.gap_kills, args.long_downs = 10.0, 1, 0, 0
        args.busy, args.bury, args.after_store = 20, 10, 1
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    kills = args.kills if args.kills is not None else (0 if args.faults else 10)
    crash = not args.faults
    workload = Workload(
        recaps=args.recaps,
        reminders=args.reminders,
        announcements=args.announcements,
        span=args.span,
        kills=kills,
        seed=seed,
        faults=args.faults,
        ambiguous=args.ambiguous,
        sandbox={"nonce_window": args.nonce_window},
    )
    if crash:
        workload.gap_kills = min(args.gap_kills, kills)
        workload.offsets = ("90s", "30s", "0m")
        # The 90 s reminders have 80 s of grace: one brought back 70 s late goes "(delayed)".
        workload.grace = {"90s": "80s", "30s": "5s", "0m": "5s"}
        workload.min_down = args.nonce_window + 1.0  # every outage outlasts the nonce window
        workload.max_down = max(workload.min_down + 1.0, 8.0)
        workload.min_up = 3.0
        workload.dm_members = args.dms
        workload.busy = args.busy
        workload.bury = args.bury
        workload.after_store = args.after_store
        workload.long_downs = args.long_downs
        workload.long_down = 70.0
        if args.smoke:  # no long outage to outlast: short leads keep the run short
            workload.offsets = ("5s", "0m")
            workload.grace = {"5s": "10s", "0m": "10s"}
    if args.faults:
        # Under faults nothing is killed: every reminder must arrive, within a roomier grace.
        workload.grace = {"30s": "25s", "0m": "30s"}
    base = Path(tempfile.mkdtemp(prefix="amabot-chaos-"))
    mode = "fault" if args.faults else "crash"
    print(f"{mode} run, seed {seed}, folder {base}")
    began = time.monotonic()
    report = asyncio.run(run_chaos(base / "run", workload, say=print))
    print()
    print(report.table())
    print()
    for line in report.kills:
        print(f"  {line}")
    t = report.timings
    print(
        f"timings: setup {t['setup_s']:.1f}s, first start {t['first_start_s']:.1f}s, "
        f"workload driven in {t['driven_s']:.1f}s, all settled {t['settled_s']:.1f}s after start,"
        f" restarts {int(t['restarts'])} (median time to serve again "
        f"{t['restart_p50_s']:.1f}s), wall {time.monotonic() - began:.1f}s"
    )
    i = report.interactions
    print(
        f"interactions: {i['answered']} answered, {i['timeouts']} unanswered while the bot was "
        f"down (retried), answered twice: {i['answered_twice']}, second callbacks rejected: "
        f"{i['second_callbacks_rejected']}"
    )
    print(f"Discord answers to the bot, by status: {i['statuses']}")
    print(
        f"interactions members saw fail: {i['failed_interactions']}; invalid requests "
        f"(401/403/429) in the last 10 minutes: {i['invalid_requests']} (ban at 10,000)"
    )
    print(f"bot log: {report.log_path}")
    bad = report.lost or report.duplicated or report.problems
    if crash and len(report.gap_landed) < min(3, workload.gap_kills):
        print(f"only {len(report.gap_landed)} kills landed between send and record")
        bad = True
    if not args.keep and not bad:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
