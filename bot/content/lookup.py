"""What a member's words are matched against, and how a query becomes one answer.

`episode_fields` and `recap_fields` are the one list of what is searchable (with the weight
each field ranks by): the index (bot/content/index.py) ranks by them, and `covers` checks a
confident answer against the very same words. `resolve_episode` and `resolve_recap` turn
what a member typed into `/episode` or `/recap` into the one item to show, or None ("not
found", with suggestions): exact ids and codes first, then the best search match, accepted
only when it covers every meaningful word typed. Pure, and no Discord: the cogs call these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.content.models import Episode, Recap
from bot.content.text import (
    STOP_WORDS,
    code_token,
    damerau_levenshtein,
    find_code,
    parse_code,
    tokens,
)

if TYPE_CHECKING:
    from bot.content.index import ContentIndex

MAX_QUERY = 200  # nobody types more; longer input only costs search time

W_CODE, W_TITLE, W_PEOPLE, W_TAGS, W_SUMMARY = 10.0, 4.0, 3.0, 2.5, 1.0

# (text, weight) fields whose words are indexed, and ready-made (token, weight) extras.
Fields = tuple[list[tuple[str, float]], list[tuple[str, float]]]


def episode_fields(ep: Episode) -> Fields:
    """What search matches an episode on: (text, weight) fields and ready-made tokens."""
    fields = [
        (ep.title, W_TITLE),
        (ep.summary, W_SUMMARY),
        (" ".join((*ep.guests, *ep.hosts)), W_PEOPLE),
        (" ".join(ep.tags), W_TAGS),
    ]
    extra = [(ep.id.lower(), W_CODE)]
    if ep.season is not None and ep.number is not None:
        extra.append((code_token(ep.season, ep.number), W_CODE))
    return fields, extra


def recap_fields(recap: Recap, author_name: Callable[[str], str]) -> Fields:
    """What search matches a recap on; `author_name` turns an author key into their name."""
    fields = [
        (recap.title, W_TITLE),
        (recap.summary, W_SUMMARY),
        (" ".join(recap.tags), W_TAGS),
        (" ".join(author_name(a) for a in recap.authors), W_PEOPLE),
    ]
    extra = [(recap.id.lower(), W_CODE)]
    code = recap_code(recap)
    if code is not None:
        extra.append((code_token(*code), W_CODE))
    return fields, extra


def recap_code(recap: Recap) -> tuple[int, int] | None:
    """The episode code a recap is about: its `episode:` if that is a code, else its title's."""
    if recap.episode_id:
        code = parse_code(recap.episode_id)
        if code is not None:
            return code
    return find_code(recap.title)


def field_texts(fields: Fields) -> list[str]:
    text_fields, extra = fields
    return [text for text, _ in text_fields] + [token for token, _ in extra]


def covers(query: str, texts: list[str]) -> bool:
    """Every meaningful word typed appears in `texts`: exactly, as the start of a word, or
    with a small typo. A free-text query that only half matches is "not found" (with
    suggestions), not a confident answer about another episode."""
    typed = [w for w in dict.fromkeys(tokens(query)) if w not in STOP_WORDS] or tokens(query)
    have = {w for text in texts if text for w in tokens(text)}
    for word in typed:
        if word in have:
            continue
        if len(word) >= 2 and any(h.startswith(word) for h in have):
            continue
        edits = 2 if len(word) >= 8 else 1
        if len(word) >= 4 and any(damerau_levenshtein(word, h, edits) <= edits for h in have):
            continue
        return False
    return True


def named_episode(index: ContentIndex, query: str) -> Episode | None:
    """The episode a query names outright (its id, a code, a title), or None; no guessing."""
    query = query.strip()[:MAX_QUERY]
    return index.episode(query) or index.find_episode(query)


def resolve_episode(index: ContentIndex, query: str, now: datetime) -> Episode | None:
    """The episode `/episode <query>` shows, or None."""
    found = named_episode(index, query)
    if found is not None:
        return found
    query = query.strip()[:MAX_QUERY]
    if parse_code(query) is not None:
        # A code that names no episode: a text search would only offer its prefixes
        # (s2e1 -> S2:E10), which is a suggestion, not an answer.
        return None
    matches = index.search_episodes(query, now, limit=1)
    if matches and covers(query, field_texts(episode_fields(matches[0]))):
        return matches[0]
    return None


def resolve_recap(index: ContentIndex, query: str, now: datetime) -> Recap | None:
    """The published recap `/recap <query>` shows, or None."""
    query = query.strip()[:MAX_QUERY]
    recap = index.recap(query)
    if recap is not None and recap.is_published(now):
        return recap
    episode = index.find_episode(query)
    if episode is not None:
        recap = index.recap_for_episode(episode.id)
        if recap is not None and recap.is_published(now):
            return recap
    matches = index.search_recaps(query, now, limit=1)
    if matches and covers(query, field_texts(recap_fields(matches[0], index.author_name))):
        return matches[0]
    return None
