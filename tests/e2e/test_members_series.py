"""Members with several series (issue 20), end to end: the real bot (discord.py) against the
strict Discord stand-in, one content repository holding Model Mondays (``episodes/``) and
Talk Tuesdays (``talk/``), both with an episode ``s9-e01``. `/episode` and `/recap` find
either series' and name it; `/schedule` groups by series; `/notify`, "Remind me" and "Stop
these" choose per series and stream, and a button naming no series is the home series';
`/announce create` and `skip` take a series.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.plan.optin import Mode
from testkit.harness import Harness
from tests.builders import episode_md
from tests.e2e.episodes import AMA_START, LS_START, SUNDAY, rk
from tests.e2e.test_organisers import button, create

H = timedelta(hours=1)
TALK = "talk"

FILES = {
    "episodes/s9-e01.md": episode_md(title="Fine Tuning & Distillation"),
    "episodes/s9-e02.md": episode_md(
        "s9-e02",
        number=2,
        title="Agents in Production",
        livestream="2025-07-21T10:30",
        ama="2025-07-25T10:30",
    ),
    # The same id and code as Model Mondays' first, a day later: choices must tell them apart.
    "talk/episodes/s9-e01.md": episode_md(
        title="Talking Vector Search",
        guests=("Pamela Fox",),
        livestream="2025-07-15T10:30",
        ama="2025-07-18T11:30",
    ),
}


@contextlib.asynccontextmanager
async def two_series(base: Path, clock: ManualClock) -> AsyncIterator[Harness]:
    content = base / "content-src"
    for rel, text in FILES.items():
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_text(text, encoding="utf-8")
    h = Harness(
        base / "world",
        clock=clock,
        content_source=content,
        overrides={"reminders": {"offsets": ["1h"]}},
    )
    await h.start()
    try:
        h.add_series(TALK, "Talk Tuesdays")
        await h.start_bot()
        yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()


async def final(sb: Any, pending: Any) -> Any:
    """An interaction's last answer (the notify commands and buttons defer first)."""
    return await sb.wait_final(await pending)


def ids(message: dict[str, Any]) -> list[str]:
    return [
        b["custom_id"]
        for row in message.get("components", [])
        for b in row["components"]
        if "custom_id" in b
    ]


async def test_episode_finds_either_series_and_names_it(tmp_path):
    async with two_series(tmp_path, ManualClock(SUNDAY)) as h:
        sb = h.sandbox
        # Words only Talk Tuesdays' episode has.
        talk = await sb.slash(h.member, h.general, "episode", query="vector search")
        assert talk.embeds[0]["title"] == "S9:E1 · Talking Vector Search"
        assert talk.embeds[0]["footer"]["text"] == "Talk Tuesdays"
        mm = await sb.slash(h.member, h.general, "episode", query="agents in production")
        assert mm.embeds[0]["title"] == "S9:E2 · Agents in Production"
        assert mm.embeds[0]["footer"]["text"] == "Model Mondays"

        # One code, two series: every choice names its series, and its value picks it.
        choices = await sb.autocomplete(h.member, h.general, "episode", "query", "s9e1")
        assert [c["value"] for c in choices[:2]] == ["model-mondays:s9-e01", "talk:s9-e01"]
        assert [c["name"] for c in choices[:2]] == [
            "Model Mondays · S9:E1 · Fine Tuning & Distillation — Dave Voutila",
            "Talk Tuesdays · S9:E1 · Talking Vector Search — Pamela Fox",
        ]
        assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)
        for choice, title, footer in (
            (choices[0], "S9:E1 · Fine Tuning & Distillation", "Model Mondays"),
            (choices[1], "S9:E1 · Talking Vector Search", "Talk Tuesdays"),
        ):
            shown = await sb.slash(h.member, h.general, "episode", query=choice["value"])
            assert (shown.embeds[0]["title"], shown.embeds[0]["footer"]["text"]) == (title, footer)

        # The series option narrows, by choice (its id) or typed name; it autocompletes.
        narrowed = await sb.slash(h.member, h.general, "episode", query="s9e1", series=TALK)
        assert narrowed.embeds[0]["footer"]["text"] == "Talk Tuesdays"
        typed = await sb.slash(h.member, h.general, "episode", query="s9e1", series="talk tuesdays")
        assert typed.embeds[0]["title"] == "S9:E1 · Talking Vector Search"
        names = await sb.autocomplete(h.member, h.general, "episode", "series", "tue")
        assert [(c["name"], c["value"]) for c in names] == [("Talk Tuesdays", TALK)]
        only_talk = await sb.autocomplete(h.member, h.general, "episode", "query", "", series=TALK)
        assert only_talk and all(c["name"].startswith("Talk Tuesdays · ") for c in only_talk)
        unknown = await sb.slash(h.member, h.general, "episode", query="s9e1", series="zzz")
        assert unknown.ephemeral and "Talk Tuesdays" in unknown.content and not unknown.embeds

        # No query: the next livestream or AMA of any series (Model Mondays' is first).
        nxt = await sb.slash(h.member, h.general, "episode")
        assert nxt.embeds[0]["footer"]["text"] == "Model Mondays"
        # "Add to calendar" on Talk Tuesdays' answer gives Talk Tuesdays' episode.
        [ics] = [i for i in ids(talk.message) if i.startswith("amabot:ics:")]
        assert ics == "amabot:ics:talk:s9-e01"
        calendar = await sb.wait_final(await sb.click(h.member, h.general, talk.message, ics))
        assert calendar.content.startswith("Talk Tuesdays · S9:E1 · Talking Vector Search")


async def test_schedule_groups_by_series(tmp_path):
    async with two_series(tmp_path, ManualClock(SUNDAY)) as h:
        sb = h.sandbox
        result = await sb.slash(h.member, h.general, "schedule", count=10)
        embeds = result.embeds
        assert [e["title"] for e in embeds] == [
            "Model Mondays: coming up",
            "Talk Tuesdays: coming up",
        ]
        assert "Agents in Production" in embeds[0]["description"]
        assert "Talking Vector Search" not in embeds[0]["description"]
        assert "Talking Vector Search" in embeds[1]["description"]
        assert "Fine Tuning" not in embeds[1]["description"]
        assert embeds[-1]["footer"]["text"].startswith("Times are shown in your own time zone")
        one = await sb.slash(h.member, h.general, "schedule", series=TALK)
        assert [e["title"] for e in one.embeds] == ["Talk Tuesdays: coming up"]


async def test_notify_and_its_buttons_per_series(tmp_path):
    clock = ManualClock(SUNDAY)
    async with two_series(tmp_path, clock) as h:
        sb, me = h.sandbox, h.member.id
        db = h.bot.db.optin
        # /notify set for Talk Tuesdays only.
        done = await final(
            sb,
            sb.slash(
                h.member, h.general, "notify", subcommand="set",
                stream="ama", how="dm:1h", series=TALK,
            ),
        )  # fmt: skip
        assert done.ephemeral and done.content.startswith("Done (Talk Tuesdays):")
        assert (await db.pref(me, "ama", series=TALK)).mode is Mode.DM
        assert await db.pref(me, "ama") is None  # Model Mondays' (the home series) untouched
        talk_dm = rk(f"dm:{me}:{TALK}/s9-e01:ama:1h", AMA_START + H)
        assert await h.bot.db.outbox.get(talk_dm) is not None
        assert await h.bot.db.outbox.get(rk(f"dm:{me}:s9-e01:ama:1h", AMA_START)) is None

        status = await final(sb, sb.slash(h.member, None, "notify", subcommand="status"))
        mm, talk = status.content.split("__Talk Tuesdays__")
        assert "__Model Mondays__" in mm and "**AMAs**: off" in mm
        assert "**AMAs**: a DM 1 hour before" in talk

        # Model Mondays' (the home series') reminder keeps the ids of before several series
        # (no series in them): they mean the home series.
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        (home,) = sb.messages(h.reminders)
        assert "amabot:remindme:livestream" in ids(home)
        chooser = await final(
            sb, sb.click(h.member, h.reminders, home, "amabot:remindme:livestream")
        )
        bare = "amabot:notify:livestream:dm:10m"
        assert bare in ids(chooser.message)
        chosen = await final(sb, sb.click(h.member, h.reminders, chooser.message, bare))
        assert chosen.content.startswith("Done (Model Mondays):")
        assert (await db.pref(me, "livestream")).lead == timedelta(minutes=10)
        assert await db.pref(me, "livestream", series=TALK) is None

        # Talk Tuesdays' reminder carries its series in "Remind me"; the chooser it opens,
        # and the choice made there, are Talk Tuesdays'.
        clock.set(LS_START + timedelta(days=1) - H)
        await h.posting.deliver_due()
        talk_channel = h.show(TALK).reminders
        (reminder,) = sb.messages(talk_channel)
        remind = "amabot:remindme:livestream@talk"
        assert remind in ids(reminder)
        chooser = await final(sb, sb.click(h.member, talk_channel, reminder, remind))
        assert "of Talk Tuesdays" in chooser.content
        choice = "amabot:notify:livestream@talk:dm:1h"
        assert choice in ids(chooser.message)
        await final(sb, sb.click(h.member, talk_channel, chooser.message, choice))
        assert (await db.pref(me, "livestream", series=TALK)).lead == H
        assert (await db.pref(me, "livestream")).lead == timedelta(minutes=10)

        # The Talk Tuesdays AMA DM arrives with "Stop these" for Talk Tuesdays' AMAs; it
        # stops those only.
        clock.set(AMA_START)  # Talk Tuesdays' AMA is at 11:30, an hour after Model Mondays'
        await h.posting.deliver_due()
        dms = sb.messages(sb.world.dm_channel(me))
        [talk_msg] = [m for m in dms if "Talking Vector Search" in str(m)]
        assert "amabot:optout:ama@talk" in ids(talk_msg)
        stopped = await final(
            sb, sb.click(h.member, sb.world.dm_channel(me), talk_msg, "amabot:optout:ama@talk")
        )
        assert "(Talk Tuesdays)" in stopped.content
        assert (await db.pref(me, "ama", series=TALK)).mode is Mode.OFF
        assert (await db.pref(me, "livestream", series=TALK)).mode is Mode.DM
        assert await db.pref(me, "ama") is None


async def test_announce_and_skip_per_series(tmp_path):
    clock = ManualClock(SUNDAY)
    async with two_series(tmp_path, clock) as h:
        sb = h.sandbox
        talk = h.show(TALK)
        # /announce create for Talk Tuesdays: its announcements channel by default.
        preview = await create(h, message="Vector search AMA moved", when="in 2h", series=TALK)
        assert f"<#{talk.announcements.id}>" in preview.content
        await sb.wait_final(
            await sb.click(h.organiser, h.general, preview.message, button(preview, "Confirm"))
        )
        [row] = [p for p in await h.bot.db.outbox.all() if p.kind == "announce"]
        assert (row.channel_id, row.series) == (talk.announcements.id, TALK)
        # Without a series: the first series' channel, as before.
        first = await create(h, message="Welcome", when="in 3h")
        assert f"<#{h.announcements.id}>" in first.content
        unknown = await create(h, message="Hello", when="in 3h", series="nope")
        assert unknown.ephemeral and "Talk Tuesdays" in unknown.content

        # /announce skip: the episode both series have is picked from the list (its value
        # names the series) and skips that series' reminders only.
        choices = await sb.autocomplete(
            h.organiser, h.general, "announce", "episode", "s9e1", subcommand="skip"
        )
        assert [c["value"] for c in choices[:2]] == ["model-mondays:s9-e01", "talk:s9-e01"]
        assert choices[1]["name"].startswith("Talk Tuesdays · S9:E1")
        ambiguous = await sb.wait_final(
            await sb.slash(
                h.organiser, h.general, "announce", subcommand="skip", episode="s9e1", event="both"
            )
        )
        assert "several series" in ambiguous.content
        skipped = await sb.wait_final(
            await sb.slash(
                h.organiser, h.general, "announce", subcommand="skip",
                episode="talk:s9-e01", event="livestream",
            )
        )  # fmt: skip
        assert skipped.ephemeral and "reminder:talk/s9-e01:livestream:1h" in skipped.content
        talk_key = rk("reminder:talk/s9-e01:livestream:1h", LS_START + timedelta(days=1))
        mm_key = rk("reminder:s9-e01:livestream:1h", LS_START)
        assert (await h.bot.db.outbox.get(talk_key)).status == "cancelled"
        assert (await h.bot.db.outbox.get(mm_key)).status == "pending"
