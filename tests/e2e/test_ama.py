"""The AMA end to end: the real bot (discord.py) against the strict stand-in, with a git
content repository. A member asks (by command and by the form, one anonymously), an organiser
approves, members vote, the host works the board, the asker is told, and at close the record
is pushed on its branch to the content remote.

The clock is manual (Sunday before the episode), so the session is opened with `/ama open`;
the clock's own opening and closing are the rules' tests (tests/ama/test_rules.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import frontmatter

from bot.cli.main import main
from bot.clock import ManualClock
from bot.plan.ama import QuestionState, SessionState
from testkit.harness import Harness, git
from tests.builders import episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import SUNDAY, ours, world

QUESTION = "How much data do I need before fine-tuning beats prompt engineering?"
SECRET = "Is distillation worth it for models under a billion parameters?"


def configure(h: Harness) -> dict[str, dict[str, Any]]:
    sb = h.sandbox
    h.questions = sb.add_channel(h.guild, "ama-questions", "text")
    h.review = sb.add_channel(h.guild, "ama-review", "text")
    h.host_role = sb.add_role(h.guild, "Guests")
    h.guest = sb.add_member(h.guild, "dave", roles=[h.host_role])
    h.asker2 = sb.add_member(h.guild, "priya")
    h.voter = sb.add_member(h.guild, "lee")
    return {
        "ama": {
            "enabled": True,
            "channel_id": h.questions.id,
            "review_channel_id": h.review.id,
            "host_role_ids": [h.host_role.id],
        }
    }


@contextlib.asynccontextmanager
async def ama_world(base: Path) -> AsyncIterator[Harness]:
    async with world(
        base, clock=ManualClock(SUNDAY), episodes={"s9-e01": _episode()}, configure=configure
    ) as h:
        yield h


def _episode() -> str:
    return episode_md()


def button(message: dict[str, Any], label_start: str) -> str:
    for row in message.get("components", []):
        for comp in row["components"]:
            if str(comp.get("label", "")).startswith(label_start):
                return str(comp["custom_id"])
    raise AssertionError(f"no {label_start!r} button in {message.get('components')}")


def text_of(message: dict[str, Any]) -> str:
    return json.dumps({k: message.get(k) for k in ("content", "embeds")}, ensure_ascii=False)


async def final_text(h: Harness, result: Any) -> str:
    done = await h.sandbox.wait_final(result)
    texts = [done.content] + [f.get("content", "") for f in done.followups]
    return " ".join(t for t in texts if t)


async def open_ama(h: Harness):
    sb = h.sandbox
    result = await sb.slash(h.organiser, h.general, "ama", subcommand="open")
    assert "collecting" in await final_text(h, result)
    session = await eventually(
        lambda: h.bot.ama_service.session_for("s9-e01"),
        lambda s: s is not None and s.thread_id is not None and s.board_thread_id is not None,
    )
    return session


async def test_a_question_goes_from_ask_to_answered_to_the_record(tmp_path, capsys):
    async with ama_world(tmp_path) as h:
        sb = h.sandbox
        ama = h.bot.ama_service

        # Before questions open, a member is told when they open.
        early = await sb.slash(h.member, h.general, "ask", question=QUESTION)
        assert "open <t:" in await final_text(h, early)

        session = await open_ama(h)
        assert session.state is SessionState.COLLECTING
        prompt = sb.messages(h.questions)[-1]
        assert "Ask Dave Voutila anything" in text_of(prompt)
        assert [t["id"] for t in sb.threads(h.questions)] == [str(session.thread_id)]
        assert h.organiser.id in sb.thread_members(session.board_thread_id)

        # The member asks; the receipt comes once the question is stored.
        asked = await sb.slash(h.member, h.general, "ask", question=QUESTION)
        assert "question #1 is saved" in await final_text(h, asked)
        stored = await ama.store.ama.question(1)
        assert stored is not None and stored.state is QuestionState.PENDING

        # A review card for the organisers; a member cannot approve it (a replayed id).
        card = await eventually(
            lambda: _async(sb.messages(h.review)),
            lambda ms: any("Question #1" in text_of(m) for m in ms),
        )
        card = next(m for m in card if "Question #1" in text_of(m))
        approve = button(card, "Approve")
        forged = await sb.click(h.member, h.review, card["id"], approve)
        assert "Only organisers and hosts" in await final_text(h, forged)
        assert (await ama.store.ama.question(1)).state is QuestionState.PENDING
        approved = await sb.click(h.organiser, h.review, card["id"], approve)
        assert "approved" in await final_text(h, approved)
        again = await sb.click(h.organiser, h.review, card["id"], approve)
        assert "already approved" in await final_text(h, again)

        # Public in the thread, with "Me too"; a vote shows within a few seconds.
        public = await eventually(
            lambda: _async(sb.messages(session.thread_id)),
            lambda ms: any(QUESTION[:30] in text_of(m) for m in ms),
        )
        public = next(m for m in public if QUESTION[:30] in text_of(m))
        me_too = button(public, "Me too")
        own = await sb.click(h.member, session.thread_id, public["id"], me_too)
        assert "You asked this one" in await final_text(h, own)
        voted = await sb.click(h.voter, session.thread_id, public["id"], me_too)
        assert "Counted: 1" in await final_text(h, voted)
        await eventually(
            lambda: _async(sb.world.find_message(session.thread_id, int(public["id"])).data),
            lambda m: "Me too · 1" in json.dumps(m["components"], ensure_ascii=False),
        )

        # An anonymous question through the form.
        form = await sb.slash(h.asker2, h.general, "ask")
        assert form.modal is not None
        sent = await sb.submit_modal(
            h.asker2, None, form.modal["custom_id"], {"question": SECRET, "anonymous": "yes"}
        )
        assert "community member" in await final_text(h, sent)
        card2 = await eventually(
            lambda: _async(sb.messages(h.review)),
            lambda ms: any("Question #2" in text_of(m) for m in ms),
        )
        card2 = next(m for m in card2 if "Question #2" in text_of(m))
        assert "priya" in text_of(card2)  # organisers see who asked
        by_guest = await sb.click(h.guest, h.review, card2["id"], button(card2, "Approve"))
        assert "approved" in await final_text(h, by_guest)

        # The host board: Next puts the most backed question on air, Answered tells the asker.
        live = await sb.slash(h.organiser, h.general, "ama", subcommand="live")
        assert "live" in await final_text(h, live)
        board = await eventually(
            lambda: _async(sb.messages(session.board_thread_id)), lambda ms: len(ms) >= 1
        )
        board = board[0]
        nxt = await sb.click(h.guest, session.board_thread_id, board["id"], button(board, "Next"))
        assert "#1 is on air" in await final_text(h, nxt)
        board = sb.world.find_message(session.board_thread_id, int(board["id"])).data
        # A guest who lost the host role still sees the board; their click changes nothing.
        sb.world.guild(h.guild).members[h.guest.id].roles.remove(h.host_role.id)
        replay = await sb.click(
            h.guest, session.board_thread_id, board["id"], button(board, "Answered")
        )
        assert "Only organisers and hosts" in await final_text(h, replay)
        assert (await ama.store.ama.question(1)).state is QuestionState.ON_AIR
        sb.world.guild(h.guild).members[h.guest.id].roles.append(h.host_role.id)
        done = await sb.click(
            h.guest, session.board_thread_id, board["id"], button(board, "Answered")
        )
        assert "answered" in await final_text(h, done)
        dm = sb.world.dm_channel(h.member.id)
        told = await eventually(lambda: _async(sb.messages(dm)), lambda ms: len(ms) == 1)
        assert "was answered" in told[0]["content"] and str(public["id"]) in told[0]["content"]

        # Members never see the anonymous asker's name.
        for channel in (h.questions, session.thread_id):
            for message in sb.messages(channel):
                assert "priya" not in text_of(message)

        # Close: the record goes to the content remote on its own branch.
        closed = await sb.slash(h.organiser, h.general, "ama", subcommand="close")
        assert "closed" in await final_text(h, closed)
        remote = h.repo.remote
        record = await eventually(
            lambda: _async(_remote_file(remote, "amabot/ama/s9-e01", "ama/s9-e01.md")),
            lambda text: text is not None,
        )
        post = frontmatter.loads(record)
        assert post["episode"] == "s9-e01" and post["generated_by"] == "amabot"
        assert post["counts"]["answered"] == 1 and post["counts"]["not_reached"] == 1
        assert QUESTION.split("?")[0].split(" ")[0] in record
        assert "a community member" in record and "priya" not in record
        assert str(h.member.id) not in record
        # The bot's own checkout stayed a read-only mirror on main.
        assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=h.repo.checkout) == "main"
        assert (await ama.session_for("s9-e01")).state is SessionState.PUBLISHED
        # `amabot ama export` prints the same bytes as were pushed.
        capsys.readouterr()
        code = await asyncio.to_thread(
            main, ["ama", "export", "s9-e01", "--config", str(h.config_path)]
        )
        assert code == 0
        assert capsys.readouterr().out == record

        # The recap author merges the branch; /episode then shows the AMA's answered count.
        author = h.repo.author
        await asyncio.to_thread(git, "fetch", "-q", "origin", "amabot/ama/s9-e01", cwd=author)
        await asyncio.to_thread(git, "merge", "-q", "--ff-only", "FETCH_HEAD", cwd=author)
        await asyncio.to_thread(git, "push", "-q", "origin", "main", cwd=author)
        await h.posting.sync.pull_now("test")
        shown = await sb.slash(h.member, h.general, "episode", query="s9-e01")
        fields = (await sb.wait_final(shown)).embeds[0]["fields"]
        assert {"name": "AMA Q&A", "value": "1 question answered, 1 not reached"} in [
            {"name": f["name"], "value": f["value"]} for f in fields
        ]


async def _async(value: Any) -> Any:
    return value


def _remote_file(remote: Path, branch: str, path: str) -> str | None:
    """The file's exact bytes on the remote's branch (None while the branch is not there)."""
    done = subprocess.run(
        ["git", "show", f"{branch}:{path}"],
        cwd=remote,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else None


async def test_a_denied_asker_is_told_the_reason_only_when_the_organiser_chooses(tmp_path):
    async with ama_world(tmp_path) as h:
        sb = h.sandbox
        session = await open_ama(h)
        for member, text in ((h.member, QUESTION), (h.asker2, SECRET)):
            asked = await sb.slash(member, h.general, "ask", question=text)
            assert "is saved" in await final_text(h, asked)
        cards = await eventually(
            lambda: _async(sb.messages(h.review)),
            lambda ms: sum("Question #" in text_of(m) for m in ms) == 2,
        )
        for number, choice in ((1, "off_topic:tell"), (2, "duplicate:quiet")):
            card = next(m for m in cards if f"Question #{number}" in text_of(m))
            opened = await sb.click(h.organiser, h.review, card["id"], button(card, "Deny"))
            picker = (await sb.wait_final(opened)).message
            select = picker["components"][0]["components"][0]
            assert len(select["options"]) == 10
            done = await sb.click(
                h.organiser, h.review, picker["id"], select["custom_id"], values=[choice]
            )
            assert "denied" in await final_text(h, done)
        told = await eventually(
            lambda: _async(sb.messages(sb.world.dm_channel(h.member.id))), lambda ms: len(ms) == 1
        )
        assert "off topic" in told[0]["content"]
        assert sb.messages(sb.world.dm_channel(h.asker2.id)) == []
        # Nothing public for denied questions, and the card says who handled it.
        assert [m for m in sb.messages(session.thread_id) if "Asked by" in text_of(m)] == []
        card = sb.world.find_message(h.review.id, int(cards[0]["id"])).data
        assert f"<@{h.organiser.id}>" in text_of(card)
        assert all(c.get("disabled") for c in card["components"][0]["components"])


async def test_the_discord_event_going_live_and_ending_moves_the_session(tmp_path):
    def with_events(h: Harness) -> dict[str, dict[str, Any]]:
        sections = configure(h)
        sections["events"] = {"enabled": True, "ama_stage_channel_id": h.stage.id}
        return sections

    async with world(
        tmp_path, clock=ManualClock(SUNDAY), episodes={"s9-e01": _episode()}, configure=with_events
    ) as h:
        sb = h.sandbox
        ama = h.bot.ama_service
        await open_ama(h)
        event = await eventually(
            lambda: _async(
                [e for e in ours(h) if e["entity_type"] == 1]  # the stage event is the AMA's
            ),
            lambda found: len(found) == 1,
        )
        await sb.start_event(event[0]["id"])
        live = await eventually(
            lambda: ama.session_for("s9-e01"), lambda s: s.state is SessionState.LIVE
        )
        assert live.live_started_at == SUNDAY  # the AMA's clock starts when the event does
        await sb.end_event(event[0]["id"])
        await eventually(
            lambda: ama.session_for("s9-e01"),
            lambda s: s.state in (SessionState.CLOSED, SessionState.PUBLISHED),
        )
