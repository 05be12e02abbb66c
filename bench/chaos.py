"""Crash and fault runs (issue 7, parts 1 and 2): the real bot as a process, SIGKILLed and
restarted, or facing Discord's bad days, while recaps are merged, reminders fall due and
organisers confirm announcements. Prints the table: expected, delivered, duplicated,
skipped (with reasons), failed, lost. Exits 1 when anything was lost or duplicated.

    python3 bench/chaos.py                      # crash run: 20 recaps, 50 reminders,
                                                # 10 announcements, 10 SIGKILLs in a minute
    python3 bench/chaos.py --faults             # fault run: 429 every third request (some
                                                # global), 503 bursts, 403 channel, 2 s
                                                # delays, 3 gateway drops
    python3 bench/chaos.py --seed 42 --kills 3 --span 30 --keep
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
    parser.add_argument("--span", type=float, default=60.0, help="seconds everything falls due in")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, db)")
    parser.add_argument(
        "--nonce-window",
        type=float,
        default=3.0,
        help="seconds the sandbox honours enforce_nonce (Discord: a few minutes); short, so "
        "only the bot itself prevents a duplicate after an outage",
    )
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    kills = args.kills if args.kills is not None else (0 if args.faults else 10)
    workload = Workload(
        recaps=args.recaps,
        reminders=args.reminders,
        announcements=args.announcements,
        span=args.span,
        kills=kills,
        seed=seed,
        faults=args.faults,
        sandbox={"nonce_window": args.nonce_window},
    )
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
    bad = report.lost or report.duplicated
    if not args.keep and not bad:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
