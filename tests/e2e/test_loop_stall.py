"""The event loop never stalls: start-up with 10,000 episodes and 10,000 recaps, then a batch of
1,000 reminders delivered, with a probe measuring how late the loop wakes. A blocked loop
misses gateway heartbeats ("Can't keep up ... behind") and every member's click with it.

The stand-in shares the loop (its own work is small per request); it runs without spec
validation here, which would otherwise be most of what the probe measures.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bot.plan.posts import PostStatus
from testkit.corpus import generate
from testkit.harness import Harness
from testkit.probe import LoopLagProbe

LIMIT = 0.250  # seconds the loop may be blocked at most
OFFSETS = ["0m", *(f"{i}s" for i in range(1, 10))]  # ten reminders per livestream and AMA


def batch_episode(n: int, start: datetime) -> str:
    ama = start + timedelta(milliseconds=20)
    return (
        f"---\nid: batch-{n:03d}\nseason: 900\nepisode: {n + 1}\ntitle: Batch {n}\n"
        "status: scheduled\ntimezone: UTC\n"
        f"livestream:\n  start: {start.isoformat()}\n  duration: 30m\n"
        "  url: https://example.org/live\n"
        f"ama:\n  start: {ama.isoformat()}\n  duration: 30m\n  url: https://discord.gg/x\n"
        "---\nBatch.\n"
    )


def stalls(probe: LoopLagProbe) -> str:
    worst = sorted(probe.lags, reverse=True)[:5]
    return ", ".join(f"{lag * 1000:.0f} ms" for lag, _ in worst) or "none"


async def test_the_loop_is_never_blocked_for_long(tmp_path):
    corpus = tmp_path / "corpus"
    await asyncio.to_thread(generate, corpus, 10_000, 10_000)
    h = Harness(
        tmp_path / "world",
        validate=False,
        overrides={
            "content": {"path": str(corpus), "poll_interval": "1h"},
            "reminders": {"offsets": OFFSETS},
        },
    )
    await h.start()
    probe = LoopLagProbe().start()
    try:
        await h.start_bot(ready_within=90)
        # The start's own background work (the first content rescan) settles too.
        await h.posting.sync.wait_idle()
        assert len(h.bot.index.episodes()) >= 10_000
        assert probe.worst < LIMIT, f"loop blocked during start-up: {stalls(probe)}"

        probe.reset()
        first = datetime.now(UTC) + timedelta(seconds=6)
        files = {
            corpus / "episodes" / f"batch-{n:03d}.md": batch_episode(
                n, first + timedelta(seconds=9) + timedelta(milliseconds=40 * n)
            )
            for n in range(50)
        }
        for path, text in files.items():
            await asyncio.to_thread(path.write_text, text, "utf-8")
        await h.posting.sync.pull_now("test")
        outbox = h.bot.db.outbox
        planned = await outbox.keys_with_prefix("reminder:batch-", [PostStatus.PENDING])
        assert len(planned) == 1_000
        deadline = time.monotonic() + 90
        while True:
            sent = len(await outbox.keys_with_prefix("reminder:batch-", [PostStatus.SENT]))
            if sent == 1_000:
                break
            assert time.monotonic() < deadline, f"only {sent} of 1,000 reminders sent"
            await asyncio.sleep(0.25)
        assert probe.worst < LIMIT, f"loop blocked during 1,000 reminders: {stalls(probe)}"
    finally:
        await probe.stop()
        await h.stop()
