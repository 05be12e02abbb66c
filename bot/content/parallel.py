"""Cold loads of thousands of files, read and parsed in worker processes.

A start-up reads every content file: at 20,000 files that is seconds of PyYAML's Python-side
constructor and our model building, all CPU and all independent per file, so it fans out
over the machine's cores. Each worker reads a chunk of files and sends back, per file, its
checksum and its `Parsed` (pickled); the caller consumes them in its own order, so ordering,
diagnostics and results are those of the in-process path (`parse_file`, which both use).

Processes are started with forkserver (spawn where that is missing), never fork: the bot
loads its content from a thread while the event loop and the store's thread run, and
forking a threaded process can copy a held lock. Anything that goes wrong with the pool
(processes cannot start, a worker dies) falls back to parsing the rest in-process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from bot.config import SeriesSettings
from bot.content.authors import load_speakers
from bot.content.loader import Kind, Parsed, parse_bytes
from bot.content.models import Author, Episode, Problem, Recap, ShowEvent

PARALLEL_MIN_FILES = 500  # below this, starting processes costs more than it saves
_CHUNKS_PER_WORKER = 8  # several chunks each: results stream back while the rest parse
_MAX_CHUNK = 400

#: One file to load: (rel, path, kind, size from the scan).
Job = tuple[str, str, "Kind | Literal['auto']", int]
#: Its outcome: (rel, crc32 of its bytes or -1 when unread, Parsed).
Done = tuple[str, int, Parsed]

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def read_bytes(path: str | Path, size: int) -> bytes:
    """The whole file (`size` from the scan is a hint), with plain system calls rather than
    a buffered file object per file. Non-blocking, so a file swapped for a pipe since the
    scan cannot hang the load."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        chunks = []
        while chunk := os.read(fd, max(size + 1, 4096)):
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


class Speakers:
    """The hub `speakers/` tables next to `.yaml` episodes, read once per folder."""

    def __init__(self) -> None:
        self._tables: dict[Path, dict[str, tuple[str, str]]] = {}

    def lookup_for(self, path: str | Path) -> Callable[[str], tuple[str, str] | None]:
        folder = Path(path).parent.parent / "speakers"
        table = self._tables.get(folder)
        if table is None:
            table = self._tables[folder] = load_speakers(folder) if folder.is_dir() else {}
        return table.get


def parse_file(
    raw: bytes,
    rel: str,
    path: str | Path,
    kind: Kind | Literal["auto"],
    series: SeriesSettings,
    speakers: Speakers,
) -> Parsed:
    """One file's bytes -> Parsed, the way every load does it (in-process or in a worker)."""
    loose = kind == "auto"
    if rel.endswith((".yaml", ".yml")):
        return parse_bytes(raw, rel, kind, series, speakers.lookup_for(path), pages=loose)
    return parse_bytes(raw, rel, kind, series, pages=loose)


def load_file(
    rel: str,
    path: str | Path,
    kind: Kind | Literal["auto"],
    size: int,
    series: SeriesSettings,
    speakers: Speakers,
) -> tuple[int, Parsed]:
    """Read and parse one file: (crc32 of its bytes, or -1 if it could not be read; Parsed)."""
    try:
        raw = read_bytes(path, size)
    except OSError as exc:
        problem = Problem(rel, None, "error", f"cannot read: {exc.strerror}", "io")
        return -1, Parsed("ignored", None, [problem])
    return zlib.crc32(raw), parse_file(raw, rel, path, kind, series, speakers)


def _load_chunk(jobs: Sequence[Job], series: SeriesSettings) -> list[Done]:
    speakers = Speakers()
    return [
        (rel, *load_file(rel, path, kind, size, series, speakers)) for rel, path, kind, size in jobs
    ]


def _proxy(items: dict) -> MappingProxyType:
    return MappingProxyType(items)


def _reduce_proxy(proxy: MappingProxyType) -> tuple:
    return _proxy, (dict(proxy),)


def _reduce_model(obj: object) -> tuple:
    # A model's fields in declaration order, rebuilt by its constructor: a third of the
    # cost of the dataclass default (which asks `fields()` of every object both ways).
    cls = type(obj)
    return cls, tuple(map(obj.__getattribute__, _FIELDS[cls]))


_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (Episode, Recap, ShowEvent, Problem, Author, Parsed)
}

# Models hold read-only mappings (an episode's links, the authors), which plain pickle
# refuses. Registered with multiprocessing's pickler only, for the results of workers.
ForkingPickler.register(MappingProxyType, _reduce_proxy)
for _cls in _FIELDS:
    ForkingPickler.register(_cls, _reduce_model)


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        # The server imports the loader once; every worker forked from it starts warm.
        ctx.set_forkserver_preload([__name__])
    return ctx


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool for several cold loads in a row (one per series at start-up): its processes
    start once, not once per series. The caller shuts it down."""
    return ProcessPoolExecutor(max(1, workers), mp_context=_context())


def load_files(
    jobs: Sequence[Job],
    series: SeriesSettings,
    *,
    workers: int,
    speakers: Speakers | None = None,
    on_fallback: Callable[[BaseException], None] | None = None,
    shared: ProcessPoolExecutor | None = None,
) -> Iterator[Done]:
    """Every job's outcome, in the order of `jobs`: from `workers` processes when there are
    two or more, else (or when the pool fails) in this process. With `shared` (see
    `worker_pool`), its processes do the work and it is left running."""
    done = 0
    if workers >= 2 and len(jobs) >= 2:
        size = max(1, min(_MAX_CHUNK, -(-len(jobs) // (workers * _CHUNKS_PER_WORKER))))
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        pool = None
        try:
            pool = shared or ProcessPoolExecutor(min(workers, len(chunks)), mp_context=_context())
            futures = [pool.submit(_load_chunk, chunk, series) for chunk in chunks]
            for future in futures:
                results = future.result()
                for item in results:
                    yield item
                    done += 1
        except GeneratorExit:
            raise
        except Exception as exc:  # processes refused, a worker killed, pickling failed
            if on_fallback is not None:
                on_fallback(exc)
        finally:
            if pool is not None and pool is not shared:
                pool.shutdown(wait=True, cancel_futures=True)
    speakers = speakers or Speakers()
    for rel, path, kind, size in jobs[done:]:
        yield (rel, *load_file(rel, path, kind, size, series, speakers))


__all__ = [
    "PARALLEL_MIN_FILES",
    "Done",
    "Job",
    "Speakers",
    "default_workers",
    "load_file",
    "load_files",
    "parse_file",
    "read_bytes",
    "worker_pool",
]
