"""A request or response that does not match Discord's OpenAPI spec (see validation.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    kind: str  # "request" | "query" | "response" | "route"
    method: str
    path: str
    template: str | None
    message: str
    where: str = ""

    def __str__(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"{self.kind}: {self.method} {self.path} ({self.template}){at}: {self.message}"
