"""A recap's identity: what its announcement is keyed by, so a rename is not a new recap. Pure.

A recap's id is its frontmatter ``id:`` or, failing that, its file name. An explicit id always
wins. A file-name id would change with ``git mv``, so the bot remembers *aliases*: when a pull
renames a recap file (git's rename detection), or a recap disappears and one with the same
content identity (the episode it recaps and its publication day) appears in the same change,
the new file-name id is recorded as an alias of the announcement id the old file had. Its
announcement key stays ``recap:<old id>``: nothing is announced again, the sent message is
edited if its link or text changed.

`amabot check` warns when two recaps share a content identity: a rename between them could not
be told apart, so such recaps should set ``id:``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath

from bot.content.models import Problem, Recap


def file_id(recap: Recap) -> str:
    """The id the file name gives: ``recaps/s2-e08.md`` -> ``s2-e08``."""
    return PurePosixPath(recap.path).stem


def has_explicit_id(recap: Recap) -> bool:
    """The recap sets ``id:`` (an id equal to the file name is the same either way)."""
    return recap.id != file_id(recap)


def content_identity(recap: Recap) -> str | None:
    """``<episode id>@<publication day>``; None for a recap linked to no episode."""
    if not recap.episode_id:
        return None
    return f"{recap.episode_id.lower()}@{recap.published.date().isoformat()}"


def announcement_ids(recaps: Iterable[Recap], aliases: Mapping[str, str]) -> dict[str, str]:
    """Recap path -> the id its announcement is keyed by (``recap:<id>``).

    An explicit id is used as it is; a file-name id goes through `aliases`. Should two recaps
    end up with one id (a new file took the name an old one was renamed from), the one that
    holds it through an alias keeps it and the other is told apart by its path, so neither
    is mistaken for the other's announcement."""
    chosen: dict[str, str] = {}
    literal: list[Recap] = []
    taken: set[str] = set()
    for recap in recaps:
        if not has_explicit_id(recap) and recap.id in aliases:
            chosen[recap.path] = aliases[recap.id]
            taken.add(aliases[recap.id].lower())
        else:
            literal.append(recap)
    for recap in literal:
        rid = recap.id
        if rid.lower() in taken and not has_explicit_id(recap):
            rid = f"{rid}~{recap.path}"
        chosen[recap.path] = rid
        taken.add(rid.lower())
    return chosen


def renamed(
    before: Mapping[str, Recap],
    after: Mapping[str, Recap],
    git_renames: Sequence[tuple[str, str]] = (),
) -> list[tuple[Recap, Recap]]:
    """(old recap, new recap) for each recap that moved to a new path in one change.

    `before` holds the recaps at the paths that went away, `after` those at the paths that
    appeared. Git's renames are taken first; then a gone recap and a new one that share a
    content identity, when that identity is unique on both sides; then, for recaps linked to
    no episode, the same title published at the same moment."""
    pairs: list[tuple[Recap, Recap]] = []
    gone, new = dict(before), dict(after)
    for old_rel, new_rel in git_renames:
        if old_rel in gone and new_rel in new:
            pairs.append((gone.pop(old_rel), new.pop(new_rel)))
    by_identity: dict[str, list[Recap]] = defaultdict(list)
    for recap in gone.values():
        if (ident := content_identity(recap)) is not None:
            by_identity[ident].append(recap)
    arriving: dict[str, list[Recap]] = defaultdict(list)
    for recap in new.values():
        if (ident := content_identity(recap)) is not None:
            arriving[ident].append(recap)
    for ident, olds in by_identity.items():
        news = arriving.get(ident, [])
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
            gone.pop(olds[0].path, None)
            new.pop(news[0].path, None)
    # A recap linked to no episode: the same title published at the same moment.
    by_title: dict[tuple[str, str], list[Recap]] = defaultdict(list)
    for recap in gone.values():
        by_title[_title_identity(recap)].append(recap)
    arriving_titles: dict[tuple[str, str], list[Recap]] = defaultdict(list)
    for recap in new.values():
        arriving_titles[_title_identity(recap)].append(recap)
    for title, olds in by_title.items():
        news = arriving_titles.get(title, [])
        if len(olds) == 1 and len(news) == 1:
            pairs.append((olds[0], news[0]))
    return pairs


def _title_identity(recap: Recap) -> tuple[str, str]:
    return (recap.published.isoformat(), " ".join(recap.title.lower().split()))


def new_aliases(pairs: Iterable[tuple[Recap, Recap]], aliases: Mapping[str, str]) -> dict[str, str]:
    """The aliases to record for `pairs`: new file-name id -> the old announcement id."""
    out: dict[str, str] = {}
    for old, new in pairs:
        if has_explicit_id(new):
            continue  # an explicit id wins, even over the history of the file
        old_id = old.id if has_explicit_id(old) else aliases.get(old.id, old.id)
        if new.id != old_id:
            out[new.id] = old_id
    return out


def identity_problems(recaps: Iterable[Recap]) -> list[Problem]:
    """A warning per recap that shares its content identity with another and has no ``id:``."""
    groups: dict[str, list[Recap]] = defaultdict(list)
    for recap in recaps:
        if (ident := content_identity(recap)) is not None:
            groups[ident].append(recap)
    problems: list[Problem] = []
    for ident, group in sorted(groups.items()):
        if len(group) < 2:
            continue
        paths = sorted(r.path for r in group)
        for recap in sorted(group, key=lambda r: r.path):
            if has_explicit_id(recap):
                continue
            others = ", ".join(p for p in paths if p != recap.path)
            episode, _, day = ident.partition("@")
            problems.append(
                Problem(
                    recap.path,
                    recap.line,
                    "warning",
                    f"recap of {episode} published {day}, like {others}: renaming one could be "
                    "mistaken for the other; give each an `id:`",
                    "shared-identity",
                )
            )
    return problems
