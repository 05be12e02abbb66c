"""The index's storage: each content file's parse, and its episodes, recaps and authors
by file, id and season/episode code, with the duplicates and cross-file problems.

Kept in step one file at a time (`remember`, `forget`): the tables of ids held by two files
or more are the only ones the duplicate rules look at, so a change of one file costs O(1),
not O(corpus). The parts built on top (sorted views, search) are told of each item that
comes and goes (`Part`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from bot.content.checks import cross_file_problems, recap_problems
from bot.content.loader import Kind, Parsed
from bot.content.lookup import recap_code
from bot.content.models import Author, Episode, Problem, Recap
from bot.content.scan import Scanner
from bot.content.text import find_code, parse_code


def problem_sort_key(p: Problem) -> tuple[str, int, int, str]:
    return (p.path, p.line or 0, 0 if p.severity == "error" else 1, p.message)


@dataclass(slots=True)
class FileState:
    kind: Kind
    size: int
    mtime_ns: int
    crc: int
    parsed: Parsed
    racy: bool = False


class Part(Protocol):
    """Something built from the catalogue's items, updated one item at a time."""

    def added(self, rel: str, item: Episode | Recap) -> None: ...

    def removed(self, rel: str, item: Episode | Recap) -> None: ...


class Catalogue:
    """Every parsed file, and the lookups by id and code (the first file by path wins an id
    or a code that two files hold)."""

    def __init__(self, root: Path, scanner: Scanner) -> None:
        self.root = root
        self._scanner = scanner
        self._files: dict[str, FileState] = {}
        self._refused: dict[str, Problem] = {}
        self._file_problems: dict[str, list[Problem]] = {}
        self._recap_cross: dict[str, list[Problem]] = {}
        self._cross: list[Problem] = []
        self._problems: tuple[Problem, ...] | None = None
        self._episodes: dict[str, Episode] = {}  # rel -> episode
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
        self._parts: list[Part] = []
        # Episode ids/codes added and removed during one reload: when they balance out, no
        # recap can have changed which episode it points at.
        self._keys_added: list[object] = []
        self._keys_removed: list[object] = []
        self._authors_moved = False
        self._generation = 0

    # ------------------------------------------------------------------ one file in, out

    def remember(self, rel: str, state: FileState, ep_ids: set[str], recap_ids: set[str]) -> None:
        self._files[rel] = state
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
        elif isinstance(item, Recap):
            self._recaps[rel] = item
            recap_ids.add(item.id)
            self._add("_recap_ids", item.id.lower(), rel)
            code = recap_code(item)
            if code is not None:
                self._recap_codes.setdefault(code, []).append(rel)
        elif parsed.kind == "authors" and item is not None:
            self._authors = item
            self._authors_moved = True
            return
        if isinstance(item, (Episode, Recap)):
            for part in self._parts:
                part.added(rel, item)

    def forget(self, rel: str, ep_ids: set[str], recap_ids: set[str]) -> None:
        state = self._files.pop(rel, None)
        self._file_problems.pop(rel, None)
        if state is None:
            return
        item = state.parsed.item
        if isinstance(item, Episode):
            self._episodes.pop(rel, None)
            ep_ids.add(item.id)
            self._keys_removed += [item.id.lower(), (item.season, item.number)]
            self._remove("_ep_ids", item.id.lower(), rel)
            if item.season is not None and item.number is not None:
                self._remove("_ep_codes", (item.season, item.number), rel)
        elif isinstance(item, Recap):
            self._recaps.pop(rel, None)
            recap_ids.add(item.id)
            self._remove("_recap_ids", item.id.lower(), rel)
            code = recap_code(item)
            if code is not None:
                _drop(self._recap_codes, code, rel)
        elif state.parsed.kind == "authors":
            self._authors = MappingProxyType({})
            self._authors_moved = True
        if isinstance(item, (Episode, Recap)):
            for part in self._parts:
                part.removed(rel, item)

    def _add(self, table: str, key: Any, rel: str) -> None:
        rels = getattr(self, table).setdefault(key, [])
        rels.append(rel)
        if len(rels) > 1:
            self._multi[table].add(key)

    def _remove(self, table: str, key: Any, rel: str) -> None:
        _drop(getattr(self, table), key, rel)
        if len(getattr(self, table).get(key, ())) < 2:
            self._multi[table].discard(key)

    def shadowed(self, table: str) -> set[str]:
        """Files whose id another file holds too and that lose to it (the first file by path
        wins): only ids held twice are looked at, so this costs nothing in a clean folder."""
        rels_of = getattr(self, table)
        shadowed: set[str] = set()
        for key in self._multi[table]:
            rels = rels_of.get(key, ())
            shadowed.update(rels)
            shadowed.discard(min(rels, default=None))
        return shadowed

    def settle(self, touched_recaps: Iterable[str], everything: bool) -> None:
        """After a reload that changed something: a new generation, and the cross-file
        checks of the recaps it touched (of every recap, with `everything`)."""
        self._generation += 1
        self._problems = None
        if everything:
            self._recap_cross = {}
            touched_recaps = list(self._recaps)
        judge = bool(self._episodes) or self._scanner.is_content_root
        for rel in touched_recaps:
            recap = self._recaps.get(rel)
            found = (
                recap_problems(self, rel, recap, judge, content_root=self._scanner.is_content_root)
                if recap is not None
                else []
            )
            if found:
                self._recap_cross[rel] = found
            else:
                self._recap_cross.pop(rel, None)
        self._cross = cross_file_problems(self, self._scanner.is_content_root)

    # ------------------------------------------------------------------ reading

    @property
    def problems(self) -> tuple[Problem, ...]:
        if self._problems is None:
            every = [*self._refused.values(), *self._cross]
            for plist in self._file_problems.values():
                every.extend(plist)
            self._problems = tuple(sorted(every, key=problem_sort_key))
        return self._problems

    @property
    def authors(self) -> Mapping[str, Author]:
        return self._authors

    def author_name(self, key: str) -> str:
        author = self._authors.get(key)
        return author.name if author else key

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

    def episode_for_recap(self, recap: Recap) -> Episode | None:
        if recap.episode_id:
            return self.find_episode(recap.episode_id)
        code = find_code(recap.title)
        return self.episode_by_code(*code) if code else None


def _drop(table: dict, key: object, rel: str) -> None:
    rels = table.get(key)
    if rels is None:
        return
    if rel in rels:
        rels.remove(rel)
    if not rels:
        del table[key]
