"""An incremental, typo-tolerant inverted index that answers top-k queries at keystroke speed.

Documents are keyed by a string (the file's relative path). Each query word is matched
against the *vocabulary*, never against every document: exactly, as a prefix (the word
being typed), or within one or two edits through a symmetric-delete map (SymSpell's idea).

Storage is compact and cheap to update: each word's postings are one ``array('q')`` of
``slot << 8 | weight class``. Queries run on a *view* built lazily per generation (any add
or remove starts a new one): documents numbered by their time order (``order``, e.g. the
first livestream), and the postings of each word touched by a query turned into Python
ints used as bitsets over that numbering. Matching, scoring and ranking are then a few
dozen big-int ANDs/ORs per query, whatever the number of matching documents, and the
top k of a score bucket come out of it already in time order (lowest or highest bits).
"""

from __future__ import annotations

import bisect
import gc
from array import array
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from sys import intern
from typing import TYPE_CHECKING, Literal, cast

from bot.content.lookup import episode_fields, recap_fields
from bot.content.models import Episode, EpisodeStatus, Recap
from bot.content.text import STOP_WORDS, damerau_levenshtein, parse_code, tokens

if TYPE_CHECKING:
    from bot.content.catalogue import Catalogue
    from bot.content.views import SortedViews

EXACT, PREFIX, FUZZY = 1.0, 0.75, 0.6
MAX_PREFIX_WORDS = 48
MIN_FUZZY_LEN = 4
MAX_QUERY_WORDS = 16  # more words only multiply score buckets; 16 already pins a document
_NEVER = float("-inf")
_BITS_CACHE = 4096  # words whose bitsets a view keeps (a 20,000-document bitset is 2.5 KB)


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


_append = array.append


def _weight_of(field: tuple[str, float]) -> float:
    return field[1]


def query_words(text: str) -> list[str]:
    """The words a query is matched on: distinct, stop words dropped unless that leaves none."""
    words = list(dict.fromkeys(tokens(text)))
    meaningful = [w for w in words if w not in STOP_WORDS]
    return (meaningful or words)[:MAX_QUERY_WORDS]


class _View:
    """Documents numbered 0..n-1 in time order, for one generation of the index."""

    __slots__ = (
        "ahead",
        "all",
        "bits",
        "blocked",
        "keys",
        "max_span",
        "orders",
        "rank_of",
        "until",
    )

    def __init__(self, index: SearchIndex) -> None:
        live = [s for s, k in enumerate(index._keys) if k is not None]
        order, keys = index._order, index._keys
        # Equal orders (undated documents) by key, descending: ranks are read from the top
        # for everything not ahead, so ties come out in key order (S4:E1 before S4:E2).
        live.sort(key=cast("list[str]", keys).__getitem__, reverse=True)  # live: never None
        live.sort(key=order.__getitem__)
        self.keys: list[str] = [k for s in live if (k := keys[s]) is not None]  # all live
        self.orders = [order[s] for s in live]
        self.until = [index._until[s] for s in live]
        self.rank_of = array("l", [-1]) * len(keys)
        for rank, slot in enumerate(live):
            self.rank_of[slot] = rank
        self.all = (1 << len(live)) - 1
        blocked = bytearray((len(live) + 7) // 8)
        span = 0.0
        for rank, (start, until) in enumerate(zip(self.orders, self.until, strict=True)):
            if until < start:
                blocked[rank >> 3] |= 1 << (rank & 7)  # cancelled or undated: never ahead
            elif until - start > span:
                span = until - start
        self.blocked = int.from_bytes(blocked, "little")
        self.max_span = span
        self.bits: dict[str, list[tuple[float, int]]] = {}
        self.ahead: tuple[tuple[int, tuple[int, ...]], int] | None = None

    def ahead_mask(self, t: float) -> int:
        """Documents still ahead at `t` (``until > t``): every one that starts after `t`,
        plus the few that started but are not over; cached while that set is the same."""
        p = bisect.bisect_right(self.orders, t)
        running = []
        r, lo = p - 1, t - self.max_span
        while r >= 0 and self.orders[r] >= lo:
            if self.until[r] > t:
                running.append(r)
            r -= 1
        key = (p, tuple(running))
        if self.ahead is not None and self.ahead[0] == key:
            return self.ahead[1]
        mask = (self.all >> p << p) & ~self.blocked
        for r in running:
            mask |= 1 << r
        self.ahead = (key, mask)
        return mask


class SearchIndex:
    __slots__ = (
        "_candidates",
        "_dead",
        "_deletes",
        "_doc_words",
        "_free",
        "_keys",
        "_order",
        "_pending",
        "_postings",
        "_slot",
        "_stale",
        "_until",
        "_view",
        "_vocab",
        "_vocab_dirty",
        "_weight_class",
        "_weights",
        "generation",
    )

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}
        self._keys: list[str | None] = []
        self._free: list[int] = []
        self._pending: dict[str, tuple[Callable[[], tuple[Iterable, Iterable]], float, float]] = {}
        self._order = array("d")
        self._until = array("d")
        self._postings: dict[str, array] = {}  # word -> slot << 8 | weight class
        # A removed document's postings stay in place (removing one from each of its words'
        # arrays is a linear scan per word: milliseconds for one file at 10,000) until a
        # sweep: its slot is dead (skipped by the views) and not reused before then. A
        # word goes when its last live document does: when all its postings are stale.
        self._stale: dict[str, int] = {}  # word -> its postings of dead documents
        self._dead: set[int] = set()
        self._doc_words: list[tuple[tuple[str, ...], bytes] | None] = []
        self._weights: list[float] = []
        self._weight_class: dict[float, int] = {}
        self._vocab: list[str] = []  # sorted, for prefix ranges; rebuilt lazily
        self._vocab_dirty = False
        self._deletes: dict[str, str] = {}
        # Query word -> its candidates, valid while the vocabulary is: typing repeats words.
        self._candidates: dict[tuple[str, bool, bool], dict[str, float]] = {}
        self._view: _View | None = None
        self.generation = 0

    def __len__(self) -> int:
        return len(self._slot) + len(self._pending)

    def __contains__(self, key: object) -> bool:
        return key in self._slot or key in self._pending

    # ------------------------------------------------------------------ updates

    def add(
        self,
        key: str,
        fields: Iterable[tuple[str, float]],
        extra: Iterable[tuple[str, float]] = (),
        *,
        order: float = 0.0,
        until: float = _NEVER,
    ) -> None:
        """Index `key` under the words of each (text, weight), plus ready-made `extra` tokens
        (ids, codes such as ``s2e5``) that are matched exactly or by prefix, never fuzzily.
        `order` sorts documents in time (ties by key); the document is *ahead* at ``t``
        while ``until > t`` (never, by default).

        The words are only read on the next search (or `flush`): loading thousands of
        files must not pay for tokenising them before anyone asks."""
        fields, extra = list(fields), list(extra)
        self.add_later(key, lambda: (fields, extra), order=order, until=until)

    def add_later(
        self,
        key: str,
        describe: Callable[[], tuple[Iterable[tuple[str, float]], Iterable[tuple[str, float]]]],
        *,
        order: float = 0.0,
        until: float = _NEVER,
    ) -> None:
        """`add`, with the (fields, extra) asked of `describe` only when indexing: a loader
        then keeps one small callable per file instead of the texts it would join."""
        self.remove(key)
        self._pending[key] = (describe, order, until)
        self._changed()

    def remove(self, key: str) -> None:
        if self._pending.pop(key, None) is not None:
            self._changed()
            return
        slot = self._slot.pop(key, None)
        if slot is None:
            return
        words, _classes = self._doc_words[slot] or ((), b"")
        stale, postings = self._stale, self._postings
        for word in words:
            n = stale.get(word, 0) + 1
            if n < len(postings[word]):
                stale[word] = n
            else:
                stale.pop(word, None)
                del postings[word]
                self._drop_word(word)
        self._doc_words[slot] = None
        self._keys[slot] = None
        self._dead.add(slot)
        if len(self._dead) > max(64, len(self._slot) // 4):
            self._sweep()
        self._changed()

    def _sweep(self) -> None:
        """Drop the dead documents' postings and free their slots: one pass over every
        posting, once per a quarter of the documents removed."""
        dead = self._dead
        for word, posting in self._postings.items():
            self._postings[word] = array("q", [v for v in posting if v >> 8 not in dead])
        self._free.extend(sorted(dead, reverse=True))
        self._dead, self._stale = set(), {}

    def flush(self) -> None:
        """Index every document added since the last search."""
        pending, self._pending = self._pending, {}
        # Postings and word tuples all live on: see ContentIndex.reload on the collector.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for key, (describe, order, until) in pending.items():
                fields, extra = describe()
                self._index(key, fields, extra, order, until)
        finally:
            if collecting:
                gc.enable()

    def _index(
        self,
        key: str,
        fields: Iterable[tuple[str, float]],
        extra: Iterable[tuple[str, float]],
        order: float,
        until: float,
    ) -> None:
        class_of = self._class_of
        classes: dict[str, int] = {}  # word -> weight class
        for text, weight in sorted(fields, key=_weight_of):
            if text:
                # Ascending weights: a word keeps the highest weight of any field it is in.
                classes.update(dict.fromkeys(tokens(text), class_of(weight)))
        fuzzy_ok = set(classes)  # words of the text, not ready-made tokens
        weights = self._weights
        for token, weight in extra:
            cls = classes.get(token)
            if (0.0 if cls is None else weights[cls]) < weight:
                classes[token] = class_of(weight)
        if self._free:
            slot = self._free.pop()
            self._keys[slot] = key
            self._order[slot], self._until[slot] = order, until
        else:
            slot = len(self._keys)
            self._keys.append(key)
            self._doc_words.append(None)
            self._order.append(order)
            self._until.append(until)
        self._slot[key] = slot
        # Interned: every document's word tuple shares one string per word.
        words = tuple(map(intern, classes))
        postings = self._postings
        for word in [w for w in words if w not in postings]:
            postings[word] = array("q")
            self._add_word(word, word in fuzzy_ok)
        # One posting per word, appended at C speed: no Python-level step per word.
        posting_of = [slot << 8 | c for c in range(len(weights))]
        any(
            map(
                _append,
                map(postings.__getitem__, words),
                map(posting_of.__getitem__, classes.values()),
            )
        )
        self._doc_words[slot] = (words, bytes(classes.values()))

    def _class_of(self, weight: float) -> int:
        cls = self._weight_class.get(weight)
        if cls is None:
            if len(self._weights) >= 256:
                raise ValueError("a search index takes at most 256 distinct weights")
            cls = self._weight_class[weight] = len(self._weights)
            self._weights.append(weight)
        return cls

    def _changed(self) -> None:
        self.generation += 1
        self._view = None

    def _add_word(self, word: str, fuzzy: bool) -> None:
        self._vocab_dirty = True
        self._candidates.clear()
        if fuzzy and len(word) >= MIN_FUZZY_LEN:
            deletes = self._deletes
            for variant in _deletes(word):
                # Buckets are NUL-joined strings: most hold one word, and a str costs far
                # less memory than a set per variant.
                old = deletes.get(variant)
                deletes[variant] = word if old is None else f"{old}\0{word}"

    def _drop_word(self, word: str) -> None:
        self._vocab_dirty = True
        self._candidates.clear()
        if len(word) >= MIN_FUZZY_LEN:
            for variant in _deletes(word):
                bucket = self._deletes.get(variant)
                if bucket is None:
                    continue
                rest = [w for w in bucket.split("\0") if w != word]
                if rest:
                    self._deletes[variant] = "\0".join(rest)
                else:
                    del self._deletes[variant]

    # ------------------------------------------------------------------ queries

    def candidates(self, word: str, *, last: bool, loose: bool = False) -> dict[str, float]:
        """Vocabulary words a query word may stand for, with a match quality (read-only)."""
        cached = self._candidates.get((word, last, loose))
        if cached is not None:
            return cached
        found: dict[str, float] = {}
        if self._vocab_dirty:
            self._vocab = sorted(self._postings)
            self._vocab_dirty = False
        if word in self._postings:
            found[word] = EXACT
        # Every word may be a prefix of what the person meant ("distil"), not only the
        # last one: people paste half-words too. Short prefixes expand less.
        if len(word) >= 2 and (last or len(word) >= 3):
            limit = MAX_PREFIX_WORDS if len(word) >= 3 else 12
            i = bisect.bisect_left(self._vocab, word)
            vocab = self._vocab
            n = 0
            while i < len(vocab) and n < limit and vocab[i].startswith(word):
                if vocab[i] != word:
                    found.setdefault(vocab[i], PREFIX)
                    n += 1
                i += 1
        if (not found or loose) and len(word) >= (3 if loose else MIN_FUZZY_LEN):
            max_edits = 2 if (len(word) >= 8 or loose) else 1
            probes = {word} | _deletes(word)
            if max_edits == 2:
                probes |= {d2 for d1 in _deletes(word) for d2 in _deletes(d1)}
            seen: set[str] = set()
            for probe in probes:
                if probe in self._postings:
                    seen.add(probe)
                bucket = self._deletes.get(probe)
                if bucket:
                    seen.update(bucket.split("\0"))
            for cand in seen:
                if cand in found:
                    continue
                dist = damerau_levenshtein(word, cand, max_edits)
                if dist <= max_edits:
                    found[cand] = FUZZY - 0.1 * (dist - 1)
        if len(self._candidates) >= _BITS_CACHE:
            self._candidates.clear()
        self._candidates[(word, last, loose)] = found
        return found

    def search(
        self,
        text: str,
        t: float,
        limit: int = 25,
        *,
        loose: bool = False,
        started_only: bool = False,
    ) -> list[str]:
        """Keys of the best `limit` matches at time `t`, best first.

        Documents that match every query word and are still ahead at `t` come first (best
        score first, then the soonest); then the rest by matched words, score and the
        latest `order`. ``started_only`` leaves out documents whose `order` is after `t`
        (a recap dated in the future)."""
        if self._pending:
            self.flush()
        words = query_words(text)
        if not words or limit <= 0 or not self._slot:
            return []
        view = self._current_view()
        universe = view.all
        if started_only:
            universe &= (1 << bisect.bisect_right(view.orders, t)) - 1
        buckets = self._buckets(view, words, universe, loose)
        ordered = sorted(((k, d) for k, d in buckets.items() if k[0]), reverse=True)
        out: list[str] = []
        if ordered and ordered[0][0][0] == len(words):
            ahead = view.ahead_mask(t)
            _soonest_first(out, view.keys, ordered, len(words), ahead, limit)
            if len(out) >= limit:
                return out
            ordered = [((m, s), d & ~ahead if m == len(words) else d) for (m, s), d in ordered]
        _latest_first(out, view.keys, ordered, limit)
        return out

    def _buckets(
        self, view: _View, words: list[str], universe: int, loose: bool
    ) -> dict[tuple[int, float], int]:
        """Score buckets: (matched words, score) -> documents (disjoint bitsets)."""
        buckets: dict[tuple[int, float], int] = {(0, 0.0): universe}
        for n, word in enumerate(words):
            groups, any_doc = self._groups(view, word, n == len(words) - 1, loose)
            if not any_doc:
                continue
            merged: dict[tuple[int, float], int] = {}
            for (m, score), docs in buckets.items():
                rest = docs & ~any_doc
                if rest:
                    merged[(m, score)] = merged.get((m, score), 0) | rest
                for s, group in groups:
                    hit = docs & group
                    if hit:
                        key = (m + 1, round(score + s, 6))
                        merged[key] = merged.get(key, 0) | hit
            buckets = merged
        return buckets

    def _current_view(self) -> _View:
        if self._view is None:
            self._view = _View(self)
        return self._view

    def _groups(
        self, view: _View, word: str, last: bool, loose: bool
    ) -> tuple[list[tuple[float, int]], int]:
        """Documents by the best score this query word gives them, best first (disjoint),
        and all the documents it matches."""
        scored = []
        for cand, quality in self.candidates(word, last=last, loose=loose).items():
            for weight, docs in self._word_bits(view, cand):
                scored.append((quality * weight, docs))
        scored.sort(key=lambda sd: sd[0], reverse=True)
        groups = []
        seen = 0
        for score, docs in scored:
            fresh = docs & ~seen
            if fresh:
                groups.append((score, fresh))
                seen |= docs
        return groups, seen

    def _word_bits(self, view: _View, word: str) -> list[tuple[float, int]]:
        """One bitset per weight the word has in some document, over the view's ranks."""
        found = view.bits.get(word)
        if found is not None:
            return found
        rank_of = view.rank_of
        size = (len(view.keys) + 7) // 8
        by_class: dict[int, bytearray] = {}
        for value in self._postings.get(word, ()):
            rank = rank_of[value >> 8]
            if rank < 0:
                continue  # a removed document, not swept yet
            cls = value & 255
            buf = by_class.get(cls)
            if buf is None:
                buf = by_class[cls] = bytearray(size)
            buf[rank >> 3] |= 1 << (rank & 7)
        found = [(self._weights[c], int.from_bytes(b, "little")) for c, b in by_class.items()]
        if len(view.bits) >= _BITS_CACHE:
            view.bits.clear()
        view.bits[word] = found
        return found


Ranked = list[tuple[tuple[int, float], int]]


def _soonest_first(
    out: list[str], keys: list[str], ordered: Ranked, full: int, ahead: int, limit: int
) -> None:
    """The documents matching all `full` words that are still ahead: best score first,
    then the soonest (lowest ranks)."""
    for (m, _score), docs in ordered:
        if m != full:
            break
        lead = docs & ahead
        while lead and len(out) < limit:
            low = lead & -lead
            out.append(keys[low.bit_length() - 1])
            lead ^= low


def _latest_first(out: list[str], keys: list[str], ordered: Ranked, limit: int) -> None:
    """The rest, bucket by bucket, the latest first (highest ranks)."""
    for _key, docs in ordered:
        while docs and len(out) < limit:
            rank = docs.bit_length() - 1
            out.append(keys[rank])
            docs ^= 1 << rank
        if len(out) >= limit:
            break


class ContentSearch:
    """What members search: episodes and published recaps, by exact id or code first, then
    by their words (a `SearchIndex` each); a `Part` of the catalogue."""

    def __init__(self, cat: Catalogue, views: SortedViews) -> None:
        self._cat = cat
        self._views = views
        self.episodes = SearchIndex()
        self.recaps = SearchIndex()

    def added(self, rel: str, item: Episode | Recap) -> None:
        if isinstance(item, Episode):
            # Search ranks in time: sooner first among what is still ahead (`until`, never
            # for a cancelled episode), the latest first among the rest.
            first, last = item.first_start(), item.last_end()
            cancelled = item.status is EpisodeStatus.CANCELLED
            self.episodes.add_later(
                rel,
                partial(episode_fields, item),
                order=first.timestamp() if first else _NEVER,
                until=last.timestamp() if last and not cancelled else _NEVER,
            )
        elif not item.draft:  # drafts are never offered; found by id, they are still refused
            self.recaps.add_later(
                rel,
                partial(recap_fields, item, self._cat.author_name),
                order=item.release_at.timestamp(),
            )

    def removed(self, rel: str, item: Episode | Recap) -> None:
        (self.episodes if isinstance(item, Episode) else self.recaps).remove(rel)

    def flush(self) -> None:
        self.episodes.flush()
        self.recaps.flush()

    def search_episodes(
        self, query: str, now: datetime, limit: int = 25, *, loose: bool = False
    ) -> list[Episode]:
        """Exact code or id first; then matches of every word that are still ahead, the
        best and then the soonest first; then the rest by relevance and recency."""
        query = (query or "").strip()[:200]
        if not query:
            out = self._views.upcoming_episodes(now, limit)
            if len(out) < limit:
                seen = {e.id for e in out}
                out += [e for e in self._views.past_episodes(now, limit) if e.id not in seen][
                    : limit - len(out)
                ]
            return out
        cat = self._cat
        exact: list[Episode] = []
        by_id = cat.episode(query)
        if by_id is not None:
            exact.append(by_id)
        code = parse_code(query)
        if code is not None:
            for rel in sorted(cat._ep_codes.get(code, ())):
                ep = cat._episodes[rel]
                if ep not in exact:
                    exact.append(ep)
        exact = exact[:limit]
        skip = {e.path for e in exact}
        found = self.episodes.search(query, now.timestamp(), limit + len(skip), loose=loose)
        out = exact + [cat._episodes[rel] for rel in found if rel not in skip]
        return out[:limit]

    def search_recaps(
        self, query: str, now: datetime, limit: int = 25, *, loose: bool = False
    ) -> list[Recap]:
        """Published recaps only (never drafts, never future-dated)."""
        query = (query or "").strip()[:200]
        if not query:
            recaps, i = self._views.published(now.timestamp())
            return recaps[max(0, i - limit) : i][::-1] if limit > 0 else []
        cat = self._cat
        exact: list[Recap] = []
        by_id = cat.recap(query)
        if by_id is not None and by_id.is_published(now):
            exact.append(by_id)
        code = parse_code(query)
        if code is not None:
            same = [cat._recaps[rel] for rel in cat._recap_codes.get(code, ())]
            same.sort(key=lambda r: (r.published, r.path), reverse=True)
            exact += [r for r in same if r.is_published(now) and r not in exact]
        exact = exact[:limit]
        skip = {r.path for r in exact}
        found = self.recaps.search(
            query, now.timestamp(), limit + len(skip), loose=loose, started_only=True
        )
        out = exact + [cat._recaps[rel] for rel in found if rel not in skip]
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
