"""What files the content folder holds: the scan behind `ContentIndex.reload`.

A content root (configured episodes/recaps/authors) is read by its folders' rules; any other
folder is walked for Markdown and YAML. Links that leave the folder, or are broken, and
files that are not regular files are refused with a problem, never opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.config import Settings
from bot.content.loader import Kind
from bot.content.models import Problem

_HUB_SUPPORT_DIRS = frozenset(("speakers", "seasons", "tags", "schema", "node_modules"))
_CONTENT_SUFFIXES = (".md", ".markdown", ".yaml", ".yml")


@dataclass(slots=True)
class Found:
    """One file discovered by a scan."""

    rel: str
    path: str | Path  # a str from a folder scan: a Path per file costs more than reading it
    kind: Kind | Literal["auto"]
    size: int = 0
    mtime_ns: int = 0
    refused: Problem | None = None


class Scanner:
    """Finds the content files under `root` (or the one file `only`), with their sizes and
    modification times; reads nothing else."""

    def __init__(
        self, root: Path, settings: Settings, only: Path | None, content_root: bool | None = None
    ) -> None:
        self.root = root
        self.settings = settings
        self._only = only
        self._real_root = _real(root)
        # None: decided on the first reload. True for one series among several: its folders
        # not made yet must never turn the whole checkout (the others' files) into its own.
        self._content_root: bool | None = content_root

    @property
    def is_content_root(self) -> bool:
        """A folder with the configured episodes/recaps/authors (else: any folder of files).
        Decided once, on the first reload, so one scan never mixes the two rules."""
        if self._content_root is None:
            c = self.settings.content
            self._content_root = self._only is None and (
                (self.root / c.episodes).is_dir()
                or (self.root / c.recaps).is_dir()
                or (self.root / c.authors).is_file()
            )
        return self._content_root

    def normalise_paths(self, paths: Iterable[str | Path]) -> list[str]:
        out = []
        for p in paths:
            path = Path(p)
            if path.is_absolute():
                try:
                    path = path.relative_to(self.root)
                except ValueError:
                    continue
            out.append(path.as_posix())
        return out

    def kind_for(self, rel: str) -> Kind | Literal["auto"] | None:
        """In a content root the folder says what a file is; elsewhere we guess."""
        name = rel.rsplit("/", 1)[-1]
        if not name.endswith(_CONTENT_SUFFIXES):
            return None
        c = self.settings.content
        if not self.is_content_root:
            if name in (".authors.yml", "authors.yml", "authors.yaml"):
                return "authors"
            return "auto"
        if rel == c.authors:
            return "authors"
        if rel.startswith(c.episodes.rstrip("/") + "/"):
            return "episode"
        if rel.startswith(c.recaps.rstrip("/") + "/"):
            if name == ".authors.yml":
                return "authors" if not (self.root / c.authors).is_file() else None
            return "recap" if name.endswith((".md", ".markdown")) else None
        return None

    def discover(self, paths: Iterable[str | Path] | None) -> tuple[dict[str, Found], bool]:
        """The files to look at, and whether that is every file (else only `paths`)."""
        found: dict[str, Found] = {}
        if self._only is not None:
            rel = self._only.name
            self._stat_one(found, self._only, rel, "auto")
            return found, True
        if paths is not None:
            for rel in self.normalise_paths(paths):
                kind = self.kind_for(rel)
                if kind is not None:
                    self._stat_one(found, self.root / rel, rel, kind)
            return found, False
        if self.is_content_root:
            c = self.settings.content
            # Authors first: a cold load can then index each recap under its authors' names
            # while the other files are still being parsed.
            authors = self.root / c.authors
            if authors.exists() or authors.is_symlink():
                self._stat_one(found, authors, c.authors, "authors")
            elif (self.root / c.recaps / ".authors.yml").is_file():
                self._stat_one(
                    found,
                    self.root / c.recaps / ".authors.yml",
                    f"{c.recaps}/.authors.yml",
                    "authors",
                )
            for folder in (c.episodes, c.recaps):
                self._walk(found, self.root / folder, folder.strip("/"))
        else:
            self._walk(found, self.root, "")
        return found, True

    def _stat_one(
        self, found: dict[str, Found], path: Path, rel: str, kind: Kind | Literal["auto"]
    ) -> None:
        try:
            st = path.lstat()
        except OSError:
            return
        if os.path.islink(path):
            refused = self._check_link(path, rel)
            if refused is not None:
                found[rel] = Found(rel, path, kind, refused=refused)
                return
            try:
                st = path.stat()
            except OSError:
                return
        if not path.is_file():
            if path.exists() and not path.is_dir():
                found[rel] = Found(rel, path, "ignored", refused=_not_a_file(rel))
            return
        found[rel] = Found(rel, path, kind, st.st_size, st.st_mtime_ns)

    def _check_link(self, path: Path, rel: str) -> Problem | None:
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return Problem(
                rel, None, "error", "symbolic link is broken or loops; refused", "symlink"
            )
        if self._only is None and not target.is_relative_to(self._real_root):
            return Problem(
                rel,
                None,
                "error",
                "symbolic link leads outside the content folder; refused",
                "symlink-outside",
            )
        return None

    def _walk(self, found: dict[str, Found], folder: Path, prefix: str) -> None:
        if os.path.islink(folder):
            refused = self._check_link(folder, prefix or ".")
            if refused is not None:
                found[prefix] = Found(prefix, folder, "ignored", refused=refused)
                return
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            rel = f"{prefix}/{entry.name}" if prefix else entry.name
            try:
                if entry.is_symlink():
                    refused = self._check_link(Path(entry.path), rel)
                    if refused is not None:
                        if entry.name.endswith(_CONTENT_SUFFIXES) or Path(entry.path).is_dir():
                            found[rel] = Found(rel, Path(entry.path), "ignored", refused=refused)
                        continue
                    if not entry.is_file():
                        continue  # symlinked folders inside the root are not followed
                elif entry.is_dir():
                    if entry.name.startswith(".") or (
                        not self.is_content_root and entry.name in _HUB_SUPPORT_DIRS
                    ):
                        continue
                    self._walk(found, Path(entry.path), rel)
                    continue
                kind = self.kind_for(rel)
                if kind is None:
                    continue
                if not entry.is_file():
                    # A pipe or device named like content: opening it could block forever.
                    found[rel] = Found(rel, Path(entry.path), "ignored", refused=_not_a_file(rel))
                    continue
                st = entry.stat()
            except OSError:
                continue
            found[rel] = Found(rel, entry.path, kind, st.st_size, st.st_mtime_ns)


def _not_a_file(rel: str) -> Problem:
    return Problem(
        rel, None, "error", "not a regular file (a pipe, socket or device); skipped", "not-a-file"
    )


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()
