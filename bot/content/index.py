"""The content index: everything the bot knows about episodes, recaps and authors.

`ContentIndex.reload()` brings it in line with the folder, re-parsing only files whose
size or mtime changed (or, with ``rehash=True``, whose bytes changed), and reports what
changed. Lookups and search are in memory and never touch the disk. Nothing here raises on
bad content: problems are collected and kept in `problems`.
"""

from __future__ import annotations

import bisect
import gc
import logging
import os
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from bot.config import Settings
from bot.content.fields import did_you_mean as _did_you_mean
from bot.content.frontmatter import MAX_FILE_BYTES, NO_FRONTMATTER, too_large
from bot.content.loader import Kind, Parsed
from bot.content.lookup import episode_fields, recap_code, recap_fields
from bot.content.models import Author, Episode, EpisodeStatus, Problem, Recap, ShowEvent
from bot.content.parallel import (
    PARALLEL_MIN_FILES,
    Done,
    Job,
    Speakers,
    default_workers,
    load_files,
    parse_file,
    read_bytes,
)
from bot.content.search import SearchIndex
from bot.content.text import find_code, parse_code

__all__ = ["ContentIndex", "ReloadReport", "parse_code", "problem_sort_key"]

log = logging.getLogger(__name__)

_HUB_SUPPORT_DIRS = frozenset(("speakers", "seasons", "tags", "schema", "node_modules"))
_PAGE_NAMES = frozenset(("readme.md", "license.md", "changelog.md", "contributing.md", "index.md"))
_CONTENT_SUFFIXES = (".md", ".markdown", ".yaml", ".yml")
_MAX_EVENT = timedelta(hours=24)  # longest event duration the loader accepts
_RACY_NS = 100_000_000  # a file modified this close to a scan may change again unseen
_SEARCH_BATCH = 256  # files a cold load parses between two steps of indexing their words


def problem_sort_key(p: Problem) -> tuple[str, int, int, str]:
    return (p.path, p.line or 0, 0 if p.severity == "error" else 1, p.message)


@dataclass(frozen=True, slots=True)
class ReloadReport:
    added: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    episodes_changed: frozenset[str] = frozenset()  # ids added, changed or removed
    recaps_changed: frozenset[str] = frozenset()
    problems: tuple[Problem, ...] = ()  # every current problem, sorted
    files: int = 0  # content files known after this reload

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.changed or self.removed)


@dataclass(slots=True)
class _FileState:
    kind: Kind
    size: int
    mtime_ns: int
    crc: int
    parsed: Parsed
    racy: bool = False


@dataclass(slots=True)
class _Found:
    """One file discovered by a scan."""

    rel: str
    path: str | Path  # a str from a folder scan: a Path per file costs more than reading it
    kind: Kind | Literal["auto"]
    size: int = 0
    mtime_ns: int = 0
    refused: Problem | None = None


@dataclass(slots=True)
class _Derived:
    """Views rebuilt lazily after a change; dropped wholesale when content changes."""

    episodes: list[Episode] | None = None
    recaps: list[Recap] | None = None
    events: list[tuple[float, float, str, str]] | None = None  # (start, end, kind, rel)
    recap_by_episode: dict[str, Recap] | None = None
    # Non-draft recaps by publication time, and those times: "published at t" is a bisect.
    published: list[Recap] | None = None
    published_at: list[float] = field(default_factory=list)


class ContentIndex:
    def __init__(
        self,
        root: Path | str,
        settings: Settings | None = None,
        *,
        only: Path | str | None = None,
        workers: int | None = None,
    ):
        self.settings = settings or Settings()
        self.root = Path(root)
        self._real_root = _real(self.root)
        self._only = Path(only) if only is not None else None
        self._files: dict[str, _FileState] = {}
        self._refused: dict[str, Problem] = {}
        self._file_problems: dict[str, list[Problem]] = {}
        self._cross: list[Problem] = []
        self._problems: tuple[Problem, ...] | None = None
        self._episodes: dict[str, Episode] = {}  # rel -> episode
        self._ep_sort_keys: dict[str, tuple[int, int, float, str]] = {}  # rel -> its place
        self._recaps: dict[str, Recap] = {}
        self._authors: Mapping[str, Author] = MappingProxyType({})
        self._ep_ids: dict[str, list[str]] = {}  # lower-case id -> rels
        self._ep_codes: dict[tuple[int, int], list[str]] = {}
        self._recap_ids: dict[str, list[str]] = {}
        self._recap_codes: dict[tuple[int, int], list[str]] = {}  # code -> recap rels
        # The keys of the three tables above held by two files or more: the duplicates
        # diagnostics look only at these, so a reload of one file costs O(1), not O(corpus).
        self._multi: dict[str, set[Any]] = {
            "_ep_ids": set(),
            "_ep_codes": set(),
            "_recap_ids": set(),
        }
        self._generation = 0
        self._ep_search = SearchIndex()
        self._recap_search = SearchIndex()
        self._derived = _Derived()
        self._speakers = Speakers()
        # A cold load of `parallel_min_files` files or more is parsed by `workers` processes
        # (`bot.content.parallel`); 1 parses everything in this process.
        self.workers = default_workers() if workers is None else max(1, workers)
        self.parallel_min_files = PARALLEL_MIN_FILES
        self.last_load_workers = 1  # processes that parsed the last reload
        self._loaded = False
        self._content_root: bool | None = None
        self._recap_cross: dict[str, list[Problem]] = {}
        # Episode ids/codes added and removed during one reload: when they balance out, no
        # recap can have changed which episode it points at.
        self._keys_added: list[object] = []
        self._keys_removed: list[object] = []
        self._authors_moved = False

    # ================================================================== loading

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

    def reload(
        self,
        paths: Iterable[str | Path] | None = None,
        *,
        rehash: bool = False,
        search: bool = False,
    ) -> ReloadReport:
        """Bring the index in line with the folder. `paths` (relative to the root, e.g. from
        `git diff --name-only`) limits the scan to those files; ``rehash`` re-reads every file
        and compares bytes, for folders whose mtimes cannot be trusted. ``search`` also does
        `prepare_search`'s work (what the bot wants before it answers anyone): a cold load
        in worker processes then indexes the words of each file while the workers parse the
        next ones, on a core this process would otherwise leave idle. Never raises."""
        # A cold load allocates millions of objects that all live on: the cyclic collector
        # would walk the growing heap again and again (a tenth of the load) to free nothing.
        # Frontmatter and models are acyclic; any garbage cycle waits for the next pass.
        collecting = gc.isenabled()
        gc.disable()
        try:
            report = self._reload(paths, rehash, search)
            if search:
                self._prepare_search()
            return report
        finally:
            if collecting:
                gc.enable()

    def _reload(
        self, paths: Iterable[str | Path] | None, rehash: bool, search: bool
    ) -> ReloadReport:
        scan_start = time.time_ns()
        try:
            found, complete = self._discover(paths)
        except OSError as exc:
            found, complete = {}, False
            self._refused = {
                ".": Problem(".", None, "error", f"cannot read the content folder: {exc}", "io")
            }
        added: set[str] = set()
        changed: set[str] = set()
        removed: set[str] = set()
        ep_ids: set[str] = set()
        recap_ids: set[str] = set()
        if complete:
            self._refused = {r: f.refused for r, f in found.items() if f.refused is not None}
        else:
            for rel, f in found.items():
                self._refused.pop(rel, None)
                if f.refused is not None:
                    self._refused[rel] = f.refused
        self.last_load_workers = 1
        stream = self._cold_stream(found)
        ahead = next(stream, None)
        # Recaps are indexed under their authors' names: not before the authors file is in
        # (the scan lists it first).
        authors_due = (
            {r for r, f in found.items() if f.kind == "authors" and f.refused is None}
            if search and ahead is not None
            else set()
        )
        streamed = 0
        for rel, f in found.items():
            if ahead is not None and ahead[0] == rel:
                # Read and parsed already (by the worker processes of a cold load).
                _rel, crc, parsed = ahead
                ahead = next(stream, None)
                streamed += 1
                authors_due.discard(rel)
                if search and streamed % _SEARCH_BATCH == 0:
                    self._ep_search.flush()
                    if not authors_due:
                        self._recap_search.flush()
                added.add(rel)
                state = _FileState(
                    parsed.kind,
                    f.size,
                    f.mtime_ns,
                    crc,
                    parsed,
                    f.mtime_ns >= scan_start - _RACY_NS,
                )
                self._files[rel] = state
                self._remember(rel, state, ep_ids, recap_ids)
                continue
            if f.refused is not None:
                if rel in self._files:
                    self._forget(rel, ep_ids, recap_ids)
                    removed.add(rel)
                continue
            old = self._files.get(rel)
            if (
                old is not None
                and old.size == f.size
                and old.mtime_ns == f.mtime_ns
                and not rehash
                and not old.racy
            ):
                continue
            try:
                raw = read_bytes(f.path, f.size) if f.size <= MAX_FILE_BYTES else b""
            except OSError as exc:
                raw = None
                parsed = Parsed(
                    "ignored",
                    None,
                    [Problem(rel, None, "error", f"cannot read: {exc.strerror}", "io")],
                )
            if raw is not None:
                too_big = f.size > MAX_FILE_BYTES
                if too_big and old is not None and old.crc == -1 and old.size == f.size:
                    # Still refused for its size, with the same message: nothing changed.
                    old.mtime_ns = f.mtime_ns
                    old.racy = f.mtime_ns >= scan_start - _RACY_NS
                    continue
                if too_big:
                    parsed = Parsed("ignored", None, [too_large(rel, f.size)])
                    crc = -1
                else:
                    crc = zlib.crc32(raw)
                    if old is not None and old.crc == crc and len(raw) == old.size:
                        old.size, old.mtime_ns = f.size, f.mtime_ns
                        old.racy = f.mtime_ns >= scan_start - _RACY_NS
                        continue
                    parsed = parse_file(
                        raw, rel, f.path, f.kind, self.settings.series, self._speakers
                    )
            else:
                crc = -1
            if old is not None:
                self._forget(rel, ep_ids, recap_ids)
                changed.add(rel)
            else:
                added.add(rel)
            state = _FileState(
                parsed.kind, f.size, f.mtime_ns, crc, parsed, f.mtime_ns >= scan_start - _RACY_NS
            )
            self._files[rel] = state
            self._remember(rel, state, ep_ids, recap_ids)
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # the workers' pool ends here, whatever happened above
        if complete:
            for rel in [r for r in self._files if r not in found]:
                self._forget(rel, ep_ids, recap_ids)
                removed.add(rel)
        elif paths is not None:
            for rel in [
                r for r in self._normalise_paths(paths) if r not in found and r in self._files
            ]:
                self._forget(rel, ep_ids, recap_ids)
                removed.add(rel)
        changed -= removed
        if self._authors_moved and self._loaded:
            # A recap is found by its authors' names: words indexed under the old names
            # would keep finding it by a name the authors file no longer gives.
            for rel, recap in self._recaps.items():
                if rel not in added and rel not in changed:
                    self._index_recap(rel, recap)
        if added or changed or removed or not self._loaded:
            keys_moved = Counter(self._keys_added) != Counter(self._keys_removed)
            touched = {r for r in added | changed | removed if r in self._recaps or r in removed}
            self._after_change(touched, not self._loaded or keys_moved or self._authors_moved)
        self._keys_added, self._keys_removed, self._authors_moved = [], [], False
        self._loaded = True
        return ReloadReport(
            frozenset(added),
            frozenset(changed),
            frozenset(removed),
            frozenset(ep_ids),
            frozenset(recap_ids),
            self.problems,
            len(self._files),
        )

    def _cold_stream(self, found: dict[str, _Found]) -> Iterator[Done]:
        """A first load of many files: each one's (rel, crc, Parsed), in the order of `found`,
        from worker processes. Empty when the load is small or warm (then in-process)."""
        if self._loaded or self._files or self.workers < 2:
            return iter(())
        jobs: list[Job] = [
            (rel, str(f.path), f.kind, f.size)
            for rel, f in found.items()
            if f.refused is None and f.size <= MAX_FILE_BYTES
        ]
        if len(jobs) < self.parallel_min_files:
            return iter(())
        self.last_load_workers = self.workers
        return load_files(
            jobs,
            self.settings.series,
            workers=self.workers,
            speakers=self._speakers,
            on_fallback=self._fell_back,
        )

    def _fell_back(self, exc: BaseException) -> None:
        self.last_load_workers = 1
        log.warning("content: parsing in worker processes failed (%r); parsing in-process", exc)

    def _normalise_paths(self, paths: Iterable[str | Path]) -> list[str]:
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

    def _kind_for(self, rel: str) -> Kind | Literal["auto"] | None:
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

    def _discover(self, paths: Iterable[str | Path] | None) -> tuple[dict[str, _Found], bool]:
        found: dict[str, _Found] = {}
        if self._only is not None:
            rel = self._only.name
            self._stat_one(found, self._only, rel, "auto")
            return found, True
        if paths is not None:
            for rel in self._normalise_paths(paths):
                kind = self._kind_for(rel)
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
        self, found: dict[str, _Found], path: Path, rel: str, kind: Kind | Literal["auto"]
    ) -> None:
        try:
            st = path.lstat()
        except OSError:
            return
        if os.path.islink(path):
            refused = self._check_link(path, rel)
            if refused is not None:
                found[rel] = _Found(rel, path, kind, refused=refused)
                return
            try:
                st = path.stat()
            except OSError:
                return
        if not path.is_file():
            if path.exists() and not path.is_dir():
                found[rel] = _Found(rel, path, "ignored", refused=_not_a_file(rel))
            return
        found[rel] = _Found(rel, path, kind, st.st_size, st.st_mtime_ns)

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

    def _walk(self, found: dict[str, _Found], folder: Path, prefix: str) -> None:
        if os.path.islink(folder):
            refused = self._check_link(folder, prefix or ".")
            if refused is not None:
                found[prefix] = _Found(prefix, folder, "ignored", refused=refused)
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
                            found[rel] = _Found(rel, Path(entry.path), "ignored", refused=refused)
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
                kind = self._kind_for(rel)
                if kind is None:
                    continue
                if not entry.is_file():
                    # A pipe or device named like content: opening it could block forever.
                    found[rel] = _Found(rel, Path(entry.path), "ignored", refused=_not_a_file(rel))
                    continue
                st = entry.stat()
            except OSError:
                continue
            found[rel] = _Found(rel, entry.path, kind, st.st_size, st.st_mtime_ns)

    def _remember(self, rel: str, state: _FileState, ep_ids: set[str], recap_ids: set[str]) -> None:
        parsed = state.parsed
        if parsed.problems:
            self._file_problems[rel] = parsed.problems
        item = parsed.item
        if isinstance(item, Episode):
            self._episodes[rel] = item
            ep_ids.add(item.id)
            self._keys_added += [item.id.lower(), (item.season, item.number)]
            self._add("_ep_ids", item.id.lower(), rel)
            if item.season is not None and item.number is not None:
                self._add("_ep_codes", (item.season, item.number), rel)
            self._index_episode(rel, item)
        elif isinstance(item, Recap):
            self._recaps[rel] = item
            recap_ids.add(item.id)
            self._add("_recap_ids", item.id.lower(), rel)
            code = recap_code(item)
            if code is not None:
                self._recap_codes.setdefault(code, []).append(rel)
            self._index_recap(rel, item)
        elif parsed.kind == "authors" and item is not None:
            self._authors = item  # type: ignore[assignment]
            self._authors_moved = True

    def _add(self, table: str, key: Any, rel: str) -> None:
        rels = getattr(self, table).setdefault(key, [])
        rels.append(rel)
        if len(rels) > 1:
            self._multi[table].add(key)

    def _remove(self, table: str, key: Any, rel: str) -> None:
        _drop(getattr(self, table), key, rel)
        if len(getattr(self, table).get(key, ())) < 2:
            self._multi[table].discard(key)

    def _forget(self, rel: str, ep_ids: set[str], recap_ids: set[str]) -> None:
        state = self._files.pop(rel, None)
        self._file_problems.pop(rel, None)
        if state is None:
            return
        item = state.parsed.item
        if isinstance(item, Episode):
            self._episodes.pop(rel, None)
            self._ep_sort_keys.pop(rel, None)
            ep_ids.add(item.id)
            self._keys_removed += [item.id.lower(), (item.season, item.number)]
            self._remove("_ep_ids", item.id.lower(), rel)
            if item.season is not None and item.number is not None:
                self._remove("_ep_codes", (item.season, item.number), rel)
            self._ep_search.remove(rel)
        elif isinstance(item, Recap):
            self._recaps.pop(rel, None)
            recap_ids.add(item.id)
            self._remove("_recap_ids", item.id.lower(), rel)
            code = recap_code(item)
            if code is not None:
                _drop(self._recap_codes, code, rel)
            self._recap_search.remove(rel)
        elif state.parsed.kind == "authors":
            self._authors = MappingProxyType({})
            self._authors_moved = True

    def _index_episode(self, rel: str, ep: Episode) -> None:
        # Search ranks in time: sooner first among what is still ahead (`until`, never for
        # a cancelled episode), the latest first among the rest.
        first, last = ep.first_start(), ep.last_end()
        until = last.timestamp() if last and ep.status is not EpisodeStatus.CANCELLED else None
        self._ep_search.add_later(
            rel,
            partial(episode_fields, ep),
            order=first.timestamp() if first else float("-inf"),
            until=until if until is not None else float("-inf"),
        )
        # episodes()'s order, worked out once per file: a reload of one file re-sorts them
        # all, and asking each episode for its first start again doubled that sort.
        self._ep_sort_keys[rel] = (
            ep.season if ep.season is not None else 1 << 30,
            ep.number if ep.number is not None else 1 << 30,
            first.timestamp() if first else float("inf"),
            ep.id,
        )

    def _index_recap(self, rel: str, recap: Recap) -> None:
        if recap.draft:
            return  # drafts are never offered; found by id, they are still refused
        self._recap_search.add_later(
            rel, partial(recap_fields, recap, self.author_name), order=recap.release_at.timestamp()
        )

    def _after_change(self, touched_recaps: set[str], everything: bool) -> None:
        self._derived = _Derived()
        self._generation += 1
        self._problems = None
        if everything:
            self._recap_cross = {}
            touched_recaps = set(self._recaps)
        for rel in touched_recaps:
            recap = self._recaps.get(rel)
            found = self._recap_problems(rel, recap) if recap is not None else []
            if found:
                self._recap_cross[rel] = found
            else:
                self._recap_cross.pop(rel, None)
        self._cross = self._cross_file_problems()

    def _recap_problems(self, rel: str, recap: Recap) -> list[Problem]:
        """Checks of one recap against the episodes and authors (cross-file)."""
        out: list[Problem] = []
        # Checking a lone recap file (no episodes in sight) cannot judge its `episode:`.
        judge = bool(self._episodes) or self.is_content_root
        if judge and recap.episode_id is not None and self._resolve(recap.episode_id) is None:
            line = _fm_line(self.root / rel, "episode")
            if line > 1:  # written in the frontmatter, not guessed from the title
                out.append(
                    Problem(
                        rel,
                        line,
                        "error",
                        f"`episode: {recap.episode_id}` is not a known episode",
                        "unknown-episode",
                    )
                )
            elif self._episodes:
                out.append(
                    Problem(
                        rel,
                        1,
                        "warning",
                        f"the title names episode {recap.episode_id}, "
                        "which is not in the episodes folder",
                        "unknown-episode",
                    )
                )
        if self._authors:
            for key in recap.authors:
                if key not in self._authors:
                    out.append(
                        Problem(
                            rel,
                            _fm_line(self.root / rel, "authors"),
                            "warning",
                            f"unknown author {key!r} (not in the authors file)"
                            + _did_you_mean(key, list(self._authors)),
                            "unknown-author",
                        )
                    )
        return out

    def _cross_file_problems(self) -> list[Problem]:
        out: list[Problem] = []
        # One file per id and per season/episode: every later file (by path) is the duplicate.
        ep_ids, ep_codes, recap_ids = self._ep_ids, self._ep_codes, self._recap_ids
        tables = (
            ((f"episode id {k!r}", ep_ids[k]) for k in sorted(self._multi["_ep_ids"])),
            ((f"episode S{s}:E{n}", ep_codes[(s, n)]) for s, n in sorted(self._multi["_ep_codes"])),
            ((f"recap id {k!r}", recap_ids[k]) for k in sorted(self._multi["_recap_ids"])),
        )
        codes = ("duplicate-id", "duplicate-episode", "duplicate-id")
        for table, code in zip(tables, codes, strict=True):
            for what, rels in table:
                first, *rest = sorted(rels)
                out.extend(
                    Problem(rel, 1, "error", f"duplicate {what} (also in {first})", code)
                    for rel in rest
                )
        for plist in self._recap_cross.values():
            out.extend(plist)
        # Loose folders: a Markdown file without frontmatter next to ones that have it is
        # content someone forgot to give fields, not a page.
        if not self.is_content_root:
            content_dirs = {
                rel.rpartition("/")[0]
                for rel, s in self._files.items()
                if s.kind in ("episode", "recap")
            }
            for rel, state in self._files.items():
                if (
                    state.kind == "page"
                    and state.parsed.item is None
                    and rel.rpartition("/")[2].lower() not in _PAGE_NAMES
                    and rel.rpartition("/")[0] in content_dirs
                    and not _has_frontmatter(self.root / rel)
                ):
                    out.append(Problem(rel, 1, "error", NO_FRONTMATTER, "no-frontmatter"))
        return out

    # ================================================================== reading

    @property
    def problems(self) -> tuple[Problem, ...]:
        if self._problems is None:
            every = [*self._refused.values(), *self._cross]
            for plist in self._file_problems.values():
                every.extend(plist)
            self._problems = tuple(sorted(every, key=problem_sort_key))
        return self._problems

    @property
    def files(self) -> frozenset[str]:
        return frozenset(self._files) | frozenset(self._refused)

    @property
    def authors(self) -> Mapping[str, Author]:
        return self._authors

    def author_name(self, key: str) -> str:
        author = self._authors.get(key)
        return author.name if author else key

    def episodes(self) -> list[Episode]:
        if self._derived.episodes is None:
            # Each live episode has its own id, so the sort keys order them completely.
            live = self._episodes.keys() - self._shadowed("_ep_ids")
            order = sorted(live, key=self._ep_sort_keys.__getitem__)
            self._derived.episodes = [self._episodes[rel] for rel in order]
        return list(self._derived.episodes)

    def _shadowed(self, table: str) -> set[str]:
        """Files whose id another file holds too and that lose to it (the first file by path
        wins): only ids held twice are looked at, so this costs nothing in a clean folder."""
        rels_of = getattr(self, table)
        shadowed: set[str] = set()
        for key in self._multi[table]:
            rels = rels_of.get(key, ())
            shadowed.update(rels)
            shadowed.discard(min(rels, default=None))
        return shadowed

    def _live_episodes(self) -> Iterable[Episode]:
        """Episodes minus the later duplicates of an id (the first file by path wins)."""
        shadowed = self._shadowed("_ep_ids")
        for rel, ep in self._episodes.items():
            if rel not in shadowed:
                yield ep

    def recaps(self, include_drafts: bool = False) -> list[Recap]:
        if self._derived.recaps is None:
            # One recap per id, the first file by path (as for episodes): no two kept share
            # an id, so (published, id) orders them completely.
            shadowed = self._shadowed("_recap_ids")
            out = [r for rel, r in self._recaps.items() if rel not in shadowed]
            out.sort(key=lambda r: (r.published, r.id))
            self._derived.recaps = out
        return [r for r in self._derived.recaps if include_drafts or not r.draft]

    def episode(self, episode_id: str) -> Episode | None:
        rels = self._ep_ids.get(episode_id.strip().lower())
        return self._episodes.get(min(rels)) if rels else None

    def recap_at(self, rel: str) -> Recap | None:
        """The recap loaded from the file at `rel` (relative to the content root), if any."""
        return self._recaps.get(rel)

    def recap_paths(self) -> list[str]:
        return list(self._recaps)

    def recap(self, recap_id: str) -> Recap | None:
        rels = self._recap_ids.get(recap_id.strip().lower())
        return self._recaps.get(min(rels)) if rels else None

    def episode_by_code(self, season: int, number: int) -> Episode | None:
        rels = self._ep_codes.get((season, number))
        return self._episodes.get(min(rels)) if rels else None

    def find_episode(self, text: str) -> Episode | None:
        """An id, or a code in any common form (s2e5, S2:E5, S02E05, 2x05, s2-e05, "S2 E5"),
        or a choice label that starts with a code ("S2:E5 · Fine Tuning …")."""
        if not isinstance(text, str) or not text.strip():
            return None
        found = self.episode(text)
        if found is not None:
            return found
        code = parse_code(text)
        if code is None:
            head = text.strip().split("·", 1)[0].split(" ", 1)[0]
            code = parse_code(head) if head else None
        return self.episode_by_code(*code) if code else None

    def _resolve(self, ref: str) -> Episode | None:
        return self.find_episode(ref)

    def episode_for_recap(self, recap: Recap) -> Episode | None:
        if recap.episode_id:
            return self._resolve(recap.episode_id)
        code = find_code(recap.title)
        return self.episode_by_code(*code) if code else None

    def recap_for_episode(self, episode_id: str) -> Recap | None:
        """The (non-draft) recap of an episode; the latest when there are several."""
        if self._derived.recap_by_episode is None:
            table: dict[str, Recap] = {}
            for recap in self.recaps(include_drafts=False):
                ep = self.episode_for_recap(recap)
                if ep is not None:
                    table[ep.id.lower()] = recap  # recaps are sorted by date: latest wins
            self._derived.recap_by_episode = table
        ep = self.episode(episode_id) or self.find_episode(episode_id)
        return self._derived.recap_by_episode.get(ep.id.lower()) if ep else None

    # ------------------------------------------------------------------ time

    def _events(self) -> list[tuple[float, float, str, str]]:
        if self._derived.events is None:
            events = []
            for ep in self._live_episodes():
                if ep.status is EpisodeStatus.CANCELLED:
                    continue
                for ev in ep.events():
                    if ev.start is not None:
                        events.append(
                            (ev.start.timestamp(), ev.end.timestamp(), ev.kind, ep.id.lower())
                        )  # type: ignore[union-attr]
            events.sort()
            self._derived.events = events
        return self._derived.events

    def upcoming_events(
        self, now: datetime, season: int | None = None, limit: int = 5
    ) -> list[tuple[Episode, ShowEvent]]:
        """Livestreams and AMAs not yet over (running ones included), by start time."""
        events = self._events()
        t = now.timestamp()
        i = bisect.bisect_left(events, (t - _MAX_EVENT.total_seconds(),))
        out: list[tuple[Episode, ShowEvent]] = []
        while i < len(events) and len(out) < limit:
            _start, end, kind, key = events[i]
            i += 1
            if end <= t:
                continue
            ep = self.episode(key)
            if ep is None or (season is not None and ep.season != season):
                continue
            ev = ep.event(kind)  # type: ignore[arg-type]
            if ev is not None:
                out.append((ep, ev))
        return out

    def next_upcoming(self, now: datetime) -> Episode | None:
        """The episode whose livestream or AMA comes next (or is running); not cancelled."""
        for ep, _ev in self.upcoming_events(now, limit=1):
            return ep
        return None

    def upcoming_episodes(self, now: datetime, limit: int = 25) -> list[Episode]:
        out: dict[str, Episode] = {}
        events = self._events()
        t = now.timestamp()
        i = bisect.bisect_left(events, (t - _MAX_EVENT.total_seconds(),))
        while i < len(events) and len(out) < limit:
            _s, end, _k, key = events[i]
            i += 1
            if end > t and key not in out:
                ep = self.episode(key)
                if ep is not None:
                    out[key] = ep
        return list(out.values())

    def past_episodes(self, now: datetime, limit: int = 25) -> list[Episode]:
        """Episodes whose first event has started, most recent first."""
        out: dict[str, Episode] = {}
        events = self._events()
        i = bisect.bisect_right(events, (now.timestamp(), float("inf"))) - 1
        while i >= 0 and len(out) < limit:
            key = events[i][3]
            i -= 1
            if key not in out:
                ep = self.episode(key)
                if ep is not None:
                    out[key] = ep
        return list(out.values())

    def latest_episode(self, now: datetime) -> Episode | None:
        past = self.past_episodes(now, limit=1)
        return past[0] if past else None

    def _published(self) -> tuple[list[Recap], list[float]]:
        """Non-draft recaps by publication time, with those times (cached per generation)."""
        d = self._derived
        if d.published is None:
            if d.recaps is None:
                self.recaps()
            # By the moment each goes out (a date-only date: when its day begins on Earth).
            d.published = sorted(
                (r for r in d.recaps or () if not r.draft), key=lambda r: (r.release_at, r.id)
            )
            d.published_at = [r.release_at.timestamp() for r in d.published]
        return d.published, d.published_at

    def published_recaps(self, now: datetime) -> list[Recap]:
        recaps, times = self._published()
        return recaps[: bisect.bisect_right(times, now.timestamp())]

    def latest_recap(self, now: datetime) -> Recap | None:
        recaps, times = self._published()
        i = bisect.bisect_right(times, now.timestamp())
        return recaps[i - 1] if i else None

    # ------------------------------------------------------------------ search

    @property
    def generation(self) -> int:
        """Bumped by every reload that changes something: a key for caches of answers."""
        return self._generation

    def prepare_search(self) -> None:
        """Build the search index and the sorted lists now rather than on first use (loading
        leaves the words of new or changed files untokenised until someone searches, and the
        lists unsorted): the caller runs it off the event loop, with the reload."""
        collecting = gc.isenabled()
        gc.disable()  # as in reload: everything built here lives on
        try:
            self._prepare_search()
        finally:
            if collecting:
                gc.enable()

    def _prepare_search(self) -> None:
        self._ep_search.flush()
        self._recap_search.flush()
        self.episodes()
        self.recaps()

    def search_episodes(
        self, query: str, now: datetime, limit: int = 25, *, loose: bool = False
    ) -> list[Episode]:
        """Exact code or id first; then matches of every word that are still ahead, the
        best and then the soonest first; then the rest by relevance and recency."""
        query = (query or "").strip()[:200]
        if not query:
            out = self.upcoming_episodes(now, limit)
            if len(out) < limit:
                seen = {e.id for e in out}
                out += [e for e in self.past_episodes(now, limit) if e.id not in seen][
                    : limit - len(out)
                ]
            return out
        exact: list[Episode] = []
        by_id = self.episode(query)
        if by_id is not None:
            exact.append(by_id)
        code = parse_code(query)
        if code is not None:
            for rel in sorted(self._ep_codes.get(code, ())):
                ep = self._episodes[rel]
                if ep not in exact:
                    exact.append(ep)
        exact = exact[:limit]
        skip = {e.path for e in exact}
        found = self._ep_search.search(query, now.timestamp(), limit + len(skip), loose=loose)
        out = exact + [self._episodes[rel] for rel in found if rel not in skip]
        return out[:limit]

    def search_recaps(
        self, query: str, now: datetime, limit: int = 25, *, loose: bool = False
    ) -> list[Recap]:
        """Published recaps only (never drafts, never future-dated)."""
        query = (query or "").strip()[:200]
        if not query:
            recaps, times = self._published()
            i = bisect.bisect_right(times, now.timestamp())
            return recaps[max(0, i - limit) : i][::-1] if limit > 0 else []
        exact: list[Recap] = []
        by_id = self.recap(query)
        if by_id is not None and by_id.is_published(now):
            exact.append(by_id)
        code = parse_code(query)
        if code is not None:
            same = [self._recaps[rel] for rel in self._recap_codes.get(code, ())]
            same.sort(key=lambda r: (r.published, r.path), reverse=True)
            exact += [r for r in same if r.is_published(now) and r not in exact]
        exact = exact[:limit]
        skip = {r.path for r in exact}
        found = self._recap_search.search(
            query, now.timestamp(), limit + len(skip), loose=loose, started_only=True
        )
        out = exact + [self._recaps[rel] for rel in found if rel not in skip]
        return out[:limit]

    def did_you_mean(
        self,
        query: str,
        now: datetime,
        kind: Literal["episode", "recap"] = "episode",
        limit: int = 3,
    ) -> list[Episode] | list[Recap]:
        """Close matches for a query that found nothing: looser typos, any word."""
        if kind == "recap":
            return self.search_recaps(query, now, limit, loose=True)
        return self.search_episodes(query, now, limit, loose=True)


def _drop(table: dict, key: object, rel: str) -> None:
    rels = table.get(key)
    if rels is None:
        return
    if rel in rels:
        rels.remove(rel)
    if not rels:
        del table[key]


def _not_a_file(rel: str) -> Problem:
    return Problem(
        rel, None, "error", "not a regular file (a pipe, socket or device); skipped", "not-a-file"
    )


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _read_head(path: Path, n: int = 65536) -> str:
    try:
        with path.open("rb") as fh:
            return fh.read(n).decode("utf-8", "replace").replace("\r\n", "\n")
    except OSError:
        return ""


def _has_frontmatter(path: Path) -> bool:
    return _read_head(path, 8).lstrip("\ufeff").startswith("---")


def _fm_line(path: Path, key: str) -> int:
    """Line of a top-level frontmatter key, for cross-file diagnostics (rare, so re-read)."""
    head = _read_head(path)
    for i, row in enumerate(head.split("\n"), 1):
        if row.startswith(f"{key}:"):
            return i
        if i > 1 and row.strip() == "---":
            break
    return 1
