"""Discord's own limits that are not plain bucket rate limits: sliding windows per resource.

Publishes per news channel, edits of old messages per channel, DM opens, and the count of
invalid requests (401/403/429) that gets an IP banned. Each window takes its `now` so the
caller decides which clock it runs on (the sandbox clock for calendar-scale limits, real
time for the invalid-request counter).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Hashable
from typing import Any

from .state import ApiError


class SlidingWindow:
    """At most `limit` hits per `seconds` for each key, the window sliding with `now()`."""

    def __init__(self, limit: int, seconds: float, now: Callable[[], float]) -> None:
        self.limit = limit
        self.seconds = seconds
        self.now = now
        self._hits: dict[Hashable, deque[float]] = defaultdict(deque)

    def _live(self, key: Hashable) -> deque[float]:
        hits = self._hits[key]
        cutoff = self.now() - self.seconds
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def count(self, key: Hashable) -> int:
        return len(self._live(key))

    def retry_after(self, key: Hashable) -> float | None:
        """Seconds until the oldest hit leaves the window, or None while under the limit."""
        hits = self._live(key)
        if len(hits) < self.limit:
            return None
        return max(hits[0] + self.seconds - self.now(), 0.0)

    def add(self, key: Hashable) -> None:
        self._hits[key].append(self.now())


class RateLimited(ApiError):
    """A 429 with the headers discord.py reads (`Via` decides whether it retries at all)."""

    def __init__(
        self,
        retry_after: float,
        *,
        bucket: str,
        limit: int,
        code: int = 0,
        message: str = "You are being rate limited.",
        via: bool = True,
        scope: str = "user",
    ) -> None:
        super().__init__(429, code, message)
        self.retry_after = retry_after
        self.headers: dict[str, str] = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": bucket,
            "X-RateLimit-Scope": scope,
        }
        if via:
            self.headers["Via"] = "1.1 google"

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "retry_after": round(self.retry_after, 3),
            "global": False,
            "code": self.code,
        }


class InvalidRequests:
    """rate-limits.mdx: 10,000 responses of 401, 403 or 429 per 10 minutes get the IP banned
    by Cloudflare; 429s with X-RateLimit-Scope: shared do not count. Real time (monotonic):
    it is about how fast the bot errs, not about the calendar a test may move."""

    WINDOW = 600.0
    BAN_AT = 10_000

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self.total = 0

    def record(self, status: int, headers: dict[str, str] | None = None) -> None:
        if status not in (401, 403, 429):
            return
        if status == 429 and (headers or {}).get("X-RateLimit-Scope") == "shared":
            return
        self.total += 1
        self._times.append(time.monotonic())

    @property
    def last_10_minutes(self) -> int:
        cutoff = time.monotonic() - self.WINDOW
        while self._times and self._times[0] <= cutoff:
            self._times.popleft()
        return len(self._times)
