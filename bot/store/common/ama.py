"""The AMA's tables: sessions, questions, the members behind them, votes and the move log.

Every move is one guarded update (``WHERE state IN (the move's sources)``) inside a
transaction that also writes its log row, so two organisers pressing Approve at once do one
thing and the second is told who did it; a member's question is checked against their limits
and stored in the same transaction, so two quick submissions cannot both slip under a cap.

SQLite has one writer; on PostgreSQL transactions run side by side, so each read-then-write
locks what it decides on first (the dialect's lock clauses, empty on SQLite): a question's
row (``FOR UPDATE``) for its moves, votes and merges, the session's row (``FOR NO KEY
UPDATE``, which inserts of questions referencing it do not wait for) for asks and "Next".
Locks are always taken session first, then questions by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.plan.ama import (
    MERGE_TARGETS,
    QUESTION_MOVES,
    SESSION_MOVES,
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
    check_question,
    queue,
    vote_refusal,
)
from bot.store.common.db import Db, Dialect, Row, Tx, from_db, from_db_opt, to_db
from bot.store.interface import Moved, Voted


def _in(values: Iterable[str]) -> tuple[str, list[str]]:
    items = sorted(values)
    return ", ".join("?" for _ in items), items


_SESSION_COLUMNS = (
    "id, series, episode_id, state, title, timezone, guests, opens_at, starts_at, ends_at, "
    "closes_at, live_started_at, closed_at, thread_id, board_thread_id"
)


def _session(row: Row) -> AmaSession:
    return AmaSession(
        id=row["id"],
        key=AmaKey(row["series"], row["episode_id"]),
        state=SessionState(row["state"]),
        title=row["title"],
        timezone=row["timezone"],
        guests=tuple(json.loads(row["guests"])),
        times=AmaTimes(
            from_db(row["opens_at"]),
            from_db(row["starts_at"]),
            from_db(row["ends_at"]),
            from_db(row["closes_at"]),
        ),
        live_started_at=from_db_opt(row["live_started_at"]),
        closed_at=from_db_opt(row["closed_at"]),
        thread_id=row["thread_id"],
        board_thread_id=row["board_thread_id"],
    )


class AmaStore:
    """Sessions, questions and votes. Reads return the rules' own types (bot/plan/ama.py)."""

    def __init__(self, db: Db, dialect: Dialect):
        self.db = db
        self.d = dialect

    # --- sessions --------------------------------------------------------------------------

    async def upsert_session(
        self,
        key: AmaKey,
        *,
        title: str,
        timezone: str,
        guests: Sequence[str],
        times: AmaTimes,
        now: datetime,
    ) -> AmaSession:
        """The session of ``key`` as the content says it is now: made SCHEDULED the first
        time; later its title, guests and times follow the content (the state is left to
        moves)."""
        values = (
            title,
            timezone,
            json.dumps(list(guests)),
            to_db(times.opens_at),
            to_db(times.starts_at),
            to_db(times.ends_at),
            to_db(times.closes_at),
        )
        rows = await self.db.write(
            f"""INSERT INTO ama_sessions (series, episode_id, state, title, timezone, guests,
                   opens_at, starts_at, ends_at, closes_at, created_at, updated_at)
               VALUES (?, ?, 'scheduled', ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (series, episode_id) DO UPDATE SET
                   title = excluded.title, timezone = excluded.timezone,
                   guests = excluded.guests, opens_at = excluded.opens_at,
                   starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                   closes_at = excluded.closes_at, updated_at = excluded.updated_at
               RETURNING {_SESSION_COLUMNS}""",  # noqa: S608 - fixed columns and '?' marks
            (key.series, key.episode_id, *values, to_db(now), to_db(now)),
        )
        return _session(rows[0])

    async def session(self, session_id: int) -> AmaSession | None:
        row = await self.db.fetchone(
            f"SELECT {_SESSION_COLUMNS} FROM ama_sessions WHERE id = ?",  # noqa: S608 - fixed columns and '?' marks
            (session_id,),
        )
        return None if row is None else _session(row)

    async def session_of(self, key: AmaKey) -> AmaSession | None:
        row = await self.db.fetchone(
            f"SELECT {_SESSION_COLUMNS} FROM ama_sessions WHERE series = ? AND episode_id = ?",  # noqa: S608 - fixed columns and '?' marks
            (key.series, key.episode_id),
        )
        return None if row is None else _session(row)

    async def sessions(
        self, states: Iterable[SessionState] | None = None, series: str | None = None
    ) -> list[AmaSession]:
        """Sessions, soonest first; only those in ``states`` / of ``series`` when given."""
        where, params = [], []
        if states is not None:
            marks, values = _in(states)
            where.append(f"state IN ({marks})")
            params += values
        if series is not None:
            where.append("series = ?")
            params.append(series)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM ama_sessions {clause} ORDER BY starts_at, id",  # noqa: S608 - fixed columns and '?' marks
            params,
        )
        return [_session(r) for r in rows]

    async def move_session(
        self, session_id: int, move: SessionMove, now: datetime, actor: int | None = None
    ) -> Moved:
        """Apply a session move if the session is in one of its source states."""
        rule = SESSION_MOVES[move]
        marks, sources = _in(rule.sources)
        extra = ""
        if rule.target == SessionState.LIVE:
            extra = ", live_started_at = COALESCE(live_started_at, ?)"
        elif rule.target == SessionState.CLOSED:
            extra = ", closed_at = ?"
        params: list[object] = [rule.target, to_db(now)]
        if extra:
            params.append(to_db(now))
        async with self.db.transaction() as tx:
            await _lock_session(self.d, tx, session_id)
            changed = await tx.execute(
                f"UPDATE ama_sessions SET state = ?, updated_at = ?{extra} WHERE id = ? AND state IN ({marks})",  # noqa: S608, E501 - fixed columns and '?' marks
                (*params, session_id, *sources),
            )
            row = await tx.fetchone("SELECT state FROM ama_sessions WHERE id = ?", (session_id,))
            if row is None:
                return Moved(False, "")
            if changed:
                await _log(tx, session_id, None, actor, move, None, rule.target, now)
                return Moved(True, rule.target)
            return Moved(False, row["state"], await _last_actor(tx, session_id, None))

    async def set_places(
        self, session_id: int, *, thread_id: int | None = None, board_thread_id: int | None = None
    ) -> None:
        """Record the Discord threads made for a session (once each: a second is ignored)."""
        await self.db.write(
            """UPDATE ama_sessions SET thread_id = COALESCE(thread_id, ?),
                   board_thread_id = COALESCE(board_thread_id, ?) WHERE id = ?""",
            (thread_id, board_thread_id, session_id),
        )

    # --- questions -------------------------------------------------------------------------

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
    ) -> Question | Refused:
        """Store a member's question if their limits allow it, in one transaction."""
        async with self.db.transaction() as tx:
            await _lock_session(self.d, tx, session_id)
            own = (
                []
                if umbrella
                else await _questions(
                    self.d, tx, "q.session_id = ? AND q.author_id = ?", (session_id, author_id)
                )
            )
            refused = None if umbrella else check_question(text, own, limits, now)
            if refused is not None:
                return refused
            rows = await tx.fetchall(
                """INSERT INTO ama_questions (session_id, author_id, author_name, anonymous,
                       notify, text, phase, state, umbrella, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (
                    session_id,
                    author_id,
                    author_name,
                    int(anonymous),
                    int(notify),
                    text,
                    phase,
                    state,
                    int(umbrella),
                    to_db(now),
                    to_db(now),
                ),
            )
            qid = rows[0]["id"]
            await _log(tx, session_id, qid, author_id, "ask", None, state, now)
            found = await _questions(self.d, tx, "q.id = ?", (qid,))
        return found[0]

    async def question(self, question_id: int) -> Question | None:
        found = await _questions(self.d, self.db, "q.id = ?", (question_id,))
        return found[0] if found else None

    async def session_id_of(self, question_id: int) -> int | None:
        found = await self.db.scalar(
            "SELECT session_id FROM ama_questions WHERE id = ?", (question_id,)
        )
        return None if found is None else int(found)

    async def questions(
        self, session_id: int, states: Iterable[QuestionState] | None = None
    ) -> list[Question]:
        if states is None:
            return await _questions(self.d, self.db, "q.session_id = ?", (session_id,))
        marks, values = _in(states)
        return await _questions(
            self.d, self.db, f"q.session_id = ? AND q.state IN ({marks})", (session_id, *values)
        )

    async def questions_of(self, session_id: int, member_id: int) -> list[Question]:
        return await _questions(
            self.d, self.db, "q.session_id = ? AND q.author_id = ?", (session_id, member_id)
        )

    async def move_question(
        self,
        question_id: int,
        move: QuestionMove,
        now: datetime,
        actor: int | None,
        *,
        reason: str | None = None,
        tell_asker: bool = False,
    ) -> Moved:
        """Apply a question move if the question is in one of its source states."""
        async with self.db.transaction() as tx:
            return await _move(self.d, tx, question_id, move, now, actor, reason, tell_asker)

    async def next_on_air(
        self, session_id: int, now: datetime, actor: int, pick: int | None = None
    ) -> tuple[int | None, int | None]:
        """ "Next" (or a pick): the question on air becomes answered and ``pick`` (default: the
        top of the queue) goes on air, in one transaction. Returns (answered id, on-air id)."""
        async with self.db.transaction() as tx:
            await _lock_session(self.d, tx, session_id)
            current = await _questions(
                self.d, tx, "q.session_id = ? AND q.state = 'on_air'", (session_id,)
            )
            answered = None
            for q in current:
                if (
                    await _move(self.d, tx, q.id, QuestionMove.ANSWER, now, actor, None, False)
                ).done:
                    answered = q.id
            if pick is None:
                waiting = queue(
                    await _questions(
                        self.d, tx, "q.session_id = ? AND q.state = 'approved'", (session_id,)
                    )
                )
                pick = waiting[0].id if waiting else None
            on_air = None
            if pick is not None:
                owner = await tx.fetchone(
                    "SELECT session_id FROM ama_questions WHERE id = ?", (pick,)
                )
                if owner is not None and owner["session_id"] == session_id:
                    moved = await _move(
                        self.d, tx, pick, QuestionMove.ON_AIR, now, actor, None, False
                    )
                    on_air = pick if moved.done else None
        return answered, on_air

    async def set_notes(self, question_id: int, notes: str, now: datetime, actor: int) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE ama_questions SET notes = ?, updated_at = ? WHERE id = ?",
                (notes, to_db(now), question_id),
            )
            row = await tx.fetchone(
                "SELECT session_id FROM ama_questions WHERE id = ?", (question_id,)
            )
            if changed and row is not None:
                await _log(tx, row["session_id"], question_id, actor, "notes", None, None, now)
        return bool(changed)

    async def edit(
        self, question_id: int, member_id: int, text: str, now: datetime, *, back_to: QuestionState
    ) -> Moved:
        """The asker's new wording, while the question is unanswered; an approved question
        goes ``back_to`` review (its votes are kept)."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                self.d.sql(
                    "SELECT session_id, state, author_id FROM ama_questions"
                    " WHERE id = ?{for_update}"
                ),
                (question_id,),
            )
            if row is None or row["author_id"] != member_id:
                return Moved(False, row["state"] if row else "")
            state = row["state"]
            if state not in ("pending", "held", "approved"):
                return Moved(False, state, await _last_actor(tx, row["session_id"], question_id))
            target = back_to if state == "approved" else state
            await tx.execute(
                "UPDATE ama_questions SET text = ?, state = ?, edits = edits + 1, updated_at = ? "
                "WHERE id = ? AND state = ?",
                (text, target, to_db(now), question_id, state),
            )
            await _log(tx, row["session_id"], question_id, member_id, "edit", state, target, now)
            return Moved(True, target)

    async def merge(self, source_id: int, target_id: int, now: datetime, actor: int) -> Moved:
        """Fold ``source`` into ``target``: its asker and those merged into it join the
        target's askers, its votes move (a member who backed both counts once), and it
        becomes MERGED. Both must be in the same session; the target in a merge target state."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                self.d.sql(
                    "SELECT id, session_id, state, author_id, author_name FROM ama_questions "
                    "WHERE id IN (?, ?){for_update_in_id_order}"
                ),
                (source_id, target_id),
            )
            by_id = {r["id"]: r for r in rows}
            source, target = by_id.get(source_id), by_id.get(target_id)
            if source is None or target is None or source_id == target_id:
                return Moved(False, source["state"] if source else "")
            if source["session_id"] != target["session_id"] or target["state"] not in MERGE_TARGETS:
                return Moved(False, source["state"])
            moved = await _move(self.d, tx, source_id, QuestionMove.MERGE, now, actor, None, False)
            if not moved.done:
                return moved
            await tx.execute(
                "UPDATE ama_questions SET canonical_id = ? WHERE id = ? OR canonical_id = ?",
                (target_id, source_id, source_id),
            )
            await tx.execute(
                self.d.sql(
                    """{insert_or_ignore} ama_askers (question_id, member_id, name, from_id, at)
                   SELECT ?{bigint}, member_id, name, from_id, ?{bigint}
                     FROM ama_askers WHERE question_id = ?
                   UNION ALL SELECT ?{bigint}, ?{bigint}, ?{text}, ?{bigint}, ?{bigint}"""
                    "{on_conflict_do_nothing}"
                ),
                (
                    target_id,
                    to_db(now),
                    source_id,
                    target_id,
                    source["author_id"],
                    source["author_name"],
                    source_id,
                    to_db(now),
                ),
            )
            await tx.execute(
                "DELETE FROM ama_askers WHERE question_id = ? AND member_id = ?",
                (target_id, target["author_id"]),
            )
            await tx.execute(
                self.d.sql(
                    """{insert_or_ignore} ama_votes (question_id, member_id, at)
                   SELECT ?{bigint}, member_id, at FROM ama_votes WHERE question_id = ?"""
                    "{on_conflict_do_nothing}"
                ),
                (target_id, source_id),
            )
            # A backer who is now an asker of the target no longer votes for it separately.
            await tx.execute(
                """DELETE FROM ama_votes WHERE question_id = ? AND (member_id = ? OR member_id IN
                   (SELECT member_id FROM ama_askers WHERE question_id = ?))""",
                (target_id, target["author_id"], target_id),
            )
            await tx.execute("DELETE FROM ama_votes WHERE question_id = ?", (source_id,))
            return moved

    async def toggle_vote(self, question_id: int, member_id: int, now: datetime) -> Voted:
        """ "Me too": a first click votes, a second takes the vote back; askers and closed
        questions are refused."""
        async with self.db.transaction() as tx:
            if self.d.for_update:
                await tx.execute(
                    self.d.sql("SELECT 1 FROM ama_questions WHERE id = ?{for_update}"),
                    (question_id,),
                )
            found = await _questions(self.d, tx, "q.id = ?", (question_id,))
            if not found:
                return Voted(False, 0, VoteRefusal.CLOSED)
            question = found[0]
            refused = vote_refusal(question, member_id)
            if refused is not None:
                return Voted(member_id in question.voters, len(question.voters), refused)
            removed = await tx.execute(
                "DELETE FROM ama_votes WHERE question_id = ? AND member_id = ?",
                (question_id, member_id),
            )
            if not removed:
                await tx.execute(
                    "INSERT INTO ama_votes (question_id, member_id, at) VALUES (?, ?, ?)",
                    (question_id, member_id, to_db(now)),
                )
            count = len(question.voters) + (-1 if removed else 1)
            return Voted(not removed, count)

    async def to_tell(self, question_id: int) -> list[tuple[int, str]]:
        """Who wants to hear about ``question_id``: its asker and the askers of the questions
        merged into it (directly or along a chain), each once, if they asked to be told."""
        rows = await self.db.fetchall(
            """SELECT author_id, author_name FROM ama_questions
                WHERE (id = ? OR canonical_id = ?) AND notify = 1 ORDER BY id""",
            (question_id, question_id),
        )
        seen: dict[int, str] = {}
        for row in rows:
            seen.setdefault(row["author_id"], row["author_name"])
        return list(seen.items())


# --- helpers (inside a transaction or not) -------------------------------------------------


async def _questions(
    d: Dialect, db: Db | Tx, where: str, params: Sequence[object]
) -> list[Question]:
    rows = await db.fetchall(
        d.sql(
            f"""SELECT q.*,
               (SELECT {{member_ids}} FROM ama_askers a WHERE a.question_id = q.id)
                   AS asker_ids,
               (SELECT {{member_ids}} FROM ama_votes v WHERE v.question_id = q.id)
                   AS voter_ids
           FROM ama_questions q WHERE {where} ORDER BY q.id"""  # noqa: S608 - fixed columns and '?' marks
        ),
        params,
    )
    return [_question(r) for r in rows]


def _ids(text: str | None) -> frozenset[int]:
    return frozenset(int(x) for x in text.split(",")) if text else frozenset()


def _question(row: Row) -> Question:
    return Question(
        id=row["id"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        text=row["text"],
        state=QuestionState(row["state"]),
        created_at=from_db(row["created_at"]),
        anonymous=bool(row["anonymous"]),
        phase=Phase(row["phase"]),
        askers=_ids(row["asker_ids"]) | {row["author_id"]},
        voters=_ids(row["voter_ids"]),
        on_air_at=from_db_opt(row["on_air_at"]),
        answered_at=from_db_opt(row["answered_at"]),
        notes=row["notes"],
        canonical_id=row["canonical_id"],
        umbrella=bool(row["umbrella"]),
        notify=bool(row["notify"]),
        decided_by=row["decided_by"],
    )


async def _move(
    d: Dialect,
    tx: Tx,
    question_id: int,
    move: QuestionMove,
    now: datetime,
    actor: int | None,
    reason: str | None,
    tell_asker: bool,
) -> Moved:
    rule = QUESTION_MOVES[move]
    marks, sources = _in(rule.sources)
    sets = ["state = ?", "updated_at = ?"]
    params: list[object] = [rule.target, to_db(now)]
    if rule.target == QuestionState.ON_AIR:
        sets.append("on_air_at = ?")
        params.append(to_db(now))
    if rule.target == QuestionState.ANSWERED:
        sets.append("answered_at = ?")
        params.append(to_db(now))
    if rule.target in (
        QuestionState.APPROVED,
        QuestionState.DENIED,
        QuestionState.HELD,
        QuestionState.MERGED,
    ):
        sets.append("decided_by = ?")
        params.append(actor)
    if rule.target == QuestionState.DENIED:
        sets += ["deny_reason = ?", "tell_asker = ?"]
        params += [reason, int(tell_asker)]
    row = await tx.fetchone(
        d.sql("SELECT session_id, state FROM ama_questions WHERE id = ?{for_update}"),
        (question_id,),
    )
    if row is None:
        return Moved(False, "")
    changed = await tx.execute(
        f"UPDATE ama_questions SET {', '.join(sets)} WHERE id = ? AND state IN ({marks})",  # noqa: S608 - fixed columns and '?' marks
        (*params, question_id, *sources),
    )
    if not changed:
        return Moved(False, row["state"], await _last_actor(tx, row["session_id"], question_id))
    await _log(
        tx,
        row["session_id"],
        question_id,
        actor,
        move,
        row["state"],
        rule.target,
        now,
        reason or "",
    )
    return Moved(True, rule.target)


async def _lock_session(d: Dialect, tx: Tx, session_id: int) -> None:
    """The session's row, locked against other moves but not against new questions' inserts
    (none on SQLite: its one writer serialises the transactions)."""
    if d.for_no_key_update:
        await tx.execute(
            d.sql("SELECT 1 FROM ama_sessions WHERE id = ?{for_no_key_update}"), (session_id,)
        )


async def _log(
    tx: Tx,
    session_id: int,
    question_id: int | None,
    actor: int | None,
    move: str,
    from_state: str | None,
    to_state: str | None,
    now: datetime,
    detail: str = "",
) -> None:
    await tx.execute(
        """INSERT INTO ama_log (session_id, question_id, actor_id, move, from_state, to_state,
               at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (session_id, question_id, actor, str(move), from_state, to_state, to_db(now), detail),
    )


async def _last_actor(tx: Tx, session_id: int, question_id: int | None) -> int | None:
    if question_id is None:
        return await _scalar(
            tx,
            "SELECT actor_id FROM ama_log WHERE session_id = ? AND question_id IS NULL "
            "ORDER BY id DESC LIMIT 1",
            (session_id,),
        )
    return await _scalar(
        tx,
        "SELECT actor_id FROM ama_log WHERE question_id = ? AND to_state IS NOT NULL "
        "ORDER BY id DESC LIMIT 1",
        (question_id,),
    )


async def _scalar(tx: Tx, sql: str, params: Sequence[object]) -> int | None:
    row = await tx.fetchone(sql, params)
    return None if row is None else row[0]
