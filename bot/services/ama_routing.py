"""Which series' AMA an interaction means, when several series run AMAs (issue 20).

The store's ids are global: a question or a session id names one row, and that row's
session names its series (`AmaSession.key.series`). So a button or a modal is routed by the
row it carries, and the custom ids sent to Discord keep their exact text: an id made before
several series (or by the first series) still means what it meant. A command has no row to
go by: `choose_ask` and `choose_series` decide from the sessions and the place it was used,
pure and tested without Discord (tests/ama/test_routing.py). `AmaRouter` applies them over
the store and one `AmaService` per series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.plan.ama import AmaSession, SessionState

if TYPE_CHECKING:  # the service imports nothing from here; only its type is named
    from bot.services.ama import AmaService


@dataclass(frozen=True)
class AskRoute:
    """Where a `/ask` goes: one session, or why none (`which`: the series to choose among
    when several series take questions; `episodes`: the AMAs to choose among within one
    series; neither: nothing is taking questions, `series` the one asked about, if any)."""

    session: AmaSession | None = None
    series: str | None = None
    which: tuple[str, ...] = ()
    episodes: tuple[str, ...] = ()


def session_in_place(sessions: Iterable[AmaSession], channel_id: int | None) -> AmaSession | None:
    """The session whose public thread or host board is `channel_id` (where it was used)."""
    if channel_id is None:
        return None
    for session in sessions:
        if channel_id in (session.thread_id, session.board_thread_id):
            return session
    return None


def choose_ask(
    open_sessions: Sequence[AmaSession],
    *,
    series: str | None = None,
    episode: str | None = None,
    channel_id: int | None = None,
) -> AskRoute:
    """The AMA a `/ask` means. Asked in a series' AMA thread: that AMA (unless the member
    named another series). Else the sessions taking questions, narrowed by the `series` and
    `episode` options: exactly one is the answer; several of several series ask "which
    series?"; several of one series ask "which AMA?"."""
    if series is None and episode is None:
        here = session_in_place(open_sessions, channel_id)
        if here is not None:
            return AskRoute(session=here, series=here.key.series)
    found = [
        s
        for s in open_sessions
        if (series is None or s.key.series == series)
        and (episode is None or s.key.episode_id == episode)
    ]
    if len(found) == 1:
        return AskRoute(session=found[0], series=found[0].key.series)
    if not found:
        return AskRoute(series=series)
    kinds = _unique(s.key.series for s in found)
    if len(kinds) > 1:
        return AskRoute(which=kinds)
    return AskRoute(series=kinds[0], episodes=tuple(s.key.episode_id for s in found))


def choose_series(
    enabled: Sequence[str],
    *,
    series: str | None = None,
    sessions: Iterable[AmaSession] = (),
    channel_id: int | None = None,
) -> str | None:
    """The series an organiser's `/ama` command means: the one named (if its AMA is
    enabled), else the one whose AMA thread or board it was used in, else the first series
    with the AMA enabled (the only one, in a one-series deployment). None: no such series."""
    if series is not None:
        return series if series in enabled else None
    here = session_in_place(sessions, channel_id)
    if here is not None and here.key.series in enabled:
        return here.key.series
    return enabled[0] if enabled else None


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@dataclass
class AmaRouter:
    """Every series' `AmaService` by series id, in the config's order (the first is the
    one an id without a series always meant), and the row -> series lookups."""

    services: Mapping[str, AmaService] = field(default_factory=dict)

    @property
    def first(self) -> AmaService | None:
        return next(iter(self.services.values()), None)

    def series_ids(self) -> list[str]:
        return list(self.services)

    def service(self, series: str | None) -> AmaService | None:
        """That series' service; None for a series without the AMA (or None)."""
        return self.services.get(series) if series is not None else None

    def name(self, series: str) -> str:
        service = self.services.get(series)
        return service.series_name if service is not None else series

    async def for_session(self, session_id: int) -> AmaService | None:
        """The service of the series the session belongs to; None when that series runs no
        AMA now (its `ama` turned off, or the series removed): nothing may act on it."""
        first = self.first
        if first is None:
            return None
        session = await first.store.ama.session(session_id)
        if session is None:
            return first  # gone: the first series' service answers "gone" as before
        return self.services.get(session.key.series)

    async def for_question(self, question_id: int) -> AmaService | None:
        """The service of the series the question's session belongs to (None: as above)."""
        first = self.first
        if first is None:
            return None
        session_id = await first.store.ama.session_id_of(question_id)
        if session_id is None:
            return first
        return await self.for_session(session_id)

    async def for_episode(self, episode_id: str) -> AmaService | None:
        """The first series (in the config's order) with an AMA session for that episode:
        an "Ask a question" id names only the episode, so the first series keeps it."""
        for service in self.services.values():
            if await service.session_for(episode_id) is not None:
                return service
        return self.first

    def for_draft(self, draft_id: int) -> AmaService | None:
        """The service holding a "similar questions" draft (kept in memory where it was made)."""
        for service in self.services.values():
            if service.questions.has_draft(draft_id):
                return service
        return self.first

    async def open_sessions(self) -> list[AmaSession]:
        """Every series' sessions taking questions, series in the config's order."""
        found: list[AmaSession] = []
        for service in self.services.values():
            found.extend(await service.open_sessions())
        return found

    async def sessions(self, states: Sequence[SessionState] | None = None) -> list[AmaSession]:
        """Every series' sessions (in those states), series in the config's order."""
        found: list[AmaSession] = []
        for service in self.services.values():
            if states is None:
                found.extend(await service.store.ama.sessions(series=service.series))
            else:
                found.extend(await service.store.ama.sessions(tuple(states), series=service.series))
        return found
