"""The AMA's record (bot/render/ama_record.py): deterministic, safe, in the documented order."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import frontmatter
from hypothesis import given
from hypothesis import strategies as st

from bot.plan.ama import Phase, Question, QuestionState
from bot.render.ama_record import RecordHeader, escape_text, render_record

Q = QuestionState
LIVE = datetime(2025, 7, 18, 17, 31, tzinfo=UTC)
HEADER = RecordHeader(
    series="model-mondays",
    episode_id="s2-e05",
    title="S2:E5 Fine Tuning & Distillation",
    starts_at=datetime(2025, 7, 18, 17, 30, tzinfo=UTC),
    timezone="America/New_York",
    guests=("Dave Voutila",),
    live_started_at=LIVE,
)
SECRET_ID = 987654321098765432


def q(id, text, state=Q.ANSWERED, *, author=SECRET_ID, name="Priya", on_air=None, **kw):
    return Question(
        id=id,
        author_id=author,
        author_name=name,
        text=text,
        state=state,
        created_at=LIVE - timedelta(days=1, minutes=id),
        on_air_at=on_air,
        **kw,
    )


QUESTIONS = [
    q(
        1,
        "Second answered, first asked?",
        on_air=LIVE + timedelta(minutes=9),
        voters=frozenset({1, 2}),
    ),
    q(
        2,
        "How much data do I need before fine-tuning beats prompting?",
        name="Ana",
        on_air=LIVE + timedelta(minutes=4, seconds=12),
        notes="Start with a few hundred examples.",
        phase=Phase.LIVE,
    ),
    q(
        3,
        "Secret person's question <@123456789012345678> @everyone",
        anonymous=True,
        name="Hidden Name",
        on_air=LIVE + timedelta(minutes=20),
    ),
    q(4, "Answered in writing afterwards", answered_at=LIVE + timedelta(hours=3)),
    q(5, "Not reached, few votes", Q.NOT_REACHED, voters=frozenset({7})),
    q(6, "Not reached, many votes", Q.NOT_REACHED, voters=frozenset({7, 8, 9})),
    q(7, "Merged away", Q.MERGED, canonical_id=1),
    q(8, "Withdrawn by the asker", Q.WITHDRAWN),
    q(9, "Denied for being rude", Q.DENIED),
]


def test_the_record_is_deterministic_and_in_the_documented_order():
    text = render_record(HEADER, QUESTIONS)
    assert text == render_record(HEADER, list(reversed(QUESTIONS)))
    sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert sections == [
        "Questions answered during the AMA",
        "Answered after the AMA",
        "Not reached during the AMA",
    ]
    order = [
        text.index(s)
        for s in (
            "How much data",
            "Second answered",
            "Secret person",
            "Answered in writing",
            "Not reached, many",
            "Not reached, few",
        )
    ]
    assert order == sorted(order)
    assert "[04:12]" in text and "[09:00]" in text
    assert "Asked by Priya and 2 others" in text
    assert "Start with a few hundred examples." in text
    for gone in ("Merged away", "Withdrawn", "Denied"):
        assert gone not in text


def test_frontmatter_reads_back_with_the_counts():
    post = frontmatter.loads(render_record(HEADER, QUESTIONS))
    assert post["episode"] == "s2-e05"
    assert post["series"] == "model-mondays"
    assert post["generated_by"] == "amabot"
    assert post["ama"]["start"] == "2025-07-18T13:30-04:00"
    assert post["ama"]["guests"] == ["Dave Voutila"]
    assert post["counts"] == {"asked": 8, "askers": 1, "answered": 4, "not_reached": 2, "merged": 1}


def test_anonymous_askers_and_ids_never_appear():
    text = render_record(HEADER, QUESTIONS)
    assert "Hidden Name" not in text
    assert "a community member" in text
    assert str(SECRET_ID) not in text
    assert "123456789012345678" not in text
    assert "@everyone" not in text


def test_recording_link_points_at_the_answer():
    header = replace(HEADER, recording_url="https://youtu.be/x?si=1")
    text = render_record(header, QUESTIONS)
    assert "[[04:12]](https://youtu.be/x?si=1&t=252s)" in text


def test_an_empty_ama_says_so():
    text = render_record(HEADER, [])
    assert "No questions were answered" in text


@given(st.text(max_size=300))
def test_escaped_member_text_carries_no_markup(text):
    out = escape_text(text)
    assert "<" not in out and ">" not in out.replace("&gt;", "")
    assert not re.search(r"(?<!\\)[\[\]*_`|~]", out)
    assert not re.search(r"@(everyone|here)\b", out)
    assert out.count("\n") == text.count("\n")
