"""Two series running an AMA at once, end to end: the real bot (discord.py) against the strict
stand-in, one git content repository holding both series' folders, a real SQLite file.

Model Mondays (the first series, `[ama]` at the top level) and Talk Tuesdays (its own `ama`
sub-table: its own questions and review channels, its own host role) both take questions.
A question asked in Talk's AMA (by its `series` option, or in its thread) lands in Talk's
session; its review card, its "Me too" and its host board act on Talk's question; Model
Mondays' AMA is untouched. `/ask` with both open and no series asks "which series?". The
status page, the calendar feed and the AMA screen cover both series.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.plan.ama import QuestionState, SessionState
from testkit.harness import Harness
from tests.builders import episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import AMA_START, SUNDAY, http_get, webhook_url
from tests.e2e.test_ama import _async, button, final_text, text_of

TALK = "talk"
FIRST = "model-mondays"
STATUS_TOKEN = "status-token-for-tests"
SCREEN_TOKEN = "screen-token-for-tests"
Q_TALK = "How do you pick which talks make it onto the Tuesday schedule?"
Q_THREAD = "What would you change about the talk format if you started over today?"
Q_FORM = "Which talk from this season surprised you most once it was on air?"


@contextlib.asynccontextmanager
async def two_amas(base: Path, *, first_ama: bool = True) -> AsyncIterator[Harness]:
    """Model Mondays' episode s9-e01 and Talk Tuesdays' t1-e01, both with an AMA on (or,
    without `first_ama`, only Talk's)."""
    content = base / "content-src"
    files = {
        "episodes/s9-e01.md": episode_md(),
        "talk/episodes/t1-e01.md": episode_md(id="t1-e01", season=1, number=1, title="Talk 1"),
    }
    for rel, text in files.items():
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_text(text, encoding="utf-8")
    h = Harness(base / "world", clock=ManualClock(SUNDAY), content_source=content)
    await h.start()
    try:
        sb = h.sandbox
        h.questions = sb.add_channel(h.guild, "ama-questions", "text")
        h.review = sb.add_channel(h.guild, "ama-review", "text")
        h.host_role = sb.add_role(h.guild, "Guests")
        h.guest = sb.add_member(h.guild, "dave", roles=[h.host_role])
        h.talk_questions = sb.add_channel(h.guild, "talk-questions", "text")
        h.talk_review = sb.add_channel(h.guild, "talk-review", "text")
        h.talk_host_role = sb.add_role(h.guild, "Talk guests")
        h.talk_guest = sb.add_member(h.guild, "ines", roles=[h.talk_host_role])
        h.asker2 = sb.add_member(h.guild, "priya")
        h.voter = sb.add_member(h.guild, "lee")
        h.overrides = {
            "reminders": {"offsets": ["1h"]},
            "ama": {
                "enabled": first_ama,
                "channel_id": h.questions.id,
                "review_channel_id": h.review.id,
                "host_role_ids": [h.host_role.id],
            },
        }
        h.environ["AMABOT_STATUS_TOKEN"] = STATUS_TOKEN
        h.environ["AMABOT_SCREEN_TOKEN"] = SCREEN_TOKEN
        h.add_series(
            TALK,
            "Talk Tuesdays",
            ama={
                "enabled": True,
                "channel_id": h.talk_questions.id,
                "review_channel_id": h.talk_review.id,
                "host_role_ids": [h.talk_host_role.id],
            },
        )
        await h.start_bot()
        yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()


async def _open(h: Harness, series: str | None, episode: str) -> Any:
    options = {"series": series} if series else {}
    result = await h.sandbox.slash(h.organiser, h.general, "ama", subcommand="open", **options)
    assert "collecting" in await final_text(h, result)
    ama = h.bot.ama_services[series or FIRST]
    return await eventually(
        lambda: ama.session_for(episode),
        lambda s: s is not None and s.thread_id is not None and s.board_thread_id is not None,
    )


async def test_two_series_amas_at_once_each_question_in_its_own_session(tmp_path):
    async with two_amas(tmp_path) as h:
        sb = h.sandbox
        assert set(h.bot.ama_services) == {FIRST, TALK}
        store = h.bot.db.ama

        a = await _open(h, None, "s9-e01")  # no series: the first series'
        b = await _open(h, TALK, "t1-e01")
        assert a.key.series == FIRST and b.key.series == TALK
        assert a.state is b.state is SessionState.COLLECTING
        # Each AMA's prompt and thread in its own series' questions channel.
        assert [t["id"] for t in sb.threads(h.questions)] == [str(a.thread_id)]
        assert [t["id"] for t in sb.threads(h.talk_questions)] == [str(b.thread_id)]

        # Both open and no series: the member is asked which, both named; nothing stored.
        which = await sb.slash(h.member, h.general, "ask", question=Q_TALK)
        text = await final_text(h, which)
        assert "Which series?" in text
        assert "Model Mondays" in text and "Talk Tuesdays" in text
        assert await store.question(1) is None
        # The series option's choices: the series whose AMA takes questions.
        choices = await sb.autocomplete(h.member, h.general, "ask", "series", "")
        assert [c["value"] for c in choices] == [FIRST, TALK]
        # The organisers' series option: the series with the AMA on; an episode's choices
        # name their series, narrowed by the series option.
        staff = await sb.autocomplete(
            h.organiser, h.general, "ama", "series", "", subcommand="close"
        )
        assert [c["value"] for c in staff] == [FIRST, TALK]
        episodes = await sb.autocomplete(
            h.organiser, h.general, "ama", "episode", "", subcommand="close", series=TALK
        )
        assert [c["value"] for c in episodes] == ["t1-e01"]
        assert episodes[0]["name"].startswith("Talk Tuesdays · ")

        # By the series option, and asked in Talk's thread (the series implied).
        asked = await sb.slash(h.member, h.general, "ask", question=Q_TALK, series=TALK)
        assert "question #1 is saved" in await final_text(h, asked)
        in_thread = await sb.slash(h.asker2, b.thread_id, "ask", question=Q_THREAD)
        assert "question #2 is saved" in await final_text(h, in_thread)
        assert await store.session_id_of(1) == b.id
        assert await store.session_id_of(2) == b.id

        # The review card is in Talk's review channel; a host of the other series may not
        # approve it (the roles checked are Talk's, on the server, at the click).
        cards = await eventually(
            lambda: _async(sb.messages(h.talk_review)),
            lambda ms: sum("Question #" in text_of(m) for m in ms) == 2,
        )
        card = next(m for m in cards if "Question #1" in text_of(m))
        approve = button(card, "Approve")
        other_host = await sb.click(h.guest, h.talk_review, card["id"], approve)
        assert "Only organisers and hosts" in await final_text(h, other_host)
        assert (await store.question(1)).state is QuestionState.PENDING
        approved = await sb.click(h.talk_guest, h.talk_review, card["id"], approve)
        assert "approved" in await final_text(h, approved)
        assert (await store.question(1)).state is QuestionState.APPROVED

        # Public in Talk's thread; "Me too" counts on Talk's question.
        public = await eventually(
            lambda: _async(sb.messages(b.thread_id)),
            lambda ms: any(Q_TALK[:30] in text_of(m) for m in ms),
        )
        public = next(m for m in public if Q_TALK[:30] in text_of(m))
        voted = await sb.click(h.voter, b.thread_id, public["id"], button(public, "Me too"))
        assert "Counted: 1" in await final_text(h, voted)
        assert (await store.question(1)).score >= 1
        await eventually(
            lambda: _async(sb.world.find_message(b.thread_id, int(public["id"])).data),
            lambda m: "Me too · 1" in json.dumps(m["components"], ensure_ascii=False),
        )

        # The "Ask a question" button on Talk's prompt opens Talk's form; its answer lands there.
        prompt = next(m for m in sb.messages(h.talk_questions) if "Ask a question" in json.dumps(m))
        opened = await sb.click(
            h.voter, h.talk_questions, prompt["id"], button(prompt, "Ask a question")
        )
        assert opened.modal is not None
        sent = await sb.submit_modal(
            h.voter, h.talk_questions, opened.modal["custom_id"], {"question": Q_FORM}
        )
        assert "question #3 is saved" in await final_text(h, sent)
        assert await store.session_id_of(3) == b.id
        await eventually(
            lambda: _async(sb.messages(h.talk_review)),
            lambda ms: any("Question #3" in text_of(m) for m in ms),
        )

        # Talk's host board: live by the series option, Next puts Talk's question on air.
        live = await sb.slash(h.organiser, h.general, "ama", subcommand="live", series=TALK)
        assert "live" in await final_text(h, live)
        board = await eventually(
            lambda: _async(sb.messages(b.board_thread_id)), lambda ms: len(ms) >= 1
        )
        nxt = await sb.click(
            h.talk_guest, b.board_thread_id, board[0]["id"], button(board[0], "Next")
        )
        assert "#1 is on air" in await final_text(h, nxt)
        assert (await store.question(1)).state is QuestionState.ON_AIR

        # Model Mondays' AMA is untouched: no question, no card, nothing in its thread.
        assert await store.questions(a.id) == []
        assert not any("Question #" in text_of(m) for m in sb.messages(h.review))
        assert not any(Q_TALK[:30] in text_of(m) for m in sb.messages(a.thread_id))
        assert (await h.bot.ama_services[FIRST].session_for("s9-e01")).state is (
            SessionState.COLLECTING
        )

        # The AMA screen: Talk's by its series; the old URL is the first series'.
        base = webhook_url(h)
        status, body, _ = await http_get(
            f"{base}/ama/{TALK}/t1-e01/screen.json?token={SCREEN_TOKEN}"
        )
        assert status == 200 and json.loads(body)["on_air"]["text"] == Q_TALK
        status, body, _ = await http_get(f"{base}/ama/s9-e01/screen.json?token={SCREEN_TOKEN}")
        assert status == 200 and json.loads(body)["on_air"] is None
        status, body, _ = await http_get(
            f"{base}/ama/{FIRST}/s9-e01/screen.json?token={SCREEN_TOKEN}"
        )
        assert status == 200 and json.loads(body)["episode"] == "s9-e01"
        status, _, _ = await http_get(f"{base}/ama/t1-e01/screen.json?token={SCREEN_TOKEN}")
        assert status == 404  # an episode of Talk is not the first series'

        # The status page lists both series' AMA sessions, each named by its series.
        status, body, _ = await http_get(f"{base}/status?token={STATUS_TOKEN}")
        page = body.decode()
        assert status == 200
        assert "Model Mondays, Talk Tuesdays: status" in page
        rows = [r for r in page.split("<tr>") if "AMA session" in r]
        assert any("t1-e01: AMA starts (live)" in r and "Talk Tuesdays" in r for r in rows)
        assert any("s9-e01: AMA starts (collecting)" in r and "Model Mondays" in r for r in rows)
        # Each series' pending reminders once, named by their series.
        posts = [r for r in page.split("<tr>") if "reminder:" in r]
        talk_rows = [r for r in posts if f"reminder:{TALK}/t1-e01:livestream:1h" in r]
        first_rows = [r for r in posts if "reminder:s9-e01:livestream:1h" in r]
        assert len(talk_rows) == 1 and "Talk Tuesdays" in talk_rows[0]
        assert len(first_rows) == 1 and "Model Mondays" in first_rows[0]

        # The calendar feed holds both series' events, UIDs apart (Talk's scoped).
        status, body, _ = await http_get(f"{base}/calendar.ics")
        feed = body.decode().replace("\r\n ", "")
        assert status == 200
        uids = {line.removeprefix("UID:") for line in feed.splitlines() if line.startswith("UID:")}
        assert {
            "s9-e01-livestream@amabot",
            "s9-e01-ama@amabot",
            f"{TALK}/t1-e01-livestream@amabot",
            f"{TALK}/t1-e01-ama@amabot",
        } <= uids
        summaries = [line for line in feed.splitlines() if line.startswith("SUMMARY:")]
        assert any(line.startswith("SUMMARY:Talk Tuesdays ") for line in summaries)
        assert any(line.startswith("SUMMARY:Model Mondays ") for line in summaries)

        # `/ama close` in Talk's host board (no series named): Talk's AMA closes, only it.
        closed = await sb.slash(h.organiser, b.board_thread_id, "ama", subcommand="close")
        assert "closed" in await final_text(h, closed)
        talk_after = await h.bot.ama_services[TALK].session_for("t1-e01")
        assert talk_after.state in (SessionState.CLOSED, SessionState.PUBLISHED)
        first_after = await h.bot.ama_services[FIRST].session_for("s9-e01")
        assert first_after.state is SessionState.COLLECTING


async def test_the_ask_button_of_a_series_reminder_opens_that_series_form(tmp_path):
    """The AMA reminder's "Ask a question" id names only the episode
    (``amabot:ama:ask-episode:<episode>``, as before several series): Talk's reminder opens
    Talk's form, the first series' its own."""
    async with two_amas(tmp_path) as h:
        sb = h.sandbox
        clock = h.clock
        a = await _open(h, None, "s9-e01")
        b = await _open(h, TALK, "t1-e01")
        clock.set(AMA_START - timedelta(hours=1))
        await h.posting.deliver_due()
        for channel, session in ((h.show(TALK).reminders, b), (h.reminders, a)):
            reminder = next(m for m in sb.messages(channel) if "Ask a question" in json.dumps(m))
            custom_id = button(reminder, "Ask a question")
            assert custom_id == f"amabot:ama:ask-episode:{session.key.episode_id}"
            opened = await sb.click(h.voter, channel, reminder["id"], custom_id)
            assert opened.modal is not None
            assert opened.modal["custom_id"] == f"amabot:ama:asked:{session.id}"
        # `/ama mine` lists a member's questions of every AMA taking questions.
        for series, text in ((TALK, Q_TALK), (FIRST, Q_THREAD)):
            asked = await sb.slash(h.member, h.general, "ask", question=text, series=series)
            assert "is saved" in await final_text(h, asked)
        mine = await sb.slash(h.member, h.general, "ama", subcommand="mine")
        listed = await final_text(h, mine) + json.dumps((await sb.wait_final(mine)).embeds)
        assert Q_TALK[:30] in listed and Q_THREAD[:30] in listed


async def test_only_the_second_series_has_an_ama(tmp_path):
    """The AMA's commands are there when any series has the AMA on; they mean that series."""
    async with two_amas(tmp_path, first_ama=False) as h:
        sb = h.sandbox
        assert set(h.bot.ama_services) == {TALK}
        b = await _open(h, TALK, "t1-e01")
        asked = await sb.slash(h.member, h.general, "ask", question=Q_TALK)
        assert "question #1 is saved" in await final_text(h, asked)
        assert await h.bot.db.ama.session_id_of(1) == b.id
        named = await sb.slash(h.member, h.general, "ask", question=Q_FORM, series=FIRST)
        assert f"`{FIRST}` has no AMA" in await final_text(h, named)
        assert await h.bot.db.ama.question(2) is None
