"""Cross-file checks of the index: duplicate ids and codes, a recap's episode and authors,
Markdown files without frontmatter in a loose folder. Problems, never exceptions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.content.fields import did_you_mean
from bot.content.frontmatter import NO_FRONTMATTER
from bot.content.images import MAX_ATTACHMENT_BYTES, repository_image
from bot.content.models import Problem, Recap

if TYPE_CHECKING:
    from bot.content.catalogue import Catalogue

_PAGE_NAMES = frozenset(("readme.md", "license.md", "changelog.md", "contributing.md", "index.md"))


def recap_problems(
    cat: Catalogue, rel: str, recap: Recap, judge: bool, *, content_root: bool = False
) -> list[Problem]:
    """Checks of one recap against the episodes, the authors and (at the content root, where
    its repository paths can be judged) its card image. `judge`: whether its `episode:` can
    be judged (a lone recap file, no episodes in sight, cannot)."""
    out: list[Problem] = []
    if content_root:
        out.extend(card_problems(cat.root, rel, recap.image))
    if judge and recap.episode_id is not None and cat.find_episode(recap.episode_id) is None:
        line = _fm_line(cat.root / rel, "episode")
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
        elif cat._episodes:
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
    authors = cat.authors
    if authors:
        for key in recap.authors:
            if key not in authors:
                out.append(
                    Problem(
                        rel,
                        _fm_line(cat.root / rel, "authors"),
                        "warning",
                        f"unknown author {key!r} (not in the authors file)"
                        + did_you_mean(key, list(authors)),
                        "unknown-author",
                    )
                )
    return out


def card_problems(root: Path, rel: str, image: str | None) -> list[Problem]:
    """A card given as a repository path must be a file the bot can attach: present under
    the content root and within Discord's upload limit."""
    if not image:
        return []
    path = repository_image(image, rel)
    if path is None:
        return []
    file = root / path
    try:
        size = file.stat().st_size if file.is_file() else None
    except OSError:
        size = None
    if size is None:
        message = f"the card image {image!r} is missing ({path.as_posix()} under the content root)"
        return [_card_problem(root, rel, image, message + "; the post goes out without it")]
    if size > MAX_ATTACHMENT_BYTES:
        mib = size / (1024 * 1024)
        return [
            _card_problem(
                root,
                rel,
                image,
                f"the card image {image!r} is {mib:.1f} MiB, over Discord's 10 MiB upload "
                "limit: the post goes out without it; make it smaller",
            )
        ]
    return []


def _card_problem(root: Path, rel: str, image: str, message: str) -> Problem:
    line = 1
    for i, row in enumerate(_read_head(root / rel, 1 << 20).split("\n"), 1):
        if image in row:
            line = i
            break
    return Problem(rel, line, "warning", message, "card-image")


def cross_file_problems(cat: Catalogue, content_root: bool) -> list[Problem]:
    out: list[Problem] = []
    # One file per id and per season/episode: every later file (by path) is the duplicate.
    ep_ids, ep_codes, recap_ids = cat._ep_ids, cat._ep_codes, cat._recap_ids
    tables = (
        ((f"episode id {k!r}", ep_ids[k]) for k in sorted(cat._multi["_ep_ids"])),
        ((f"episode S{s}:E{n}", ep_codes[(s, n)]) for s, n in sorted(cat._multi["_ep_codes"])),
        ((f"recap id {k!r}", recap_ids[k]) for k in sorted(cat._multi["_recap_ids"])),
    )
    codes = ("duplicate-id", "duplicate-episode", "duplicate-id")
    for table, code in zip(tables, codes, strict=True):
        for what, rels in table:
            first, *rest = sorted(rels)
            out.extend(
                Problem(rel, 1, "error", f"duplicate {what} (also in {first})", code)
                for rel in rest
            )
    for plist in cat._recap_cross.values():
        out.extend(plist)
    if not content_root:
        out.extend(_pages_without_frontmatter(cat))
    return out


def _pages_without_frontmatter(cat: Catalogue) -> list[Problem]:
    """Loose folders: a Markdown file without frontmatter next to ones that have it is
    content someone forgot to give fields, not a page."""
    files = cat._files
    content_dirs = {
        rel.rpartition("/")[0] for rel, s in files.items() if s.kind in ("episode", "recap")
    }
    return [
        Problem(rel, 1, "error", NO_FRONTMATTER, "no-frontmatter")
        for rel, state in files.items()
        if state.kind == "page"
        and state.parsed.item is None
        and rel.rpartition("/")[2].lower() not in _PAGE_NAMES
        and rel.rpartition("/")[0] in content_dirs
        and not _has_frontmatter(cat.root / rel)
    ]


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
