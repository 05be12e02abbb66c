"""Season schedule pages (Markdown without frontmatter): AMA dates that come before their
livestream, TBD dates and broken registration links."""

from __future__ import annotations

import re
from datetime import date

from bot.content.models import Problem

_PAGE_EPISODE = re.compile(r"^##[ \t]+(S\d+:?E\d+)\b[^\n]*$", re.MULTILINE | re.IGNORECASE)
_PAGE_EVENT = re.compile(
    r"Register For The (Livestream|AMA)\b.*\s-\s+(.+?)\s*(?:⁉️)?\s*$", re.IGNORECASE
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_PAGE_DATE = re.compile(r"(?:\w+,\s*)?([A-Za-z]{3})[a-z]*\s+(\d{1,2})(?:,\s*(\d{4}))?")


def check_schedule_page(text: str, rel: str) -> list[Problem]:
    """A season page (`## S2E04 · …` then "Register For The Livestream … - Jul 07, 2025"):
    the AMA must not be dated before its livestream; TBD dates are reported."""
    problems: list[Problem] = []
    heads = list(_PAGE_EPISODE.finditer(text))
    year = None
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        section_line = text.count("\n", 0, head.start()) + 1
        dates: dict[str, tuple[date | None, int]] = {}
        for offset, row in enumerate(text[head.start() : end].split("\n")):
            m = _PAGE_EVENT.search(row)
            if not m:
                continue
            kind = "livestream" if m.group(1).lower() == "livestream" else "ama"
            line = section_line + offset
            when = m.group(2).strip()
            if when.upper().startswith("TBD"):
                problems.append(
                    Problem(rel, line, "warning", f"{head.group(1)} {kind} date is TBD", "tbd-time")
                )
                dates[kind] = (None, line)
                continue
            dm = _PAGE_DATE.search(when)
            if not dm or dm.group(1).lower() not in _MONTHS:
                continue
            if dm.group(3):
                year = int(dm.group(3))
            try:
                day = date(year or 2000, _MONTHS[dm.group(1).lower()], int(dm.group(2)))
            except ValueError:
                problems.append(Problem(rel, line, "error", f"bad date {when!r}", "bad-date"))
                continue
            dates[kind] = (day, line)
            if "](" in row and ")" not in row[row.index("](") :]:
                problems.append(
                    Problem(rel, line, "warning", "link is missing its closing `)`", "broken-link")
                )
        live, ama = dates.get("livestream"), dates.get("ama")
        if live and ama and live[0] and ama[0] and ama[0] < live[0]:
            problems.append(
                Problem(
                    rel,
                    ama[1],
                    "error",
                    f"{head.group(1)}: the AMA ({ama[0]:%b %d}) is before "
                    f"the livestream ({live[0]:%b %d})",
                    "ama-before-livestream",
                )
            )
    return problems
