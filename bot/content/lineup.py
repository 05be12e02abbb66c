"""The content of every series of the community: one `ContentIndex` per series, in the
config file's order.

A series' index reads that series' own folders (its `Settings` view from
`Settings.shows()`), so two series may both have an episode ``s1-e01``; callers that look
across series get (series id, item) pairs and name the series to people.
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.config import Settings
from bot.content.index import ContentIndex


class Lineup:
    """Every series' settings and content index, by series id, in config order."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # With several series a checkout is always read by its configured folders: one
        # series' missing folder must not make every file of the checkout its own.
        several = True if len(settings.shows()) > 1 else None
        self._shows: dict[str, tuple[Settings, ContentIndex]] = {
            view.series.id: (view, ContentIndex(view.content.path, view, content_root=several))
            for view in settings.shows()
        }

    def ids(self) -> list[str]:
        return list(self._shows)

    def index(self, series_id: str) -> ContentIndex:
        """KeyError when no series has that id."""
        return self._shows[series_id][1]

    def show(self, series_id: str) -> Settings:
        """The series' Settings view; KeyError when no series has that id."""
        return self._shows[series_id][0]

    def name(self, series_id: str) -> str:
        return self._shows[series_id][0].series.name

    def __iter__(self) -> Iterator[tuple[Settings, ContentIndex]]:
        return iter(self._shows.values())

    def __len__(self) -> int:
        return len(self._shows)

    @property
    def first(self) -> ContentIndex:
        """The first series' index (what one-series code calls `bot.index`)."""
        return next(iter(self._shows.values()))[1]
