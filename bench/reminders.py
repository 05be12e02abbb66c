"""Reminder lateness benchmark: 1,000 reminders due within 60 s, through the real bot.

The real AmaBot (discord.py) against the local Discord stand-in, with the real clock: the
episodes are merged into the content repository, the bot pulls and reconciles them into the
outbox, and APScheduler's wake-ups deliver each reminder. Lateness is measured where a member
would notice it: the stand-in's receipt of the POST minus the reminder's due time.

Prints p50/p99/max lateness (target: p99 <= 250 ms), how many were sent, delayed, skipped,
duplicated, and the bot's own view (sent minus due at the dispatcher).

    python3 bench/reminders.py [--reminders 1000] [--spread 60] [--lead 8]
    python3 bench/reminders.py --smoke   # 10 reminders within 2 s: that it runs

`--spread 1` puts all of them within one second: a burst, to see the throughput limit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import system_clock
from bot.plan.posts import PostStatus, nonce_for
from testkit.harness import Harness

OFFSETS_PER_EVENT = 10

SMOKE_HELP = "the smallest run, that it runs at all (tests/test_benches.py): figures mean little"


def episode_md(n: int, livestream: datetime, ama: datetime) -> str:
    return (
        f"---\nid: bench-{n:04d}\nseason: 90\nepisode: {n}\ntitle: Benchmark episode {n}\n"
        "guests: [A Guest]\nstatus: scheduled\ntimezone: America/Los_Angeles\n"
        f"livestream:\n  start: {livestream.isoformat()}\n  duration: 30m\n"
        "  url: https://example.org/register\n"
        f"ama:\n  start: {ama.isoformat()}\n  duration: 30m\n  url: https://discord.gg/x\n"
        "---\nBenchmark.\n"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def run(total: int, spread: float, lead: float, keep: Path | None) -> int:
    base = keep or Path(tempfile.mkdtemp(prefix="amabot-bench-reminders-"))
    base.mkdir(parents=True, exist_ok=True)
    empty = base / "content-src"
    (empty / "episodes").mkdir(parents=True, exist_ok=True)

    # Offsets must be whole seconds (config durations); use 1 s steps when the spread allows.
    step_s = max(1, int(spread * 0.75 / OFFSETS_PER_EVENT))
    labels = ["0m", *(f"{step_s * i}s" for i in range(1, OFFSETS_PER_EVENT))]
    span = timedelta(seconds=step_s * (OFFSETS_PER_EVENT - 1))

    h = Harness(
        base / "world",
        clock=system_clock,
        content_source=empty,
        overrides={"reminders": {"offsets": labels}, "content": {"poll_interval": "1h"}},
        validate=False,  # spec validation of 1,000 bodies would measure the validator
    )
    await h.start()
    try:
        await h.start_bot()
        sb = h.sandbox
        first_due = datetime.now(UTC) + timedelta(seconds=lead)
        episodes = max(1, total // (2 * OFFSETS_PER_EVENT))
        window = max(timedelta(seconds=spread) - span, timedelta(milliseconds=20))
        gap = window / (2 * episodes)
        files = {}
        for n in range(episodes):
            livestream = first_due + span + gap * (2 * n)
            files[f"episodes/bench-{n:04d}.md"] = episode_md(n, livestream, livestream + gap)
        t = time.perf_counter()
        await h.merge(files, "bench episodes")
        await h.posting.sync.pull_now("bench")
        setup = time.perf_counter() - t
        pending = await h.bot.db.outbox.pending()
        due = {p.key: p.due_at for p in pending if p.kind == "reminder"}
        if not due:
            print("no reminders were planned; nothing to measure")
            return 1
        earliest = min(due.values())
        latest = max(due.values())
        print(
            f"{len(due)} reminders planned in {setup:.2f}s, due from "
            f"{(earliest - datetime.now(UTC)).total_seconds():+.1f}s to "
            f"{(latest - datetime.now(UTC)).total_seconds():+.1f}s from now "
            f"({len(h.posting.wakeups.job_ids())} wake-ups)"
        )
        by_nonce = {nonce_for(k): k for k in due}
        outbox = h.bot.db.outbox

        async def settled() -> bool:
            counts = await outbox.counts()
            return counts[PostStatus.PENDING] + counts[PostStatus.SENDING] == 0

        limit = (latest - datetime.now(UTC)).total_seconds() + 30
        deadline = time.monotonic() + limit
        while not await settled():
            if time.monotonic() > deadline:
                print("timed out waiting for the outbox to settle")
                break
            await asyncio.sleep(0.2)

        first_receipt: dict[str, datetime] = {}
        posts = 0
        delayed = 0
        for r in sb.requests_to("POST", "/channels/*/messages"):
            key = by_nonce.get((r.json or {}).get("nonce")) if isinstance(r.json, dict) else None
            if key is None or r.status != 200:
                continue
            posts += 1
            first_receipt.setdefault(key, r.time)
            if "(delayed)" in (r.json or {}).get("content", ""):
                delayed += 1
        lateness_ms = [(first_receipt[k] - due[k]).total_seconds() * 1000 for k in first_receipt]
        rows = {p.key: p for p in await outbox.all()}
        skipped = [rows[k] for k in due if rows[k].status is PostStatus.SKIPPED]
        failed = [rows[k] for k in due if rows[k].status is PostStatus.FAILED]
        bot_view = [s * 1000 for s in h.posting.dispatcher.stats.lateness]

        print(
            f"sent {len(first_receipt)}/{len(due)} (POSTs accepted: {posts}, duplicates: "
            f"{posts - len(first_receipt)}), delayed {delayed}, skipped {len(skipped)}, "
            f"failed {len(failed)}"
        )
        if lateness_ms:
            print(
                "lateness at the stand-in (receipt - due): "
                f"p50 {percentile(lateness_ms, 0.5):.1f} ms, "
                f"p99 {percentile(lateness_ms, 0.99):.1f} ms, "
                f"max {max(lateness_ms):.1f} ms, min {min(lateness_ms):.1f} ms, "
                f"mean {statistics.fmean(lateness_ms):.1f} ms"
            )
        if bot_view:
            print(
                "lateness at the dispatcher (recorded sent_at - due): "
                f"p50 {percentile(bot_view, 0.5):.1f} ms, p99 {percentile(bot_view, 0.99):.1f} "
                f"ms, max {max(bot_view):.1f} ms"
            )
        for post in skipped[:3]:
            print(f"  skipped {post.key}: {post.reason}")
        ok = bool(lateness_ms) and percentile(lateness_ms, 0.99) <= 250 and not skipped
        print("target p99 <= 250 ms:", "met" if ok else "MISSED")
        return 0
    finally:
        await h.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reminders", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the dues span")
    parser.add_argument("--lead", type=float, default=8.0, help="seconds before the first due")
    parser.add_argument("--keep", type=Path, default=None, help="keep the world in this folder")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=SMOKE_HELP,
    )
    args = parser.parse_args()
    if args.smoke:
        args.reminders, args.spread, args.lead = 10, 2.0, 4.0
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(args.reminders, args.spread, args.lead, args.keep))


if __name__ == "__main__":
    raise SystemExit(main())
