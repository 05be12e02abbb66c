"""An incremental, typo-tolerant inverted index for autocomplete-speed search.

Documents are keyed by a string (the file's relative path). Each query word is matched
against the *vocabulary*, never against every document: exactly, as a prefix (the word
being typed), or within one or two edits through a symmetric-delete map (SymSpell's idea),
so the cost depends on the query and the postings it touches, not on the corpus size.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from sys import intern

from bot.content.text import STOP_WORDS, damerau_levenshtein, tokens

EXACT, PREFIX, FUZZY = 1.0, 0.75, 0.6
MAX_PREFIX_WORDS = 48
MIN_FUZZY_LEN = 4


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class SearchIndex:
    def __init__(self) -> None:
        self._postings: dict[str, dict[str, float]] = {}
        self._doc_words: dict[str, tuple[str, ...]] = {}
        self._vocab: list[str] = []  # sorted, for prefix ranges; rebuilt lazily
        self._vocab_dirty = False
        self._deletes: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._doc_words)

    # ------------------------------------------------------------------ updates

    def add(
        self, key: str, fields: Iterable[tuple[str, float]], extra: Iterable[tuple[str, float]] = ()
    ) -> None:
        """Index `key` under the words of each (text, weight), plus ready-made `extra` tokens
        (ids, codes such as ``s2e5``) that are matched exactly or by prefix, never fuzzily."""
        if key in self._doc_words:
            self.remove(key)
        weights: dict[str, float] = {}
        for text, weight in fields:
            if not text:
                continue
            for word in tokens(text):
                if weights.get(word, 0.0) < weight:
                    # Interned: every document's word list shares one string per word.
                    weights[intern(word)] = weight
        fuzzy_ok = set(weights)
        for token, weight in extra:
            if weights.get(token, 0.0) < weight:
                weights[token] = weight
        postings = self._postings
        for word, weight in weights.items():
            posting = postings.get(word)
            if posting is None:
                posting = postings[word] = {}
                self._add_word(word, word in fuzzy_ok)
            posting[key] = weight
        self._doc_words[key] = tuple(weights)

    def remove(self, key: str) -> None:
        for word in self._doc_words.pop(key, ()):
            posting = self._postings.get(word)
            if posting is None:
                continue
            posting.pop(key, None)
            if not posting:
                del self._postings[word]
                self._drop_word(word)

    def _add_word(self, word: str, fuzzy: bool) -> None:
        self._vocab_dirty = True
        if fuzzy and len(word) >= MIN_FUZZY_LEN:
            deletes = self._deletes
            for variant in _deletes(word):
                # Buckets are NUL-joined strings: most hold one word, and a str costs far
                # less memory than a set per variant.
                old = deletes.get(variant)
                deletes[variant] = word if old is None else f"{old}\0{word}"

    def _drop_word(self, word: str) -> None:
        self._vocab_dirty = True
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
        """Vocabulary words a query word may stand for, with a match quality."""
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
        return found

    def query(
        self, text: str, *, loose: bool = False
    ) -> tuple[dict[str, float], dict[str, int], int]:
        """-> (score per key, matched query words per key, number of query words)."""
        words = [w for w in dict.fromkeys(tokens(text))]
        if not words:
            return {}, {}, 0
        meaningful = [w for w in words if w not in STOP_WORDS]
        words = meaningful or words
        scores: dict[str, float] = {}
        matched: dict[str, int] = {}
        for n, word in enumerate(words):
            per_doc: dict[str, float] = {}
            for cand, quality in self.candidates(
                word, last=n == len(words) - 1, loose=loose
            ).items():
                for key, weight in self._postings[cand].items():
                    s = quality * weight
                    if per_doc.get(key, 0.0) < s:
                        per_doc[key] = s
            for key, s in per_doc.items():
                scores[key] = scores.get(key, 0.0) + s
                matched[key] = matched.get(key, 0) + 1
        return scores, matched, len(words)
