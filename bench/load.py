"""Load run (issue 7, part 3): 500 members at once send /episode, /recap and autocomplete
interactions to the real bot (a process, 10,000 episodes loaded) while recap
announcements, reminders and organiser announcements are delivered. Prints p50/p99
interaction latency (the member's round trip, and the bot's own time from gateway receipt to
callback, measured inside the bot), unanswered, doubly answered and failed interactions (the
stand-in's "This interaction failed"), and whether any delivery was late beyond its grace.
The stand-in runs without spec validation here (the tests keep it). Exits 1 on any
unanswered, doubly answered, failed, lost or duplicated.

    python3 bench/load.py [--members 500] [--episodes 10000] [--rounds 4] [--seed 7]
    python3 bench/load.py --smoke   # 10 members, 50 episodes, 1 round: that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit.processes import run_load

SMOKE_HELP = "the smallest run, that it runs at all (tests/test_benches.py): figures mean little"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=4, help="interactions per member")
    parser.add_argument("--span", type=float, default=30.0, help="seconds deliveries fall due in")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, db)")
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.members, args.episodes, args.rounds, args.span = 10, 50, 1, 3.0
    base = Path(tempfile.mkdtemp(prefix="amabot-load-"))
    print(f"load run, seed {args.seed}, folder {base}")
    began = time.monotonic()
    report = asyncio.run(
        run_load(
            base / "run",
            members=args.members,
            episodes=args.episodes,
            rounds=args.rounds,
            span=args.span,
            seed=args.seed,
            say=print,
            validate=False,  # timing the bot, not the stand-in's spec checker
        )
    )
    print()
    print(report.summary())
    t = report.timings
    print(
        f"timings: setup {t['setup_s']:.1f}s, first start {t['first_start_s']:.1f}s, "
        f"crowd done in {t['crowd_s']:.1f}s, wall {time.monotonic() - began:.1f}s"
    )
    for line in report.unanswered[:10]:
        print(f"  UNANSWERED {line}")
    d = report.deliveries
    bad = (
        report.unanswered
        or report.answered_twice
        or report.failed_interactions
        or d.lost
        or d.duplicated
    )
    if not args.keep and not bad:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
