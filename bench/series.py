"""Several series against one (issue 20): start-up and merge-to-post with 10 series of 1,000
episodes + 1,000 recaps each, against one series of 10,000 + 10,000, in the same run.

The real bot (discord.py) against the local Discord stand-in, one real git content
repository (each series its own folders in it, as `[[series]]` configures them) and a real
SQLite file; the same 10,000 episodes and 10,000 recaps in both layouts (every episode
aired, every recap recorded as backlog on the first start). Measured:

- start-up: from `start_bot` until the first pull has been planned and the bot is idle
  (content loaded, every series bound and planned, its backlog recorded);
- merge -> post: each merge adds one recap (to the series in turn), pushes it and sends the
  signed push webhook; the clock stops when the stand-in has stored the announcement, in
  that series' own channel.

Prints both figures for both layouts and their ratios (10 series / 1 series).

    python3 bench/series.py [--series 10] [--episodes 1000] [--recaps 1000] [--merges 20]
    python3 bench/series.py --smoke   # 2 series of 20 + 20 against 1 of 40 + 40, 2 merges
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from merge_to_post import TOPICS, describe, recap_md  # noqa: E402

from testkit.harness import SAMPLE_CONTENT, Harness  # noqa: E402

FIRST = datetime(2016, 1, 4, 13, 30, tzinfo=UTC)  # written without a zone: every episode long aired


def episode_md(i: int, series: str) -> str:
    season, number = i // 100 + 1, i % 100 + 1
    start = FIRST + timedelta(hours=6 * i)
    topic = TOPICS[i % len(TOPICS)]
    return (
        f"---\nseason: {season}\nepisode: {number}\n"
        f"title: {series} on {topic}, part {i}\nguests: [Guest {i}]\ntags: [{topic.split()[0]}]\n"
        f"status: published\nlivestream:\n  start: {start:%Y-%m-%dT%H:%M}\n---\n"
        f"An episode about {topic}.\n"
    )


def write_series(root: Path, folder: str, name: str, episodes: int, recaps: int) -> None:
    """One series' folders: `episodes` aired episodes and `recaps` published recaps."""
    prefix = f"{folder}/" if folder else ""
    eps = root / f"{prefix}episodes"
    eps.mkdir(parents=True, exist_ok=True)
    for i in range(episodes):
        season, number = i // 100 + 1, i % 100 + 1
        (eps / f"s{season}-e{number:02d}.md").write_text(episode_md(i, name), encoding="utf-8")
    out = root / f"{prefix}recaps" / "archive"
    out.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(recaps):
        topic = TOPICS[i % len(TOPICS)]
        (out / f"recap-{i:05d}.md").write_text(
            recap_md(f"old-{i:05d}", f"{name} archive {i}", start + timedelta(hours=i), topic),
            encoding="utf-8",
        )


def build(root: Path, series: int, episodes: int, recaps: int) -> list[tuple[str, str]]:
    """`series` series' content under `root`; their (id, name), the first in the bare
    folders (as a one-series deployment has them)."""
    root.mkdir(parents=True)
    shutil.copy(SAMPLE_CONTENT / "authors.yml", root / "authors.yml")
    shows = [("model-mondays", "Model Mondays")]
    shows += [(f"show-{n:02d}", f"Show {n:02d}") for n in range(1, series)]
    for n, (series_id, name) in enumerate(shows):
        write_series(root, "" if n == 0 else series_id, name, episodes, recaps)
    return shows


async def measure(
    base: Path, series: int, episodes: int, recaps: int, merges: int
) -> tuple[float, list[float]]:
    """(start-up seconds, merge -> post seconds) for `series` series of this size."""
    label = f"{series} series of {episodes:,} episodes + {recaps:,} recaps"
    print(f"{label}: building in {base} ...", flush=True)
    t = time.monotonic()
    shows = build(base / "source", series, episodes, recaps)
    h = Harness(base / "world", content_source=base / "source", validate=False)
    await h.start()
    try:
        channels = {"model-mondays": h.announcements}
        for series_id, name in shows[1:]:
            channels[series_id] = h.add_series(series_id, name).announcements
        print(f"  content + git repository ready in {time.monotonic() - t:.1f}s", flush=True)
        t = time.monotonic()
        await h.start_bot(ready_within=600)
        await h.posting.sync.wait_for_attempts(1)
        await h.posting.sync.wait_idle()
        started = time.monotonic() - t
        health = await h.posting.health()
        print(f"  start-up (load, bind, plan, backlog recorded): {started:.2f}s; "
              f"outbox {health['posts']}", flush=True)  # fmt: skip
        times: list[float] = []
        for i in range(merges):
            series_id, name = shows[i % len(shows)]
            folder = "" if series_id == "model-mondays" else f"{series_id}/"
            title = f"{name} merge {i}"
            rid = f"merge-{i}"
            published = datetime.now(UTC) - timedelta(minutes=1)
            await h.merge(
                {f"{folder}recaps/new/{rid}.md": recap_md(rid, title, published, "agents")}, title
            )
            began = time.monotonic()
            status = await h.send_webhook()
            if status != 202:
                raise RuntimeError(f"webhook answered {status}")
            message = await h.sandbox.wait_for_message(
                channels[series_id],
                lambda m, title=title: bool(m.get("embeds")) and m["embeds"][0]["title"] == title,
                timeout=60,
            )
            times.append(h.sandbox.stored(message["id"]).created_monotonic - began)
            await h.posting.sync.wait_idle()
        print(f"  webhook -> announcement in its series' channel: {describe(times)}", flush=True)
        sent = (await h.posting.health())["posts"]["sent"]
        if sent != merges:
            raise RuntimeError(f"{sent} posts sent for {merges} merges")
        return started, times
    finally:
        await h.stop()


async def main(series: int, episodes: int, recaps: int, merges: int, keep: Path | None) -> int:
    base = keep or Path(tempfile.mkdtemp(prefix="amabot-series-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        one_start, one = await measure(base / "one", 1, episodes * series, recaps * series, merges)
        many_start, many = await measure(base / "many", series, episodes, recaps, merges)
        one_median, many_median = statistics.median(one), statistics.median(many)
        print()
        print(
            f"start-up: 1 series of {episodes * series:,} + {recaps * series:,}: "
            f"{one_start:.2f}s; {series} series of {episodes:,} + {recaps:,}: "
            f"{many_start:.2f}s: {many_start / one_start:.2f}x"
        )
        print(
            f"merge -> post median: 1 series {one_median * 1000:.1f} ms; {series} series "
            f"{many_median * 1000:.1f} ms: {many_median / one_median:.2f}x"
        )
        return 0
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=1000, help="per series")
    parser.add_argument("--recaps", type=int, default=1000, help="per series")
    parser.add_argument("--merges", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build in (and keep) this folder")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest run (2 series of 20 + 20 against 1 of 40 + 40, 2 merges), that it "
        "runs at all (tests/test_benches.py): figures mean little",
    )
    args = parser.parse_args()
    if args.smoke:
        args.series, args.episodes, args.recaps, args.merges = 2, 20, 20, 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(main(args.series, args.episodes, args.recaps, args.merges, args.keep)))
