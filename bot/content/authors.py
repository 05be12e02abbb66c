"""The authors file (`.authors.yml` format of the blog) and the hub's speakers folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.content.fields import (
    Ctx,
    check_fields,
)
from bot.content.frontmatter import Refused, decode, load_yaml
from bot.content.models import Author


def parse_authors(data: Any, ctx: Ctx) -> Mapping[str, Author]:
    if not isinstance(data, dict) or not isinstance(data.get("authors"), dict):
        ctx.error("an authors file holds `authors:` then one entry per author key", "bad-authors")
        return MappingProxyType({})
    out: dict[str, Author] = {}
    for key, entry in data["authors"].items():
        if not isinstance(entry, dict):
            ctx.error(
                f"author {key!r} must be a mapping with `name:`", "bad-authors", "authors", str(key)
            )
            continue
        check_fields(
            ctx,
            entry,
            frozenset(("name", "description", "avatar", "slug", "url")),
            f"author {key!r}",
            str(key),
        )
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            ctx.warn(f"author {key!r} has no `name`", "missing-field", str(key))
            name = str(key)
        avatar = entry.get("avatar")
        out[str(key)] = Author(
            key=str(key),
            name=name.strip(),
            description=str(entry.get("description") or "").strip(),
            avatar=avatar.strip() if isinstance(avatar, str) else None,
        )
    return MappingProxyType(out)


def load_speakers(folder: Path) -> dict[str, tuple[str, str]]:
    """A hub `speakers/` folder -> id: (display name, role). A file that cannot be read is
    skipped: the episodes that name it show the id instead."""
    out: dict[str, tuple[str, str]] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return out
    for path in entries:
        if path.suffix not in (".yaml", ".yml") or path.is_symlink():
            continue
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        text = decode(raw, path.name, [])
        if text is None:
            continue
        try:
            data = load_yaml(text, 1)
        except Refused:
            continue
        if isinstance(data.get("name"), str):
            out[str(data.get("id") or path.stem)] = (
                data["name"].strip(),
                str(data.get("role") or "guest"),
            )
    return out
