"""Issue 16's smaller items: Markdown-escaped titles, "Add to calendar" ids the router can
read, and the command-sync digest that names the application."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import discord.utils
import pytest

from bot.content.models import Recap
from bot.discord.app import commands_digest
from bot.render.components import ROUTER_REST_MAX, ics_custom_id, ics_episode_id
from bot.render.limits import escape_markdown, link_text
from bot.render.messages import recap_announcement

SAMPLES = [
    "Fine *Tuning* & __Distillation__",
    "snake_case_tools and https://example.org/a_b_c",
    "> a quote",
    "# Heading",
    "- a list",
    "`code` ~~strike~~ ||spoiler||",
    "back\\slash",
    "[masked](https://example.org) link",
    "S2:E5 C# and F#",
    "",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_escape_markdown_matches_discord_py(text):
    assert escape_markdown(text) == discord.utils.escape_markdown(text)


def test_link_text_cannot_close_the_link():
    assert link_text("a [b] c*") == "a \\[b\\] c\\*"


def test_recap_headline_shows_the_title_literally():
    recap = Recap(
        id="r1",
        path="recaps/r1.md",
        title="**Not bold** _nor italic_",
        published=datetime(2025, 7, 14, tzinfo=UTC),
    )
    payload = recap_announcement(
        recap, episode=None, authors={}, recap_url="https://example.org/r1", role_id=0
    )
    assert "**\\*\\*Not bold\\*\\* \\_nor italic\\_**" in payload["content"]


def test_add_to_calendar_ids_fit_the_router_and_find_the_episode():
    ids = ["s2-e05", "x" * 86, "y" * 87, "z" * 300]
    for episode_id in ids:
        custom_id = ics_custom_id(episode_id)
        rest = custom_id.removeprefix("amabot:")
        assert len(rest) <= ROUTER_REST_MAX
        assert re.fullmatch(rf"amabot:(?P<rest>.{{0,{ROUTER_REST_MAX}}})", custom_id)
        assert ics_episode_id(rest.removeprefix("ics:"), ids) == episode_id
    assert ics_custom_id("s2-e05") == "amabot:ics:s2-e05"
    assert ics_episode_id("#" + "0" * 20, ids) is None


def test_the_sync_digest_names_the_application():
    payloads = {"global": [{"name": "episode"}]}
    assert commands_digest(1, 5, payloads) != commands_digest(2, 5, payloads)
    assert commands_digest(1, 5, payloads) == commands_digest(1, 5, payloads)
