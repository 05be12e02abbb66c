"""A document's image given as a path in the content repository (``![Card](../img/S2-E5.png)``):
where it lives under the content root, and the name it is attached under. Pure; the file
itself is read only by whoever sends it (bot/discord/sender.py) and by `amabot check`.

A path is relative to the document's folder, or to the content root when it starts with
``/`` or when, from the document, it would climb above the root. Nothing outside the root
is ever read.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# Discord's upload limit for a bot in a server without boosts (10 MiB).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def repository_image(ref: str | None, document: str) -> PurePosixPath | None:
    """`ref` as a path under the content root (no ``..``), or None: a web address, no
    image suffix, or nothing left under the root. `document` is the document's path under
    the root (``recaps/s2-e05.md``)."""
    # A scheme (https:, data:) or a drive letter is not a repository path.
    if not ref or ":" in ref.split("/", 1)[0]:
        return None
    ref = ref.strip().split("#", 1)[0].split("?", 1)[0]
    steps = ref.split("/")
    if ref.startswith("/"):
        path = _walk([], steps)
    else:
        # Relative to the document; a path that climbs above the root was written for the
        # whole repository (the seed's `./../../season-02/img/S2-E5.png` from a blog folder
        # two levels down): then it is read from the content root, its leading `../` dropped.
        path = _walk(list(PurePosixPath(document).parent.parts), steps)
        if path is None:
            rest = list(steps)
            while rest and rest[0] in ("", ".", ".."):
                rest.pop(0)
            path = _walk([], rest)
    if path is None or path.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    return path


def _walk(parts: list[str], steps: list[str]) -> PurePosixPath | None:
    for step in steps:
        if step in ("", "."):
            continue
        if step == "..":
            if not parts:
                return None  # above the content root
            parts.pop()
        else:
            parts.append(step)
    return PurePosixPath(*parts) if parts else None


def attachment_name(path: PurePosixPath) -> str:
    """The file name Discord keeps as is (letters, digits, ``._-``): the embed refers to it
    as ``attachment://<name>`` and a history lookup finds it in the message's attachments."""
    name = _UNSAFE.sub("_", path.name).strip("._") or "image"
    suffix = path.suffix.lower()
    return name if name.lower().endswith(suffix) else f"{name}{suffix}"
