"""Injected failures: N answers of 429/5xx for a route (or all), response delays, and the
ambiguous failure (the write happened, the answer says it did not)."""

from __future__ import annotations

import fnmatch
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

SERVER_ERRORS = {
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
    504: "504: Gateway Timeout",
}


def route_matches(pattern: str | None, method: str, path: str, template: str | None) -> bool:
    """`pattern` is "METHOD /path" or "/path"; the path may be a spec template
    ("/channels/{channel_id}/messages"), a concrete path, or a glob ("/channels/*/messages").
    """
    if pattern is None:
        return True
    want_method, _, want_path = pattern.strip().partition(" ")
    if not want_path:
        want_method, want_path = "", want_method
    if want_method and want_method.upper() != method.upper():
        return False
    if template is not None and want_path == template:
        return True
    return fnmatch.fnmatchcase(path, want_path)


@dataclass
class Failure:
    remaining: int
    status: int
    route: str | None
    retry_after: float = 0.5
    global_: bool = False
    # Periodic faults (`Sandbox.fail_every`): only every `every`-th matching request fails,
    # and of those, every `global_every`-th 429 is a global one (0 = never).
    every: int = 1
    global_every: int = 0
    seen: int = 0
    fired: int = 0

    def fires(self, method: str, path: str, template: str | None) -> bool:
        """Whether this request gets the failure; counts the matching requests seen."""
        if not route_matches(self.route, method, path, template):
            return False
        self.seen += 1
        if self.seen % max(self.every, 1):
            return False
        self.fired += 1
        return True

    @property
    def is_global(self) -> bool:
        periodic = self.global_every > 0 and self.fired % self.global_every == 0
        return self.global_ or periodic

    def response(self, bucket: str) -> web.Response:
        if self.status == 429:
            body = {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": self.is_global,
                "code": 0,
            }
            headers = {
                "Content-Type": "application/json",
                "Via": "1.1 google",
                "Retry-After": str(math.ceil(self.retry_after)),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
                "X-RateLimit-Bucket": bucket,
                "X-RateLimit-Scope": "global" if self.is_global else "user",
            }
            if self.is_global:
                headers["X-RateLimit-Global"] = "true"
            return json_response(429, body, headers)
        text = SERVER_ERRORS.get(self.status, f"{self.status}: Server Error")
        # Discord's edge answers 5xx with a JSON error body.
        return json_response(self.status, {"message": text, "code": 0})


DROP = "drop"


@dataclass
class AfterStore:
    """`Sandbox.fail_after_store`: the request takes effect, then the answer is a 5xx (or the
    connection is dropped). A 5xx or a dropped connection does not prove a write failed
    (rate-limits.mdx / discord.py's own retries of 500/502/504 assume as much)."""

    remaining: int
    status: int | str  # 500/502/503/504, or DROP
    route: str | None
    fired: int = 0

    def fires(self, method: str, path: str, template: str | None) -> bool:
        if not route_matches(self.route, method, path, template):
            return False
        self.fired += 1
        self.remaining -= 1
        return True

    def response(self) -> web.Response:
        status = int(self.status)
        text = SERVER_ERRORS.get(status, f"{status}: Server Error")
        return json_response(status, {"message": text, "code": 0})


@dataclass
class Delay:
    seconds: float
    route: str | None
    remaining: int | None = None  # None: every matching request


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py treats "...; charset=utf-8" as text.
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return web.Response(status=status, body=json.dumps(body).encode(), headers=h)
