"""Recap identity (bot/content/identity.py): which recaps a change renamed, and their aliases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.content.identity import announcement_ids, new_aliases, renamed
from bot.content.models import Recap

T = datetime(2025, 7, 14, 17, 0, tzinfo=UTC)


def recap(path: str, rid: str | None = None, **kw) -> Recap:
    stem = path.rsplit("/", 1)[-1].removesuffix(".md")
    return Recap(id=rid or stem, path=path, title=kw.pop("title", "Agents"), published=T, **kw)


def test_git_renames_first_then_episode_and_day_then_title_and_moment():
    a, a2 = (
        recap("recaps/a.md", episode_id="s2-e05"),
        recap("recaps/x/a-new.md", episode_id="s2-e05"),
    )
    b, b2 = recap("recaps/b.md", title="B"), recap("recaps/b-moved.md", title="  b ")
    c, c2 = recap("recaps/c.md", title="C"), recap("recaps/c2.md", title="Other")
    pairs = renamed(
        {r.path: r for r in (a, b, c)},
        {r.path: r for r in (a2, b2, c2)},
        git_renames=[("recaps/c.md", "recaps/c2.md")],
    )
    assert {(o.path, n.path) for o, n in pairs} == {
        ("recaps/c.md", "recaps/c2.md"),
        ("recaps/a.md", "recaps/x/a-new.md"),
        ("recaps/b.md", "recaps/b-moved.md"),
    }


def test_aliases_chain_and_an_explicit_id_wins():
    a, b, c = recap("recaps/a.md"), recap("recaps/b.md"), recap("recaps/c.md")
    aliases = new_aliases([(a, b)], {})
    assert aliases == {"b": "a"}
    assert new_aliases([(b, c)], aliases) == {"c": "a"}  # renamed twice: still a's
    explicit = recap("recaps/d.md", rid="own-id")
    assert new_aliases([(a, explicit)], {}) == {}
    # A new file taking the old name does not take the old announcement.
    ids = announcement_ids([b, replace(a, title="New A")], {"b": "a"})
    assert ids == {"recaps/b.md": "a", "recaps/a.md": "a~recaps/a.md"}
