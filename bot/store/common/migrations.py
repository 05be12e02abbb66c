"""The numbered migrations a backend ships as package data, ``<package>/migrations/
NNNN_name.sql``, numbered 1, 2, 3 ... without gaps (each backend has its own numbering, and
its own way to apply them)."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from typing import TypeVar

from bot.store.interface import StoreError

_MIGRATION_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

M = TypeVar("M")


def load_migrations(package: str, migration: Callable[[int, str, str], M]) -> tuple[M, ...]:
    """`package`'s migrations in order, each made by `migration(version, name, sql)`."""
    folder = resources.files(package).joinpath("migrations")
    found: list[tuple[int, str, str]] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match is None:
            raise StoreError(f"migration file {entry.name} is not named NNNN_name.sql")
        found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m[0])
    versions = [m[0] for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations must be numbered 1, 2, 3 ... without gaps; found {versions}")
    return tuple(migration(*m) for m in found)
