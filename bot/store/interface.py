"""What the rest of the bot may ask of its storage, whatever database holds it.

Services, cogs, the CLI and the web routes depend on these `Protocol`s, never on a backend:
each backend (`bot.store.sqlite`, the embedded default; `bot.store.postgres`) implements
every one of them and runs the same conformance suite (tests/store/). The vocabulary every
backend shares (errors, reports, the rows handed back) lives here too, so no caller imports
a backend's module.

The store object is one `Store`; each concern is an attribute of it:

    store.outbox   Outbox          every post the bot makes on its own (DESIGN "Posting")
    store.state    State           small durable facts (key -> string, JSON helpers)
    store.audit    Audit           what organisers did
    store.events   EventStore      the Discord scheduled events the bot made; calendar SEQUENCEs
    store.optin    OptinStore      members' reminder choices, Interested marks, closed DMs
    store.leases   Leases          one bot process per database
    store.ama      AmaStore        the AMA: sessions, questions, askers, votes, the move log

A new table: its rows' types and its Protocol here, an attribute on `Store`, then the
implementation in each backend (for SQLite a numbered migration in
``bot/store/sqlite/migrations/`` and a module beside ``outbox.py``), and its behaviour tests in
tests/store/ (they run against every backend), as the AMA's did.

A new backend: a package ``bot/store/<name>/`` implementing these Protocols, chosen by
`bot.store.open_store` from the database setting (e.g. a ``postgresql://`` URL), and its name
added to the ``backend`` fixture's params in tests/store/conftest.py.

Times given to and returned by a store are aware UTC datetimes; a naive one is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from bot.plan.ama import (
    AmaKey,
    AmaLimits,
    AmaSession,
    AmaTimes,
    Phase,
    Question,
    QuestionMove,
    QuestionState,
    Refused,
    SessionMove,
    SessionState,
    VoteRefusal,
)
from bot.plan.optin import Interest, Mode, Preference
from bot.plan.posts import PlannedPost, Post, PostStatus

LEASE_NAME = "amabot"


# The state key naming the series that owns the bare key namespace (bot/plan/kinds.py's
# `scoped_id`): a store's rows written before several series existed are that series'.
HOME_SERIES_KEY = "series.home"


class StoreError(Exception):
    """The database cannot be used as it is (newer schema, not a database, failed migration)."""


class DuplicateKeyError(StoreError):
    """A post with this key is already in the outbox."""


class FencedOut(StoreError):
    """A write refused because this process no longer holds the lease's term it was fenced
    with (`Store.fence`): another process took over. Nothing was written; step down."""


@dataclass(slots=True)
class ReconcileReport:
    """What one reconcile changed, by key."""

    scope: str
    inserted: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # pending rows whose time or content changed
    edit_needed: list[str] = field(default_factory=list)  # sent rows whose content changed
    cancelled: list[str] = field(default_factory=list)
    revived: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.inserted or self.moved or self.edit_needed or self.cancelled or self.revived
        )

    def summary(self) -> str:
        return (
            f"{self.scope} {len(self.inserted)} new, {len(self.moved)} moved, "
            f"{len(self.edit_needed)} to edit, {len(self.cancelled)} cancelled, "
            f"{len(self.revived)} revived, {self.unchanged} unchanged"
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    action: str  # e.g. "cancel", "skip", "confirm"
    key: str | None  # the outbox key it concerns
    actor_id: int | None  # the Discord user who did it; None = the bot itself
    detail: str


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """Who holds a lease, and until when (unless renewed)."""

    name: str
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    # Grows by one each time the lease changes hands (or is taken again after it expired);
    # renewals keep it. Writes fenced with an older term are refused (`Store.fence`).
    term: int = 0


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """What the store knows of one event the bot made (see `diff_events`)."""

    discord_id: int | None  # None: the create never succeeded (see last_error)
    spec_hash: str
    status: int  # Discord's: 1 scheduled, 2 active, 3 completed, 4 cancelled
    body: Mapping[str, Any] = field(default_factory=dict)  # the body last applied
    last_error: str | None = None
    error_kind: str | None = None  # EVENT_ERROR_PERMISSION or EVENT_ERROR_OTHER
    updated_at: datetime | None = None
    key: str = ""


EVENT_ERROR_PERMISSION = "permission"
EVENT_ERROR_OTHER = "other"


class Outbox(Protocol):
    """Every post the bot makes on its own is a row first. Each delivery transition is
    conditional on the row's current status, so of two deliverers racing for a row exactly
    one wins (the methods returning bool say whether this caller's transition happened)."""

    # reading
    async def get(self, key: str) -> Post | None: ...
    async def all(self) -> list[Post]: ...
    async def pending(self, limit: int | None = None, offset: int = 0) -> list[Post]: ...
    async def due_keys(self, now: datetime) -> list[tuple[str, str, int]]: ...
    async def next_due_at(self) -> datetime | None: ...
    async def wake_times(self) -> list[tuple[str, datetime]]: ...
    async def recent(self, statuses: Iterable[PostStatus], limit: int = 20) -> list[Post]: ...
    async def counts(self) -> dict[PostStatus, int]: ...
    async def keys_with_prefix(
        self, prefix: str, statuses: Iterable[PostStatus] | None = None
    ) -> list[str]: ...
    async def unsent_or_sent_since(
        self, prefix: str, since: datetime, *, series: str | None = None
    ) -> list[Post]: ...
    async def edits_pending(self, now: datetime | None = None) -> list[Post]: ...
    async def sent_with_event_after(
        self, prefix: str, after: datetime, *, series: str | None = None
    ) -> list[Post]: ...
    async def dm_channel_of(self, member_id: int) -> int | None: ...
    async def owner_of_message(self, message_id: int) -> str | None: ...
    async def overdue(self, now: datetime, late_by: datetime) -> list[Post]: ...
    async def stuck(self, claimed_before: datetime) -> list[Post]: ...

    # planning writes
    async def reconcile(
        self,
        planned: Iterable[PlannedPost],
        *,
        scope: str,
        now: datetime,
        reason_missing: str = "no longer planned",
        only: Iterable[str] | None = None,
        series: str | None = None,
    ) -> ReconcileReport: ...
    async def series_with_pending(self) -> set[str]: ...
    async def cancel_series(self, series: str, reason: str, now: datetime) -> list[str]: ...
    async def request_edit(self, key: str, payload: dict[str, Any], now: datetime) -> bool: ...
    async def upgrade_reminder_keys(self) -> int: ...
    async def insert_skipped(
        self, planned: PlannedPost | Iterable[PlannedPost], reason: str, now: datetime
    ) -> list[str]: ...
    async def add(self, planned: PlannedPost, now: datetime) -> Post: ...
    async def add_once(self, planned: PlannedPost, now: datetime) -> bool: ...
    async def next_announcement_id(self) -> int: ...

    # delivery transitions
    async def claim(self, key: str, now: datetime) -> Post | None: ...
    async def note_attempt(
        self, key: str, target_channel_id: int, variants: list[dict[str, Any]], now: datetime
    ) -> bool: ...
    async def mark_sent(
        self, key: str, message_id: int, now: datetime, *, publish: bool = False
    ) -> bool: ...
    async def mark_failed(self, key: str, reason: str, now: datetime) -> bool: ...
    async def mark_skipped(self, key: str, reason: str, now: datetime) -> bool: ...
    async def retry_later(
        self,
        key: str,
        error: str,
        next_attempt_at: datetime,
        now: datetime,
        *,
        unsure: bool | None = None,
        count_attempt: bool = True,
    ) -> bool: ...
    async def cancel(self, key: str, reason: str, now: datetime, by: int | None = None) -> bool: ...
    async def retry_refused(
        self, channel_ids: Iterable[int], now: datetime
    ) -> tuple[list[str], list[str]]: ...
    async def recover_sending(self, now: datetime) -> list[Post]: ...
    async def recover_stuck(self, key: str, claimed_before: datetime, now: datetime) -> bool: ...

    # publishing (crossposts) and edits
    async def publishes_due(self, now: datetime) -> list[Post]: ...
    async def published_since(self, channel_id: int, since: datetime) -> list[datetime]: ...
    async def publish_later(
        self, key: str, when: datetime, reason: str, now: datetime, *, attempt: bool
    ) -> bool: ...
    async def publish_done(
        self, key: str, status: str, now: datetime, reason: str | None = None
    ) -> bool: ...
    async def shown(self, key: str, payload: dict[str, Any], now: datetime) -> bool: ...
    async def mark_edited(
        self,
        key: str,
        now: datetime,
        *,
        content_hash: str | None = None,
        error: str | None = None,
    ) -> bool: ...
    async def edit_later(self, key: str, when: datetime, error: str, now: datetime) -> bool: ...


class State(Protocol):
    """A key/value table of strings, with JSON helpers."""

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str) -> None: ...
    async def with_prefix(self, prefix: str) -> dict[str, str]: ...
    async def delete(self, key: str) -> bool: ...
    async def get_json(self, key: str, default: Any = None) -> Any: ...
    async def set_json(self, key: str, value: Any) -> None: ...
    async def updated_at(self, key: str) -> datetime | None: ...


class Audit(Protocol):
    """Who cancelled, skipped or confirmed what, and when."""

    async def record(
        self, action: str, key: str | None, actor_id: int | None, detail: str, now: datetime
    ) -> AuditEntry: ...
    async def recent(self, limit: int = 20) -> list[AuditEntry]: ...
    async def for_key(self, key: str) -> list[AuditEntry]: ...


class EventStore(Protocol):
    """The Discord scheduled events the bot made (the only link between an episode and its
    event) and the calendar feed's SEQUENCE numbers."""

    async def get(self, key: str) -> StoredEvent | None: ...
    async def all(self, *, series: str | None = None) -> dict[str, StoredEvent]: ...
    async def key_for(self, discord_id: int) -> str | None: ...
    async def upsert(
        self,
        key: str,
        *,
        discord_id: int | None,
        spec_hash: str,
        status: int,
        body: Mapping[str, Any],
        now: datetime,
        series: str | None = None,
    ) -> None: ...
    async def mark_error(
        self,
        key: str,
        error: str,
        now: datetime,
        *,
        permission: bool = False,
        series: str | None = None,
    ) -> None: ...
    async def note_status(self, discord_id: int, status: int, now: datetime) -> str | None: ...
    async def delete(self, key: str) -> bool: ...
    async def permission_error(self) -> str | None: ...
    async def clear_permission_errors(self) -> int: ...
    async def errors(self) -> dict[str, str]: ...
    async def calendar_sequences(
        self, hashes: Mapping[str, str], now: datetime
    ) -> dict[str, int]: ...


class OptinStore(Protocol):
    """Members' reminder choices per series and stream (livestream, ama, recaps), their
    "Interested" marks on our events, and whose DMs are closed. An unknown stream is a
    ValueError.

    `series`: the series' id; None = the series owning the bare key namespace
    (`HOME_SERIES_KEY`: the one series of a database made before several series existed).
    The listing methods (`prefs_of`, `prefs`, `interested`) give every series' when None."""

    async def set_pref(
        self,
        member_id: int,
        stream: str,
        mode: Mode | str,
        lead: timedelta,
        now: datetime,
        *,
        series: str | None = None,
    ) -> Preference: ...
    async def opt_out(
        self, member_id: int, stream: str, now: datetime, *, series: str | None = None
    ) -> None: ...
    async def pref(
        self, member_id: int, stream: str, *, series: str | None = None
    ) -> Preference | None: ...
    async def prefs_of(self, member_id: int, *, series: str | None = None) -> list[Preference]: ...
    async def prefs(self, *, series: str | None = None) -> list[Preference]: ...
    async def add_interest(
        self, member_id: int, event_key: str, now: datetime, *, series: str | None = None
    ) -> bool: ...
    async def remove_interest(self, member_id: int, event_key: str) -> bool: ...
    async def interested(self, *, series: str | None = None) -> list[Interest]: ...
    async def mark_dm_closed(self, member_id: int, reason: str, now: datetime) -> None: ...
    async def dm_closed(self) -> frozenset[int]: ...
    async def is_dm_closed(self, member_id: int) -> bool: ...


class Leases(Protocol):
    """One bot process per database: a named lease taken, renewed and released by holder."""

    async def take(
        self,
        holder: str,
        now: datetime,
        ttl: timedelta,
        *,
        name: str = LEASE_NAME,
        replacing: str | None = None,
    ) -> bool: ...
    async def renew(
        self, holder: str, now: datetime, ttl: timedelta, *, name: str = LEASE_NAME
    ) -> bool: ...
    async def release(self, holder: str, *, name: str = LEASE_NAME) -> bool: ...
    async def get(self, *, name: str = LEASE_NAME) -> LeaseInfo | None: ...


@dataclass(frozen=True, slots=True)
class Moved:
    """The outcome of an AMA move: done, or refused because the session or question had
    already moved (``state`` says where it is, ``by`` who moved it last)."""

    done: bool
    state: str
    by: int | None = None


@dataclass(frozen=True, slots=True)
class Voted:
    """A "Me too" click: whether the member's vote is in now, the question's vote count."""

    voted: bool
    count: int
    refused: VoteRefusal | None = None


class AmaStore(Protocol):
    """The AMA's sessions and questions. Every move is one guarded update (``WHERE state IN``
    the move's sources) written with its log row; a question is checked against the asker's
    limits and stored in one transaction."""

    async def upsert_session(
        self,
        key: AmaKey,
        *,
        title: str,
        timezone: str,
        guests: Sequence[str],
        times: AmaTimes,
        now: datetime,
    ) -> AmaSession: ...
    async def session(self, session_id: int) -> AmaSession | None: ...
    async def session_of(self, key: AmaKey) -> AmaSession | None: ...
    async def sessions(
        self, states: Iterable[SessionState] | None = None, series: str | None = None
    ) -> list[AmaSession]: ...
    async def move_session(
        self, session_id: int, move: SessionMove, now: datetime, actor: int | None = None
    ) -> Moved: ...
    async def set_places(
        self, session_id: int, *, thread_id: int | None = None, board_thread_id: int | None = None
    ) -> None: ...
    async def ask(
        self,
        session_id: int,
        *,
        author_id: int,
        author_name: str,
        text: str,
        anonymous: bool,
        notify: bool,
        phase: Phase,
        state: QuestionState,
        limits: AmaLimits,
        now: datetime,
        umbrella: bool = False,
    ) -> Question | Refused: ...
    async def question(self, question_id: int) -> Question | None: ...
    async def session_id_of(self, question_id: int) -> int | None: ...
    async def questions(
        self, session_id: int, states: Iterable[QuestionState] | None = None
    ) -> list[Question]: ...
    async def questions_of(self, session_id: int, member_id: int) -> list[Question]: ...
    async def move_question(
        self,
        question_id: int,
        move: QuestionMove,
        now: datetime,
        actor: int | None,
        *,
        reason: str | None = None,
        tell_asker: bool = False,
    ) -> Moved: ...
    async def next_on_air(
        self, session_id: int, now: datetime, actor: int, pick: int | None = None
    ) -> tuple[int | None, int | None]: ...
    async def set_notes(self, question_id: int, notes: str, now: datetime, actor: int) -> bool: ...
    async def edit(
        self, question_id: int, member_id: int, text: str, now: datetime, *, back_to: QuestionState
    ) -> Moved: ...
    async def merge(self, source_id: int, target_id: int, now: datetime, actor: int) -> Moved: ...
    async def toggle_vote(self, question_id: int, member_id: int, now: datetime) -> Voted: ...
    async def to_tell(self, question_id: int) -> list[tuple[int, str]]: ...


class Store(Protocol):
    """One open database: every concern above, plus its own life cycle.

    Opened by `bot.store.open_store(database, clock=...)`; usable as ``async with``."""

    @property
    def outbox(self) -> Outbox: ...
    @property
    def state(self) -> State: ...
    @property
    def audit(self) -> Audit: ...
    @property
    def events(self) -> EventStore: ...
    @property
    def optin(self) -> OptinStore: ...
    @property
    def leases(self) -> Leases: ...
    @property
    def ama(self) -> AmaStore: ...

    @property
    def description(self) -> str:
        """Where the data lives, for logs and messages (a file path, a server address)."""
        ...

    @property
    def schema_version(self) -> int: ...

    @property
    def created(self) -> bool:
        """The database was empty when opened (its schema was created just now)."""
        ...

    @property
    def first_start(self) -> bool:
        """No start against this database has finished its first-start work yet."""
        ...

    def fence(
        self, holder: str, term: int, on_refused: Callable[[FencedOut], None] | None = None
    ) -> None:
        """From now on every write through this store checks, inside its own transaction,
        that the lease is still `holder`'s at `term`, and raises `FencedOut` without
        writing otherwise, telling `on_refused` first (whoever wrote: the leader steps down
        at once). Not called: no check (tools, tests, one process alone)."""
        ...

    async def mark_initialised(self, now: datetime | None = None) -> None: ...
    async def claim_home_series(self, series: str, now: datetime) -> str:
        """The series owning the bare key namespace (`HOME_SERIES_KEY`): the one recorded,
        else `series`, recorded now with every row of no series ('', a database of the
        previous version) adopted by it, in one transaction."""
        ...

    async def close(self) -> None: ...
    async def __aenter__(self) -> Store: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
