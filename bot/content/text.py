"""Small text helpers shared by the loader and the search: codes and tokens.

Everything here is pure and cheap; the search calls `normalise` and `tokens` on every
keystroke of an autocomplete, the loader on every file.
"""

from __future__ import annotations

import re
import unicodedata

# The loader reads `duration:` under this name; the one reader lives in bot/durations.py.

# A whole string that names an episode: s2e5, S2:E5, S02E05, s2-e05, "S2 E5", 2x05,
# "season 2 episode 5", and the hub's ids "s2-e05-2025-07-15".
_CODE_FULL = re.compile(
    r"""^\s*(?:
        s(?:eason)?\s*0*(?P<s1>\d{1,3})\s*[:\-_./·,]?\s*(?:e|ep|episode|week)\s*0*(?P<e1>\d{1,3})
        (?:-\d{4}-\d{2}-\d{2})?
      | 0*(?P<s2>\d{1,3})\s*x\s*0*(?P<e2>\d{1,3})
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# A code inside a title: "S2:E5 Understanding …", "S2E05 Recap", "Model Mondays S2E8: …".
# Possessive `\s*+`: two plain `\s*` around an optional separator split a long run of
# spaces every possible way (quadratic).
_CODE_IN_TEXT = re.compile(r"\bS0*(\d{1,3})\s*+[:\-]?\s*+E(?:P)?0*(\d{1,3})\b", re.IGNORECASE)


def parse_code(text: str) -> tuple[int, int] | None:
    """``s2e5``, ``S2:E5``, ``S02E05``, ``2x05``, ``s2-e05``, ``S2 E5`` -> ``(2, 5)``."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    m = _CODE_FULL.match(text)
    if m is None:
        return None
    season = m.group("s1") or m.group("s2")
    number = m.group("e1") or m.group("e2")
    return int(season), int(number)


def find_code(text: str) -> tuple[int, int] | None:
    """The first episode code written inside a longer text, such as a recap title."""
    m = _CODE_IN_TEXT.search(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def canonical_id(season: int, number: int) -> str:
    """The id a native episode file gets by convention: ``s2-e05``."""
    return f"s{season}-e{number:02d}"


def code_token(season: int, number: int) -> str:
    """The one search token that stands for a code in every spelling: ``s2e5``."""
    return f"s{season}e{number}"


_NORM_CACHE: dict[str, str] = {}
# Combining marks left by NFKD ("á" -> "a" + U+0301); a regex strips them at C speed.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def normalise(text: str) -> str:
    """Lower case, accents stripped (NFKD), so "Voutilá" and "voutila" compare equal."""
    if text.isascii():
        return text.lower()
    cached = _NORM_CACHE.get(text)
    if cached is not None:
        return cached
    out = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()
    if len(text) <= 64 and len(_NORM_CACHE) < 50_000:
        _NORM_CACHE[text] = out  # names and tags repeat; long summaries do not
    return out


_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Starts only where a word does, possessive: a plain `[^\W_]+` retried at every letter of
# every word (and backtracked at each) made this the slowest part of indexing a summary.
_JOINED = re.compile(r"(?<![^\W_])[^\W_]++(?:[-.'][^\W_]++)+")
_SEPARATORS = re.compile(r"[-.']")

STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "how",
        "in",
        "into",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "what",
        "why",
        "your",
    ]
)


# ASCII text: every character that is not a letter or digit becomes a space, so one
# `split()` gives what `_WORD` finds, at C speed (the search tokenises every file at start-up).
_ASCII_GAPS = {c: " " for c in range(128) if not chr(c).isalnum()}


def tokens(text: str) -> list[str]:
    """Words of `text`, normalised; "fine-tuning" gives both halves and the joined word."""
    norm = normalise(text)
    words = norm.translate(_ASCII_GAPS).split() if norm.isascii() else _WORD.findall(norm)
    # Hyphenated and dotted words are also indexed whole ("finetuning", "phi4") so people
    # who type them without the separator still find them.
    if _joins_words(norm):
        words.extend(_SEPARATORS.sub("", j) for j in _JOINED.findall(norm))
    return words


def _joins_words(norm: str) -> bool:
    """Whether a separator of `_JOINED` stands between two letters or digits anywhere (what
    every match of it needs). Most texts have only a sentence's full stops, each before a
    space: a few `find`s then spare `_JOINED` a scan of the whole text."""
    last = len(norm) - 1
    for sep in "-.'":
        i = norm.find(sep, 1)
        while 0 < i < last:
            if norm[i - 1].isalnum() and norm[i + 1].isalnum():
                return True
            i = norm.find(sep, i + 1)
    return False


def damerau_levenshtein(a: str, b: str, limit: int = 2) -> int:
    """Optimal-string-alignment distance, giving up (returning limit+1) past `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = i
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            best = min(best, v)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]
