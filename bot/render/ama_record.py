"""The AMA's record: one Markdown file per AMA, written back to the content repository for the
recap author to merge. Deterministic (the same questions give the same bytes, so a second
publish changes nothing), and safe: members' text is escaped for Markdown and HTML, mentions
are neutralised, anonymous askers are "a community member", and no Discord id appears.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import yaml

from bot.plan.ama import ANONYMOUS_NAME, Phase, Question, QuestionState, offset_label, queue_order

GENERATED_BY = "amabot"
RECORD_KIND = "ama-record"


@dataclass(frozen=True, slots=True)
class RecordHeader:
    """What the record says about the AMA itself."""

    series: str
    episode_id: str
    title: str  # the episode's title as members know it ("S2:E5 Fine Tuning & Distillation")
    starts_at: datetime  # aware UTC
    timezone: str  # IANA, the AMA's own
    guests: tuple[str, ...] = ()
    live_started_at: datetime | None = None
    recording_url: str | None = None


_USER = re.compile(r"<@!?\d+>")
_ROLE = re.compile(r"<@&\d+>")
_CHANNEL = re.compile(r"<#\d+>")
_EMOJI = re.compile(r"<a?:(\w{1,32}):\d+>")
_SLASH_COMMAND = re.compile(r"</([\w -]{1,32}):\d+>")
_TIMESTAMP = re.compile(r"<t:(-?\d{1,13})(?::[tTdDfFR])?>")
_EVERYONE = re.compile(r"@(everyone|here)\b")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_LINE_START = re.compile(r"^(\s*)([-+>]|\d+[.)])", re.MULTILINE)


def neutralise_mentions(text: str) -> str:
    """Discord's mention syntax made inert and id-free: a record must never carry ids."""
    text = _USER.sub("@member", text)
    text = _ROLE.sub("@role", text)
    text = _CHANNEL.sub("#channel", text)
    text = _EMOJI.sub(r":\1:", text)
    text = _SLASH_COMMAND.sub(r"/\1", text)
    text = _TIMESTAMP.sub(_timestamp_text, text)
    return _EVERYONE.sub("@\u200b\\1", text)


def _timestamp_text(match: re.Match[str]) -> str:
    try:
        when = datetime.fromtimestamp(int(match.group(1)), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return "(a time)"
    return when.strftime("%Y-%m-%d %H:%M UTC")


def escape_text(text: str) -> str:
    """A member's words as literal Markdown: no formatting, links, HTML or mentions of theirs
    survive, and line breaks stay line breaks."""
    text = neutralise_mentions(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in escape_text(text).splitlines() or [""])


def _asked_by(question: Question) -> str:
    others = question.score - 1
    name = ANONYMOUS_NAME if question.anonymous else escape_text(question.author_name)
    if others <= 0:
        return name
    return f"{name} and {others} other{'s' if others != 1 else ''}"


_PHASE_WORDS = {Phase.BEFORE: "before the AMA", Phase.LIVE: "during the AMA", Phase.AFTER: ""}


def _answered_line(question: Question, header: RecordHeader) -> str:
    parts = [f"Asked by {_asked_by(question)}"]
    if _PHASE_WORDS[question.phase]:
        parts.append(_PHASE_WORDS[question.phase])
    if question.on_air_at and header.live_started_at:
        offset = question.on_air_at - header.live_started_at
        label = f"[{offset_label(offset)}]"
        seconds = max(0, int(offset.total_seconds()))
        if header.recording_url:
            joiner = "&" if "?" in header.recording_url else "?"
            label = f"[{label}]({header.recording_url}{joiner}t={seconds}s)"
        parts.append(f"answered at {label}")
    return "*" + " · ".join(parts) + "*"


def answered_live(questions: Sequence[Question]) -> list[Question]:
    """Answered on air, in the order they were answered."""
    live = [q for q in questions if q.state is QuestionState.ANSWERED and q.on_air_at]
    return sorted(live, key=lambda q: (q.on_air_at, q.id))


def answered_in_writing(questions: Sequence[Question]) -> list[Question]:
    """Answered off air (in writing, after the AMA)."""
    written = [q for q in questions if q.state is QuestionState.ANSWERED and not q.on_air_at]
    return sorted(written, key=lambda q: (q.answered_at or q.created_at, q.id))


def not_reached(questions: Sequence[Question]) -> list[Question]:
    """Approved but never answered, by votes."""
    waiting = {QuestionState.NOT_REACHED, QuestionState.APPROVED, QuestionState.SKIPPED}
    return sorted((q for q in questions if q.state in waiting), key=queue_order)


def record_counts(questions: Sequence[Question]) -> dict[str, int]:
    asked = [q for q in questions if q.state is not QuestionState.WITHDRAWN and not q.umbrella]
    return {
        "asked": len(asked),
        "askers": len({q.author_id for q in asked} | {a for q in asked for a in q.askers}),
        "answered": len(answered_live(questions)) + len(answered_in_writing(questions)),
        "not_reached": len(not_reached(questions)),
        "merged": sum(1 for q in questions if q.state is QuestionState.MERGED),
    }


def _frontmatter(header: RecordHeader, questions: Sequence[Question]) -> str:
    local = header.starts_at.astimezone(ZoneInfo(header.timezone))
    data = {
        "series": header.series,
        "episode": header.episode_id,
        "kind": RECORD_KIND,
        "title": header.title,
        "ama": {
            "start": local.isoformat(timespec="minutes"),
            "timezone": header.timezone,
            "guests": list(header.guests),
            **({"recording": header.recording_url} if header.recording_url else {}),
        },
        "counts": record_counts(questions),
        "generated_by": GENERATED_BY,
    }
    dumped = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{dumped}---\n"


def _entry(number: int, question: Question, header: RecordHeader) -> list[str]:
    lines = [f"### {number}.", "", _quoted(question.text), "", _answered_line(question, header)]
    if question.notes.strip():
        lines += ["", neutralise_mentions(question.notes.strip())]
    return [*lines, ""]


def render_record(header: RecordHeader, questions: Sequence[Question]) -> str:
    """The record's Markdown. Merged, withdrawn, denied and pending questions are left out;
    umbrella questions (the organisers' wording) appear like any other."""
    out = [_frontmatter(header, questions), f"# AMA: {escape_text(header.title)}", ""]
    number = 0
    sections = (
        ("Questions answered during the AMA", answered_live(questions)),
        ("Answered after the AMA", answered_in_writing(questions)),
    )
    for title, items in sections:
        if not items:
            continue
        out += [f"## {title}", ""]
        for question in items:
            number += 1
            out += _entry(number, question, header)
    waiting = not_reached(questions)
    if waiting:
        out += ["## Not reached during the AMA", ""]
        for question in waiting:
            text = " ".join(escape_text(question.text).split())
            out.append(f"- {text} — *{_asked_by(question)}*")
        out.append("")
    if number == 0 and not waiting:
        out += ["No questions were answered in this AMA.", ""]
    return "\n".join(out).rstrip("\n") + "\n"
