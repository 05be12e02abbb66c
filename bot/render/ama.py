"""The AMA's Discord messages as plain JSON: the prompt, the ask modal, a public question with
its "Me too" button, an organiser's review card, the host board, and a member's own list.
Pure. Members' text is escaped and no message pings anyone (``allowed_mentions`` names none):
an anonymous question shows "a community member" everywhere a member can see it.

Custom ids all start ``amabot:ama:`` and carry numbers only (a session's or a question's id),
so a replayed id names nothing the clicker may not see; the cog checks the clicker every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.plan.ama import (
    ANONYMOUS_NAME,
    Board,
    Question,
    QuestionState,
    SessionState,
)
from bot.render.limits import (
    EMBED_DESCRIPTION_MAX,
    allowed_mentions,
    cut,
    escape_markdown,
    one_line,
)

Payload = dict[str, Any]
AMA_PREFIX = "amabot:ama:"
QUESTION_MAX = 1000
NOTES_MAX = 4000
SELECT_OPTIONS_MAX = 25
OPTION_LABEL_MAX = 100
MODAL_TITLE_MAX = 45

# colours: pending amber, approved blurple, answered green, closed grey
_COLOURS = {
    QuestionState.PENDING: 0xF1C40F,
    QuestionState.HELD: 0xE67E22,
    QuestionState.APPROVED: 0x5865F2,
    QuestionState.ON_AIR: 0xED4245,
    QuestionState.ANSWERED: 0x57F287,
}
_GREY = 0x95A5A6


def ama_id(*parts: object) -> str:
    """``amabot:ama:<part>:<part>…``."""
    return AMA_PREFIX + ":".join(str(p) for p in parts)


def parse_ama_id(custom_id: str) -> list[str] | None:
    """The parts of an AMA custom id, or None when it is not one."""
    if not custom_id.startswith(AMA_PREFIX):
        return None
    return custom_id[len(AMA_PREFIX) :].split(":")


def _button(label: str, custom_id: str, style: int = 2, *, disabled: bool = False) -> Payload:
    button: Payload = {"type": 2, "style": style, "label": label, "custom_id": custom_id}
    if disabled:
        button["disabled"] = True
    return button


def _row(*components: Payload) -> Payload:
    return {"type": 1, "components": list(components)}


def _message(
    content: str = "", embeds: Sequence[Payload] = (), rows: Sequence[Payload] = ()
) -> Payload:
    return {
        "content": content,
        "embeds": list(embeds),
        "components": list(rows),
        "allowed_mentions": allowed_mentions(),
    }


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the messages say about the AMA."""

    session_id: int
    title: str  # "S2:E5 Fine Tuning & Distillation"
    series_name: str
    starts_at: datetime
    guests: tuple[str, ...]
    state: SessionState


def _ts(when: datetime, style: str = "F") -> str:
    return f"<t:{int(when.timestamp())}:{style}>"


def _guests(view: SessionView) -> str:
    names = [escape_markdown(g) for g in view.guests]
    if not names:
        return "our guests"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def prompt_message(view: SessionView) -> Payload:
    """The post that opens the public questions thread: what, when, and how to ask."""
    embed = {
        "title": cut(f"Ask {_guests(view)} anything: {view.title}", 256),
        "description": (
            f"{escape_markdown(view.series_name)} AMA, {_ts(view.starts_at)} "
            f"({_ts(view.starts_at, 'R')}).\n"
            "Ask with **/ask** or the button below. Approved questions appear in this thread; "
            "press **Me too** on the ones you want answered."
        ),
        "color": _COLOURS[QuestionState.APPROVED],
    }
    open_ = view.state in (SessionState.COLLECTING, SessionState.LIVE)
    return _message(
        embeds=[embed],
        rows=[
            _row(_button("Ask a question", ama_id("ask", view.session_id), 1, disabled=not open_))
        ],
    )


def thread_name(view: SessionView) -> str:
    """The public thread's name (Discord allows 100 characters)."""
    return cut(f"Questions: {one_line(view.title)}", 100)


def ask_button(session_id: int) -> Payload:
    """ "Ask a question", for the AMA's reminders."""
    return _button("Ask a question", ama_id("ask", session_id), 1)


def ask_modal(view: SessionView, *, text: str = "", question_id: int | None = None) -> Payload:
    """The modal that takes a question (and, when editing, its current text)."""
    title = "Edit your question" if question_id else f"Ask: {one_line(view.title)}"
    custom_id = ama_id("edit", question_id) if question_id else ama_id("asked", view.session_id)
    question_input: Payload = {
        "type": 4,
        "custom_id": "question",
        "style": 2,
        "label": "Your question",
        "min_length": 15,
        "max_length": QUESTION_MAX,
        "required": True,
        "placeholder": "One question, please: what would you like answered?",
    }
    if text:
        question_input["value"] = text[:QUESTION_MAX]
    rows: list[Payload] = [_row(question_input)]
    if question_id is None:
        rows.append(
            _row(
                {
                    "type": 4,
                    "custom_id": "anonymous",
                    "style": 1,
                    "label": "Ask anonymously? (type yes)",
                    "required": False,
                    "max_length": 3,
                    "placeholder": "leave empty to show your name",
                }
            )
        )
    return {"custom_id": custom_id, "title": cut(title, MODAL_TITLE_MAX), "components": rows}


def _asked_by(question: Question, *, reveal: bool) -> str:
    if question.anonymous and not reveal:
        return ANONYMOUS_NAME
    name = escape_markdown(question.author_name)
    if question.anonymous:
        return f"{name} (<@{question.author_id}>, anonymous to members)"
    return f"{name} (<@{question.author_id}>)" if reveal else name


def _others(question: Question) -> str:
    others = len(question.askers - {question.author_id})
    return f" · +{others} also asked" if others else ""


def question_message(question: Question) -> Payload:
    """A question in the public thread, with its "Me too" count."""
    state = question.state
    done = state not in (QuestionState.APPROVED, QuestionState.ON_AIR)
    status = {
        QuestionState.ON_AIR: "🔴 On air now",
        QuestionState.ANSWERED: "✅ Answered",
        QuestionState.SKIPPED: "Skipped for now",
        QuestionState.NOT_REACHED: "Not reached",
        QuestionState.MERGED: f"Merged into #{question.canonical_id}",
    }.get(state, "")
    embed = {
        "description": cut(escape_markdown(question.text), EMBED_DESCRIPTION_MAX),
        "footer": {
            "text": f"Asked by {_asked_by(question, reveal=False)}{_others(question)}"
            + (f" · {status}" if status else "")
        },
        "color": _COLOURS.get(state, _GREY),
    }
    label = f"Me too · {len(question.voters)}"
    return _message(
        embeds=[embed],
        rows=[_row(_button(label, ama_id("vote", question.id), 2, disabled=done))],
    )


def review_card(
    question: Question, *, done_by: int | None = None, similar: Sequence[Question] = ()
) -> Payload:
    """An organiser's card for one question; organisers see who asked, even anonymously. Once
    handled its buttons are disabled and it says who handled it."""
    fields = [{"name": "Asked by", "value": _asked_by(question, reveal=True), "inline": True}]
    fields.append(
        {
            "name": "When",
            "value": f"{question.phase} · {_ts(question.created_at, 'R')}",
            "inline": True,
        }
    )
    if similar:
        lines = [f"#{q.id}: {cut(one_line(escape_markdown(q.text)), 80)}" for q in similar[:3]]
        fields.append({"name": "Similar", "value": "\n".join(lines), "inline": False})
    state = question.state
    if done_by is not None:
        fields.append({"name": "Reviewed", "value": f"by <@{done_by}>", "inline": False})
    embed = {
        "title": f"Question #{question.id} · {state.value}",
        "description": cut(escape_markdown(question.text), EMBED_DESCRIPTION_MAX),
        "fields": fields,
        "color": _COLOURS.get(state, _GREY),
    }
    open_ = state in (QuestionState.PENDING, QuestionState.HELD)
    qid = question.id
    rows = [
        _row(
            _button("Approve", ama_id("review", qid, "approve"), 3, disabled=not open_),
            _button("Deny…", ama_id("review", qid, "deny"), 4, disabled=not open_),
            _button(
                "Hold",
                ama_id("review", qid, "hold"),
                2,
                disabled=state is not QuestionState.PENDING,
            ),
            _button("Merge…", ama_id("review", qid, "merge"), 2, disabled=not open_),
        )
    ]
    return _message(embeds=[embed], rows=rows)


# Why a question is not taken: a code, never free text (the asker, if told, reads the words).
DENY_REASONS = {
    "off_topic": "it is off topic for this AMA",
    "duplicate": "a similar question is already in",
    "not_a_question": "it is not a question the guest can answer",
    "inappropriate": "it breaks the community's rules",
    "other": "the organisers could not take it this time",
}


def deny_picker(question: Question) -> Payload:
    """Deny with a reason code; the asker is told (the reason's words) only when chosen."""
    options = [
        {
            "label": f"{code.replace('_', ' ')}{' · tell the asker' if tell else ''}",
            "value": f"{code}:{'tell' if tell else 'quiet'}",
            "description": cut(words, OPTION_LABEL_MAX),
        }
        for tell in (False, True)
        for code, words in DENY_REASONS.items()
    ]
    select = {
        "type": 3,
        "custom_id": ama_id("deny", question.id),
        "placeholder": "Why not?",
        "options": options,
        "min_values": 1,
        "max_values": 1,
    }
    return _message(f"Deny question #{question.id}: why?", rows=[_row(select)])


def denied_note(title: str, reason: str) -> str:
    """What a denied asker is told, when the organiser chose to tell them."""
    words = DENY_REASONS.get(reason, DENY_REASONS["other"])
    return f"Your question for the {title} AMA was not taken: {words}."


def merge_picker(source: Question, candidates: Sequence[Question]) -> Payload:
    """The select an organiser picks the canonical question from, most similar first."""
    options = [
        {
            "label": cut(f"#{q.id} · {one_line(q.text)}", OPTION_LABEL_MAX),
            "value": str(q.id),
            "description": cut(f"{q.state.value} · {q.score} backing", OPTION_LABEL_MAX),
        }
        for q in candidates[:SELECT_OPTIONS_MAX]
    ]
    if not options:
        return _message(f"Question #{source.id} has no question to merge into yet.")
    select = {
        "type": 3,
        "custom_id": ama_id("merge", source.id),
        "placeholder": "Merge into…",
        "options": options,
        "min_values": 1,
        "max_values": 1,
    }
    return _message(f"Merge question #{source.id} into which question?", rows=[_row(select)])


def board_message(view: SessionView, board: Board, live_started_at: datetime | None) -> Payload:
    """The host board: the question on air, the next five by votes, the counters. Times are
    Discord timestamps, which members' clients count up themselves: the message is edited
    when the queue changes, never to move a clock."""
    c = board.counts
    embed = {
        "title": cut(f"Host board: {view.title}", 256),
        "description": cut("\n".join(_board_lines(board, live_started_at)), EMBED_DESCRIPTION_MAX),
        "footer": {
            "text": f"pending {c.get('pending', 0)} · approved {c.get('approved', 0)} · "
            f"answered {c.get('answered', 0)} · skipped {c.get('skipped', 0)}"
        },
        "color": _COLOURS[QuestionState.ON_AIR] if board.on_air else _GREY,
    }
    closed = view.state in (SessionState.PUBLISHED, SessionState.CANCELLED)
    return _message(embeds=[embed], rows=_board_rows(view.session_id, board, closed=closed))


def _board_lines(board: Board, live_started_at: datetime | None) -> list[str]:
    """The board's text: on air, up next, live since."""
    lines: list[str] = []
    if board.on_air is not None:
        since = (
            f" · on air since {_ts(board.on_air.on_air_at, 'R')}" if board.on_air.on_air_at else ""
        )
        lines.append(f"**On air** (#{board.on_air.id}, {board.on_air.score} backing{since})")
        lines.append(f"> {cut(one_line(escape_markdown(board.on_air.text)), 600)}")
        lines.append(f"— {_asked_by(board.on_air, reveal=False)}")
    else:
        lines.append("**Nothing on air.** Press Next to take the top question.")
    lines.append("")
    lines.append("**Up next**" if board.next else "**The queue is empty.**")
    for q in board.next:
        lines.append(f"`{q.score:>3}` #{q.id} {cut(one_line(escape_markdown(q.text)), 150)}")
    if live_started_at is not None:
        lines += ["", f"Live since {_ts(live_started_at, 'T')} ({_ts(live_started_at, 'R')})"]
    return lines


def _board_rows(sid: int, board: Board, *, closed: bool) -> list[Payload]:
    """The board's buttons, and the out-of-order pick while the queue has questions."""
    on_air = board.on_air is not None
    rows = [
        _row(
            _button(
                "Next",
                ama_id("board", sid, "next"),
                1,
                disabled=closed or not (board.next or on_air),
            ),
            _button("Answered", ama_id("board", sid, "answered"), 3, disabled=closed or not on_air),
            _button("Skip", ama_id("board", sid, "skip"), 2, disabled=closed or not on_air),
            _button("Later", ama_id("board", sid, "later"), 2, disabled=closed or not on_air),
            _button("Notes", ama_id("board", sid, "notes"), 2, disabled=closed or not on_air),
        )
    ]
    if board.next and not closed:
        options = [
            {"label": cut(f"#{q.id} · {one_line(q.text)}", OPTION_LABEL_MAX), "value": str(q.id)}
            for q in board.next[:SELECT_OPTIONS_MAX]
        ]
        rows.append(
            _row(
                {
                    "type": 3,
                    "custom_id": ama_id("pick", sid),
                    "placeholder": "Pick a question out of order",
                    "options": options,
                    "min_values": 1,
                    "max_values": 1,
                }
            )
        )
    return rows


def notes_modal(question: Question) -> Payload:
    """The written gist of an answer, editable later."""
    text_input: Payload = {
        "type": 4,
        "custom_id": "notes",
        "style": 2,
        "label": "The gist of the answer",
        "max_length": NOTES_MAX,
        "required": False,
    }
    if question.notes:
        text_input["value"] = question.notes[:NOTES_MAX]
    return {
        "custom_id": ama_id("notes", question.id),
        "title": cut(f"Notes for question #{question.id}", MODAL_TITLE_MAX),
        "components": [_row(text_input)],
    }


_MINE_STATES = {
    QuestionState.PENDING: "waiting for review",
    QuestionState.HELD: "waiting for review",
    QuestionState.APPROVED: "in the queue",
    QuestionState.ON_AIR: "on air now",
    QuestionState.ANSWERED: "answered",
    QuestionState.SKIPPED: "skipped for now",
    QuestionState.NOT_REACHED: "not reached",
    QuestionState.DENIED: "not taken",
    QuestionState.MERGED: "merged into a similar question",
    QuestionState.WITHDRAWN: "withdrawn",
}


def my_questions(questions: Sequence[Question]) -> Payload:
    """``/ama mine``: a member's questions, with Edit and Withdraw while still unanswered."""
    if not questions:
        return _message("You have not asked anything in this AMA yet. Ask with /ask.")
    lines = []
    rows: list[Payload] = []
    for q in questions[:10]:
        lines.append(
            f"**#{q.id}** ({_MINE_STATES[q.state]}): {cut(one_line(escape_markdown(q.text)), 300)}"
        )
        if (
            q.state in (QuestionState.PENDING, QuestionState.HELD, QuestionState.APPROVED)
            and len(rows) < 5
        ):
            rows.append(
                _row(
                    _button(f"Edit #{q.id}", ama_id("mine-edit", q.id)),
                    _button(f"Withdraw #{q.id}", ama_id("withdraw", q.id), 4),
                )
            )
    return _message("\n".join(lines), rows=rows)


def similar_offer(text_id: int, similar: Sequence[Question]) -> Payload:
    """Shown before a question is stored when similar ones are in: back one instead, or ask
    anyway (``text_id`` names the member's draft held by the cog)."""
    lines = ["Similar questions are already in:"]
    buttons = []
    for q in similar[:3]:
        lines.append(f"**#{q.id}** {cut(one_line(escape_markdown(q.text)), 200)}")
        buttons.append(_button(f"+1 #{q.id} instead", ama_id("plus1", q.id), 1))
    buttons.append(_button("Ask mine anyway", ama_id("anyway", text_id), 2))
    return _message("\n".join(lines), rows=[_row(*buttons)])


def receipt(question: Question, *, public: bool) -> str:
    """The member's ephemeral receipt, sent once the question is stored."""
    where = (
        "It is in the questions thread."
        if public
        else "The organisers will review it; you will see it in the questions thread once approved."
    )
    anon = " It will be shown as from a community member." if question.anonymous else ""
    return f"Got it: question #{question.id} is saved. {where}{anon} See yours with /ama mine."


def not_reached_list(questions: Sequence[Question]) -> Payload:
    """Posted in the thread at close: the approved questions the AMA did not reach."""
    if not questions:
        return _message("The AMA is closed. Every approved question was answered; thank you!")
    lines = ["The AMA is closed. These questions were not reached:"]
    for q in questions[:20]:
        lines.append(
            f"• {cut(one_line(escape_markdown(q.text)), 150)} (#{q.id}, {q.score} backing)"
        )
    if len(questions) > 20:
        lines.append(f"…and {len(questions) - 20} more, all in the AMA's record.")
    return _message(cut("\n".join(lines), 2000))


def answered_dm(question: Question, link: str) -> Payload:
    """The asker's one message when their question is answered."""
    return _message(f"Your question was answered in the AMA: {link}")
