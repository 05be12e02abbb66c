"""The AMA's Discord messages (bot/render/ama.py): within Discord's limits, ping nobody, and
an anonymous asker's name appears only on the organisers' card."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.plan.ama import Question, QuestionState, SessionState, board
from bot.render import ama as render
from bot.render.limits import CUSTOM_ID_MAX, fit_message

T0 = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
Q = QuestionState
VIEW = render.SessionView(
    7, "S2:E5 Fine Tuning & Distillation", "Model Mondays", T0, ("Dave Voutila",), SessionState.LIVE
)
ANON = Question(
    id=41,
    author_id=555000111222333444,
    author_name="Secret Sam",
    text="Is **this** <@1> @everyone safe?" + "x" * 980,
    state=Q.APPROVED,
    created_at=T0,
    anonymous=True,
    voters=frozenset({1, 2}),
)
NAMED = Question(
    id=42,
    author_id=9,
    author_name="Ana",
    text="How much data do I need?",
    state=Q.ON_AIR,
    created_at=T0,
    on_air_at=T0 + timedelta(minutes=3),
)


def payloads():
    b = board([ANON, NAMED], T0 + timedelta(minutes=5), T0)
    return {
        "prompt": render.prompt_message(VIEW),
        "question": render.question_message(ANON),
        "review": render.review_card(ANON, similar=[NAMED]),
        "review-done": render.review_card(NAMED, done_by=3),
        "merge": render.merge_picker(ANON, [NAMED] * 30),
        "board": render.board_message(VIEW, b, T0),
        "mine": render.my_questions([ANON, NAMED]),
        "offer": render.similar_offer(3, [NAMED, ANON]),
        "not-reached": render.not_reached_list([ANON] * 30),
    }


@pytest.mark.parametrize("name", list(payloads()))
def test_messages_fit_discord_and_ping_nobody(name):
    payload = payloads()[name]
    assert fit_message(payload) == payload
    assert payload["allowed_mentions"]["parse"] == []
    assert payload["allowed_mentions"]["users"] == []
    for row in payload["components"]:
        for comp in row["components"]:
            assert len(comp["custom_id"]) <= CUSTOM_ID_MAX


@pytest.mark.parametrize("name", ["prompt", "question", "board", "not-reached", "offer"])
def test_an_anonymous_asker_is_not_named_where_members_look(name):
    text = json.dumps(payloads()[name])
    assert "Secret Sam" not in text
    assert "555000111222333444" not in text


def test_organisers_see_who_asked_anonymously():
    text = json.dumps(render.review_card(ANON))
    assert "Secret Sam" in text and "555000111222333444" in text


def test_a_handled_card_has_its_buttons_disabled():
    card = render.review_card(NAMED, done_by=3)
    assert all(c.get("disabled") for c in card["components"][0]["components"])
    assert "<@3>" in json.dumps(card)


def test_custom_ids_parse_back():
    assert render.parse_ama_id(render.ama_id("review", 41, "approve")) == [
        "review",
        "41",
        "approve",
    ]
    assert render.parse_ama_id("amabot:ics:s2-e05") is None


def test_modals_fit():
    modal = render.ask_modal(VIEW)
    assert len(modal["title"]) <= 45
    edit = render.ask_modal(VIEW, text="x" * 2000, question_id=5)
    assert len(edit["components"][0]["components"][0]["value"]) == 1000


def test_an_ama_reminder_carries_ask_a_question_when_the_ama_runs():
    from dataclasses import replace as dc_replace

    from bot.config import AmaSettings, Settings
    from bot.content.models import Episode, ShowEvent
    from bot.render.messages import reminder_message

    ama = ShowEvent("ama", T0, timedelta(minutes=30))
    episode = Episode("s2-e05", "episodes/s2-e05.md", 2, 5, "Fine Tuning", ama=ama)
    on = dc_replace(Settings(), ama=AmaSettings(enabled=True, channel_id=1, review_channel_id=2))
    ids = [
        c["custom_id"]
        for row in reminder_message(episode, ama, timedelta(hours=1), role_id=0, settings=on)[
            "components"
        ]
        for c in row["components"]
        if "custom_id" in c
    ]
    assert "amabot:ama:ask-episode:s2-e05" in ids
    off = reminder_message(episode, ama, timedelta(hours=1), role_id=0, settings=Settings())
    assert "ask-episode" not in json.dumps(off)
