"""What `PRAGMA synchronous = FULL` costs the outbox (issue 14, item 9): the time of one
claim-and-record cycle (two single-row UPDATEs, each its own commit, as delivery does) in WAL
mode with NORMAL and with FULL, on the disk the database lives on.

    python3 bench/sqlite_sync.py [--rows 2000] [--dir /path/on/the/target/disk]
    python3 bench/sqlite_sync.py --smoke   # 50 cycles: that it runs

With WAL, NORMAL may lose the last commits on an OS crash or power loss (not on a process
crash); FULL syncs the WAL on every commit. A lost `mark_sent` would be recovered by the
history lookup, but a lost *claim/attempt note* could let a send go out with no record of it
being tried, so the bot runs FULL if the cost below is small next to a Discord round trip.

The first two lines time a bare SQLite table (this bench is about SQLite's own setting, so it
speaks to the file directly, as tests/store/sqlite/ does); the third times the same cycle as
the bot runs it, through the store interface (`open_store`, `claim`, `mark_sent`).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.plan.posts import PlannedPost
from bot.store import open_store

SMOKE_HELP = "the smallest run, that it runs at all (tests/test_benches.py): figures mean little"


def cycle_ms(path: Path, mode: str, rows: int) -> list[float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {mode}")
    conn.execute("CREATE TABLE IF NOT EXISTS outbox (key TEXT PRIMARY KEY, status TEXT, n INT)")
    conn.executemany(
        "INSERT OR REPLACE INTO outbox VALUES (?, 'pending', 0)", [(f"k{i}",) for i in range(rows)]
    )
    took = []
    for i in range(rows):
        began = time.perf_counter()
        conn.execute("UPDATE outbox SET status = 'sending', n = n + 1 WHERE key = ?", (f"k{i}",))
        conn.execute("UPDATE outbox SET status = 'sent' WHERE key = ?", (f"k{i}",))
        took.append((time.perf_counter() - began) * 1000)
    conn.close()
    return took


async def store_cycle_ms(path: Path, rows: int) -> list[float]:
    """claim + mark_sent per post through the store, as delivery records a send."""
    now = datetime.now(UTC)
    posts = [
        PlannedPost(f"recap:k{i}", "recap", now, 1, {"content": f"post {i}"}) for i in range(rows)
    ]
    took = []
    async with await open_store(path) as store:
        await store.outbox.reconcile(posts, scope="recap:", now=now)
        for i, post in enumerate(posts):
            began = time.perf_counter()
            await store.outbox.claim(post.key, now)
            await store.outbox.mark_sent(post.key, 1000 + i, now)
            took.append((time.perf_counter() - began) * 1000)
    return took


def report(label: str, xs: list[float], rows: int) -> None:
    xs = sorted(xs)
    print(
        f"{label} claim+record: median {statistics.median(xs):.3f} ms, "
        f"p99 {xs[int(len(xs) * 0.99)]:.3f} ms, max {xs[-1]:.3f} ms ({rows} cycles)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--dir", default=None)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=SMOKE_HELP,
    )
    args = parser.parse_args()
    if args.smoke:
        args.rows = 50
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for mode in ("NORMAL", "FULL"):
            report(
                f"{mode:<6}", cycle_ms(Path(tmp) / f"{mode}.sqlite3", mode, args.rows), args.rows
            )
        xs = asyncio.run(store_cycle_ms(Path(tmp) / "store.sqlite3", args.rows))
        report("store ", xs, args.rows)


if __name__ == "__main__":
    main()
