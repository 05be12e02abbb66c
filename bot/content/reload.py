"""One pass of `ContentIndex.reload`: scan, read what changed, parse it, update the index.

A file is re-read only when its size or mtime changed (or, with ``rehash``, always), and
re-parsed only when its bytes did (CRC). A cold load of many files is parsed by worker
processes (`bot.content.parallel`) while this process indexes the words of those already
parsed. Nothing here raises on bad content: problems are kept in the catalogue.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.content.catalogue import FileState
from bot.content.frontmatter import MAX_FILE_BYTES, too_large
from bot.content.loader import Parsed
from bot.content.models import Problem
from bot.content.parallel import Done, Job, load_files, parse_file, read_bytes
from bot.content.scan import Found

if TYPE_CHECKING:
    from bot.content.index import ContentIndex

log = logging.getLogger("bot.content.index")

_RACY_NS = 100_000_000  # a file modified this close to a scan may change again unseen
SEARCH_BATCH = 256  # files a cold load parses between two steps of indexing their words


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


class Reload:
    """What one reload found, read and changed; `run` once."""

    def __init__(self, index: ContentIndex, *, rehash: bool, search: bool) -> None:
        self.index = index
        self.rehash = rehash
        self.search = search
        self.scan_start = time.time_ns()
        self.added: set[str] = set()
        self.changed: set[str] = set()
        self.removed: set[str] = set()
        self.ep_ids: set[str] = set()
        self.recap_ids: set[str] = set()
        self.streamed = 0  # files parsed by worker processes
        self.authors_due: set[str] = set()  # the authors file, until it is in

    def run(self, paths: Iterable[str | Path] | None) -> ReloadReport:
        index = self.index
        found, complete = self._scan(paths)
        index.last_load_workers = 1
        stream = self._cold_stream(found)
        try:
            # In the scan's order: the workers parse the files they were given in that order.
            ahead = next(stream, None)
            for rel, f in found.items():
                if ahead is not None and ahead[0] == rel:
                    self._take_parsed(f, ahead)
                    ahead = next(stream, None)
                else:
                    self._take(rel, f)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # the workers' pool ends here, whatever happened above
        self._drop_missing(found, complete, paths)
        self.changed -= self.removed
        self._settle()
        return ReloadReport(
            frozenset(self.added),
            frozenset(self.changed),
            frozenset(self.removed),
            frozenset(self.ep_ids),
            frozenset(self.recap_ids),
            index.problems,
            len(index._files),
        )

    def _scan(self, paths: Iterable[str | Path] | None) -> tuple[dict[str, Found], bool]:
        """The files to look at; the refused ones (links out, pipes) kept as problems."""
        index = self.index
        try:
            found, complete = index._scanner.discover(paths)
        except OSError as exc:
            index._refused = {
                ".": Problem(".", None, "error", f"cannot read the content folder: {exc}", "io")
            }
            return {}, False
        if complete:
            index._refused = {r: f.refused for r, f in found.items() if f.refused is not None}
        else:
            for rel, f in found.items():
                index._refused.pop(rel, None)
                if f.refused is not None:
                    index._refused[rel] = f.refused
        return found, complete

    def _cold_stream(self, found: dict[str, Found]) -> Iterator[Done]:
        """A first load of many files: each one's (rel, crc, Parsed), in the order of `found`,
        from worker processes. Empty when the load is small or warm (then in-process)."""
        index = self.index
        if index._loaded or index._files or index.workers < 2:
            return iter(())
        jobs: list[Job] = [
            (rel, str(f.path), f.kind, f.size)
            for rel, f in found.items()
            if f.refused is None and f.size <= MAX_FILE_BYTES
        ]
        if len(jobs) < index.parallel_min_files:
            return iter(())
        index.last_load_workers = index.workers
        # Recaps are indexed under their authors' names: not before the authors file is in
        # (the scan lists it first).
        self.authors_due = {
            r for r, f in found.items() if f.kind == "authors" and f.refused is None
        }
        return load_files(
            jobs,
            index.settings.series,
            workers=index.workers,
            speakers=index._speakers,
            on_fallback=self._fell_back,
            shared=index.shared_pool,
        )

    def _fell_back(self, exc: BaseException) -> None:
        self.index.last_load_workers = 1
        log.warning("content: parsing in worker processes failed (%r); parsing in-process", exc)

    def _take_parsed(self, f: Found, done: Done) -> None:
        """A file the workers parsed (all new): in, with the words indexed batch by batch
        while the workers parse the next ones."""
        index = self.index
        rel, crc, parsed = done
        self.streamed += 1
        self.authors_due.discard(rel)
        if self.search and self.streamed % SEARCH_BATCH == 0:
            index._search.episodes.flush()
            if not self.authors_due:
                index._search.recaps.flush()
        self.added.add(rel)
        state = FileState(parsed.kind, f.size, f.mtime_ns, crc, parsed, self._racy(f))
        index.remember(rel, state, self.ep_ids, self.recap_ids)

    def _take(self, rel: str, f: Found) -> None:
        """One file not streamed: forgotten if refused, else re-read if it may have changed
        and re-parsed if its bytes did."""
        index = self.index
        old = index._files.get(rel)
        if f.refused is not None:
            if old is not None:
                index.forget(rel, self.ep_ids, self.recap_ids)
                self.removed.add(rel)
            return
        if (
            old is not None
            and old.size == f.size
            and old.mtime_ns == f.mtime_ns
            and not self.rehash
            and not old.racy
        ):
            return  # size and mtime as last seen, and trusted
        read = self._read(rel, f, old)
        if read is None:
            return  # the same bytes (or still too large): nothing changed
        crc, parsed = read
        if old is not None:
            index.forget(rel, self.ep_ids, self.recap_ids)
            self.changed.add(rel)
        else:
            self.added.add(rel)
        state = FileState(parsed.kind, f.size, f.mtime_ns, crc, parsed, self._racy(f))
        index.remember(rel, state, self.ep_ids, self.recap_ids)

    def _read(self, rel: str, f: Found, old: FileState | None) -> tuple[int, Parsed] | None:
        """(crc, parse) of the file, or None when it has not changed since `old` (whose
        mtime is then brought up to date). The crc is -1 for a file not read whole."""
        try:
            raw = read_bytes(f.path, f.size) if f.size <= MAX_FILE_BYTES else b""
        except OSError as exc:
            problem = Problem(rel, None, "error", f"cannot read: {exc.strerror}", "io")
            return -1, Parsed("ignored", None, [problem])
        if f.size > MAX_FILE_BYTES:
            if old is not None and old.crc == -1 and old.size == f.size:
                # Still refused for its size, with the same message: nothing changed.
                old.mtime_ns, old.racy = f.mtime_ns, self._racy(f)
                return None
            return -1, Parsed("ignored", None, [too_large(rel, f.size)])
        crc = zlib.crc32(raw)
        if old is not None and old.crc == crc and len(raw) == old.size:
            old.size, old.mtime_ns, old.racy = f.size, f.mtime_ns, self._racy(f)
            return None
        index = self.index
        return crc, parse_file(raw, rel, f.path, f.kind, index.settings.series, index._speakers)

    def _racy(self, f: Found) -> bool:
        return f.mtime_ns >= self.scan_start - _RACY_NS

    def _drop_missing(
        self, found: dict[str, Found], complete: bool, paths: Iterable[str | Path] | None
    ) -> None:
        """Forget the files gone: any not found by a full scan, or a named path not there."""
        index = self.index
        if complete:
            gone = [r for r in index._files if r not in found]
        elif paths is not None:
            named = index._scanner.normalise_paths(paths)
            gone = [r for r in named if r not in found and r in index._files]
        else:
            gone = []
        for rel in gone:
            index.forget(rel, self.ep_ids, self.recap_ids)
            self.removed.add(rel)

    def _settle(self) -> None:
        index = self.index
        added, changed, removed = self.added, self.changed, self.removed
        if index._authors_moved and index._loaded:
            # A recap is found by its authors' names: words indexed under the old names
            # would keep finding it by a name the authors file no longer gives.
            for rel, recap in index._recaps.items():
                if rel not in added and rel not in changed:
                    index._search.added(rel, recap)
        if added or changed or removed or not index._loaded:
            keys_moved = Counter(index._keys_added) != Counter(index._keys_removed)
            touched = {r for r in added | changed | removed if r in index._recaps or r in removed}
            everything = not index._loaded or keys_moved or index._authors_moved
            index.settle(touched, everything)
        index._keys_added, index._keys_removed, index._authors_moved = [], [], False
        index._loaded = True
