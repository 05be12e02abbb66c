"""A loop-lag probe: a task that sleeps a few milliseconds at a time and records how much
later than asked it woke. Anything that blocks the event loop (a long computation, a
synchronous file or database call, a full garbage collection) shows up as one long lag."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LoopLagProbe:
    tick: float = 0.005
    lags: list[tuple[float, float]] = field(default_factory=list)  # (lag s, when monotonic)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            began = time.monotonic()
            await asyncio.sleep(self.tick)
            lag = time.monotonic() - began - self.tick
            if lag > 0.02:
                self.lags.append((lag, began))

    def start(self) -> LoopLagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-probe")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def worst(self) -> float:
        return max((lag for lag, _ in self.lags), default=0.0)

    def reset(self) -> None:
        self.lags.clear()
