"""Interaction timing: an interaction answered within Discord's 3 s (`in_time`), and the
bot's own time per interaction: from the gateway's INTERACTION_CREATE reaching discord.py to
the first response (callback) leaving the bot. Measured inside the process, so the
benchmarks can tell the bot's time from the stand-in's and the network's."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import discord

log = logging.getLogger("amabot.timing")

KEEP = 100_000
T = TypeVar("T")

DEFER_AFTER = 1.5  # seconds of work before an answer is deferred (Discord allows 3)


async def in_time(
    interaction: discord.Interaction, work: Awaitable[T], *, ephemeral: bool = True
) -> T:
    """Await `work` for an interaction not answered yet; if it takes longer than
    DEFER_AFTER (the store busy, the thread pool full), acknowledge first ("thinking…", or a
    deferred update for a click), so Discord's 3 s pass with the member still answered. The
    caller then answers with a follow-up when `interaction.response.is_done()`."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=DEFER_AFTER)
    if not done and not interaction.response.is_done():
        try:
            if interaction.type is discord.InteractionType.component:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        except BaseException:
            task.cancel()
            raise
    return await task


class InteractionTimer:
    """When each interaction arrived and how long the bot took to answer it."""

    def __init__(self) -> None:
        self._received: dict[int, float] = {}
        self.samples: deque[float] = deque(maxlen=KEEP)  # milliseconds
        self.by_id: dict[int, float] = {}  # the latest KEEP, by interaction id (benchmarks)
        # Told each sample (milliseconds): the metrics' histogram.
        self.on_sample: Callable[[float], None] | None = None
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._on_request_start)

    def install(self, parsers: dict[str, Any]) -> None:
        """Wrap discord.py's INTERACTION_CREATE parser (its ConnectionState.parsers, which the
        gateway reads per event) to note when each interaction arrived."""
        original = parsers["INTERACTION_CREATE"]
        received = self._received

        def parse_interaction_create(data: dict[str, Any]) -> Any:
            if len(received) > KEEP:  # never answered (a deadline missed): do not grow forever
                received.clear()
            received[int(data["id"])] = time.perf_counter()
            return original(data)

        parsers["INTERACTION_CREATE"] = parse_interaction_create

    async def _on_request_start(self, _session: Any, _ctx: Any, params: Any) -> None:
        parts = params.url.path.rstrip("/").split("/")
        if len(parts) >= 4 and parts[-1] == "callback" and parts[-4] == "interactions":
            iid = int(parts[-3]) if parts[-3].isdigit() else 0
            began = self._received.pop(iid, None)
            if began is not None:
                ms = (time.perf_counter() - began) * 1000
                self.samples.append(ms)
                if len(self.by_id) >= KEEP:
                    del self.by_id[next(iter(self.by_id))]
                self.by_id[iid] = ms
                if self.on_sample is not None:
                    self.on_sample(ms)

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"count": 0}

        def pct(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

        return {"count": len(ordered), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1)}

    def log_summary(self) -> None:
        s = self.summary()
        if s["count"]:
            log.info(
                "interactions: %d answered; the bot's own time p50 %.2f ms, p99 %.2f ms, "
                "max %.2f ms",
                s["count"], s["p50_ms"], s["p99_ms"], s["max_ms"],
            )  # fmt: skip
