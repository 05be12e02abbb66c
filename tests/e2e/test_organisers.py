"""/announce end to end: who may use it, preview -> Confirm/Cancel, list, cancel, skip, mentions.

The real bot against the Discord stand-in with a ManualClock (Sunday 2025-07-13 16:00 UTC)
and one scheduled episode of our own, so reminders exist to list, cancel and skip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.cli.plan import collect_plan
from bot.clock import ManualClock
from bot.config import load_settings
from bot.plan.posts import PostStatus
from testkit.harness import Harness
from testkit.sandbox.interactions import build_options
from tests.builders import episode_md
from tests.e2e.episodes import AMA_START, LS_START, rk
from tests.e2e.test_reminders import SUNDAY, sends_of

MANAGE_EVENTS = 1 << 33
ONLY_ORGANISERS = "Only organisers can do that."
APPLICATION_COMMAND = 2


@contextlib.asynccontextmanager
async def running(
    base: Path,
    clock: ManualClock,
    *,
    episodes: Mapping[str, str] | None = None,
    offsets: tuple[str, ...] = ("1h", "10m"),
    organiser_role_ids: list[int] | None = None,
) -> AsyncIterator[Harness]:
    content = base / "content-src"
    (content / "episodes").mkdir(parents=True)
    for name, text in (episodes or {"s9-e01": episode_md()}).items():
        (content / "episodes" / f"{name}.md").write_text(text, encoding="utf-8")
    h = Harness(
        base / "world",
        clock=clock,
        content_source=content,
        overrides={"reminders": {"offsets": list(offsets)}},
    )
    await h.start()
    try:
        if organiser_role_ids is not None:
            h.overrides = {**h.overrides, "organisers": {"role_ids": organiser_role_ids}}
            h.settings = load_settings(h.write_config(), environ=h.environ)
        await h.start_bot()
        yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()


async def drafts(h: Harness) -> list[str]:
    prefix = "announce.draft:"
    return [prefix + rest for rest in await h.bot.db.state.with_prefix(prefix)]


async def announce_rows(h: Harness) -> list[Any]:
    return [p for p in await h.bot.db.outbox.all() if p.kind == "announce"]


def button(result, label: str) -> str:
    for row in result.components:
        for comp in row["components"]:
            if comp.get("label") == label:
                return comp["custom_id"]
    raise AssertionError(f"no {label!r} button in {result.components}")


async def create(h: Harness, **options: Any):
    """An organiser runs /announce create in #general with these options.

    Built by hand: `Sandbox.slash(member, channel, ...)` cannot take an option named
    `channel` through its keyword arguments.
    """
    sb = h.sandbox
    command = sb.world.find_command(h.guild.id, "announce")
    opts, resolved = build_options(
        sb.world, command, "create", options, focused=None, guild_id=h.guild.id
    )
    data = {"id": command["id"], "name": "announce", "type": 1, "options": opts}
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved:
        data["resolved"] = resolved
    iid = await sb.send_interaction(h.organiser, h.general, APPLICATION_COMMAND, data)
    await sb.wait_for(lambda: sb.interactions[iid].acknowledged, what="/announce create")
    return sb.result(iid)


# -- who counts as an organiser -----------------------------------------------------------------


async def test_a_non_organiser_is_refused_on_every_subcommand_and_button(tmp_path):
    async with running(tmp_path, ManualClock(SUNDAY)) as h:
        sb = h.sandbox
        lookalike_role = sb.add_role(h.guild, "Organisers")  # same name, another role
        lookalike = sb.add_member(h.guild, "mallory", roles=[lookalike_role])
        await sb.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(h.guild.id), "role": lookalike_role.payload()}
        )
        pending_before = [p.key for p in await h.bot.db.outbox.pending()]
        key = pending_before[0]

        for who in (h.member, lookalike):
            calls = {
                "create": {"message": "hello", "when": "in 2h"},
                "list": {},
                "cancel": {"key": key},
                "skip": {"episode": "s9-e01", "event": "ama"},
            }
            for sub, options in calls.items():
                result = await sb.slash(who, h.general, "announce", subcommand=sub, **options)
                assert result.ephemeral, (who, sub)
                assert result.content == ONLY_ORGANISERS, (sub, result.content)
            assert (
                await sb.autocomplete(who, h.general, "announce", "key", "", subcommand="cancel")
                == []
            )
            assert (
                await sb.autocomplete(
                    who, h.general, "announce", "episode", "s9", subcommand="skip", event="ama"
                )
                == []
            )

        # An organiser's preview, clicked by someone else (a forwarded or forged click).
        preview = await create(h, message="Hello all", when="in 2h")
        for who in (h.member, lookalike):
            for label in ("Confirm", "Cancel"):
                clicked = await sb.click(who, h.general, preview.message, button(preview, label))
                assert clicked.ephemeral and clicked.content == ONLY_ORGANISERS

        # From a DM: /announce is a guild command; a forged DM invocation is refused too.
        command = sb.world.find_command(h.guild.id, "announce")
        data = {
            "id": command["id"],
            "name": "announce",
            "type": 1,
            "options": [{"name": "list", "type": 1, "options": []}],
        }
        iid = await sb.send_interaction(h.organiser, None, APPLICATION_COMMAND, data)
        await sb.wait_for(lambda: sb.interactions[iid].acknowledged, what="the DM refusal")
        dm = sb.result(iid)
        assert dm.ephemeral
        assert dm.content  # a refusal in words, not a list of posts
        assert "Pending posts" not in dm.content and not dm.embeds

        assert [p.key for p in await h.bot.db.outbox.pending()] == pending_before
        assert await announce_rows(h) == []
        assert await h.bot.db.audit.recent() == []
        assert len(await drafts(h)) == 1  # the organiser's own preview, still open
        assert sb.messages(h.announcements) == []


async def test_manage_events_counts_when_no_organiser_roles_are_configured(tmp_path):
    async with running(tmp_path, ManualClock(SUNDAY), organiser_role_ids=[]) as h:
        sb = h.sandbox
        events_role = sb.add_role(h.guild, "Event team", permissions=MANAGE_EVENTS)
        await sb.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(h.guild.id), "role": events_role.payload()}
        )
        planner = sb.add_member(h.guild, "pat", roles=[events_role])
        allowed = await sb.slash(planner, h.general, "announce", subcommand="list")
        assert allowed.embeds[0]["title"].startswith("Pending posts")
        # Holding the "Organisers" role means nothing once role_ids is empty.
        refused = await sb.slash(h.organiser, h.general, "announce", subcommand="list")
        assert refused.content == ONLY_ORGANISERS


# -- create: validation, preview, Cancel, Confirm -------------------------------------------------


async def test_create_refuses_bad_input_before_any_preview(tmp_path):
    async with running(tmp_path, ManualClock(SUNDAY)) as h:
        sb = h.sandbox
        await sb.deny_channel(h.general)
        cases = [
            ({"message": "hi", "when": "2025-07-01 09:00"}, "is in the past"),
            ({"message": "hi", "when": "yesterday-ish"}, "yesterday-ish"),
            ({"message": "x" * 2001, "when": "in 2h"}, "2001 characters"),
            (
                {"message": "x" * 1990, "when": "in 2h", "role": h.members_role},
                "with the role mention",
            ),
            ({"message": "hi", "when": "in 2h", "channel": h.general}, "I can't post in <#"),
        ]
        for options, reason in cases:
            result = await create(h, **options)
            assert result.ephemeral
            assert reason in result.content, (options.get("when"), result.content)
            assert not result.components, "refused before the preview: no Confirm button"
        assert await drafts(h) == []
        assert await announce_rows(h) == []


async def test_preview_then_cancel_writes_nothing(tmp_path):
    async with running(tmp_path, ManualClock(SUNDAY)) as h:
        sb = h.sandbox
        before = await h.bot.db.outbox.all()
        preview = await create(h, message="Doors open soon", when="in 2h", role=h.members_role)
        assert preview.ephemeral
        due = SUNDAY + timedelta(hours=2)
        assert f"<t:{int(due.timestamp())}:F>" in preview.content
        assert f"<#{h.announcements.id}>" in preview.content
        assert f"it will ping <@&{h.members_role.id}> and nobody else" in preview.content
        assert f"<@&{h.members_role.id}> Doors open soon" in preview.embeds[0]["description"]

        cancelled = await sb.click(
            h.organiser, h.general, preview.message, button(preview, "Cancel")
        )
        assert "nothing was scheduled" in cancelled.content
        assert await h.bot.db.outbox.all() == before
        assert await drafts(h) == []
        assert await h.bot.db.audit.recent() == []
        assert sb.result(preview.id).components == []  # the preview lost its buttons
        assert await announce_rows(h) == []


async def test_preview_then_confirm_posts_once_at_its_time(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(tmp_path, clock) as h:
        sb = h.sandbox
        preview = await create(h, message="Stage opens at 10:15 PT", when="tomorrow 09:00")
        # 09:00 Los Angeles (the series zone) on Monday = 16:00 UTC.
        due = datetime(2025, 7, 14, 16, 0, tzinfo=UTC)
        assert f"<t:{int(due.timestamp())}:F>" in preview.content
        assert "it will ping nobody" in preview.content

        confirm = button(preview, "Confirm")
        # A double click: both clicks reach the bot before it has replaced the preview.
        first, second = await asyncio.gather(
            sb.click(h.organiser, h.general, preview.message, confirm),
            sb.click(h.organiser, h.general, preview.message, confirm),
        )
        done, again = sorted((first, second), key=lambda r: "Scheduled" not in r.content)
        assert "Scheduled `announce:1`" in done.content
        assert again.ephemeral and "already handled" in again.content
        [row] = await announce_rows(h)
        assert (row.key, row.status, row.due_at) == ("announce:1", PostStatus.PENDING, due)
        assert (row.channel_id, row.created_by) == (h.announcements.id, h.organiser.user.id)
        assert "announce:1" in h.posting.wakeups.job_ids()
        plan = await collect_plan(h.settings, days=7, clock=clock)  # `amabot plan` lists it
        assert "announce:1" in [p["key"] for p in plan["pending"]]
        [audit] = await h.bot.db.audit.for_key("announce:1")
        assert (audit.action, audit.actor_id) == ("announce.create", h.organiser.user.id)

        assert len(await announce_rows(h)) == 1
        assert await drafts(h) == []

        clock.set(due - timedelta(seconds=1))
        await h.posting.deliver_due()
        assert sb.messages(h.announcements) == []
        clock.set(due)
        await h.posting.deliver_due()
        await h.posting.deliver_due()
        [posted] = sb.messages(h.announcements)
        assert posted["content"] == "Stage opens at 10:15 PT"
        assert sb.pings(posted).nobody
        assert len(sb.requests_to("POST", f"/channels/{h.announcements.id}/messages")) == 1
        assert (await h.bot.db.outbox.get("announce:1")).status is PostStatus.SENT


async def test_mentions_typed_into_an_announcement_never_ping(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(tmp_path, clock) as h:
        sb = h.sandbox
        sneaky = (
            f"@everyone @here <@{h.member.user.id}> <@!{h.member.user.id}> "
            f"<@&{h.organisers_role.id}> come to the AMA"
        )
        for n, role in enumerate((h.members_role, None), start=1):
            options = {"message": sneaky, "when": f"in {n}h"}
            if role is not None:
                options["role"] = role
            preview = await create(h, **options)
            await sb.click(h.organiser, h.general, preview.message, button(preview, "Confirm"))
        clock.advance(timedelta(hours=2))
        await h.posting.deliver_due()
        with_role, without = sb.messages(h.announcements)
        assert "@everyone" in with_role["content"]  # the text is kept as typed
        pings = sb.pings(with_role)
        assert pings.roles == [h.members_role.id]
        assert pings.users == [] and not pings.everyone
        assert sb.pings(without).nobody


# -- list, cancel, skip ----------------------------------------------------------------------


def list_lines(result) -> list[str]:
    return result.embeds[0]["description"].split("\n")


async def test_list_is_paginated_soonest_first(tmp_path):
    monday = date(2025, 7, 14)
    episodes = {
        f"s9-e0{n}": episode_md(
            id=f"s9-e0{n}",
            number=n,
            livestream=f"{monday + timedelta(weeks=n - 1)}T10:30",
            ama=f"{monday + timedelta(weeks=n - 1, days=4)}T10:30",
        )
        for n in (1, 2, 3)
    }
    async with running(
        tmp_path, ManualClock(SUNDAY), episodes=episodes, offsets=("24h", "1h", "10m", "0m")
    ) as h:
        sb = h.sandbox
        pending = await h.bot.db.outbox.pending()
        assert len(pending) == 24
        first = await sb.slash(h.organiser, h.general, "announce", subcommand="list")
        assert first.ephemeral
        assert first.embeds[0]["title"] == "Pending posts: page 1 of 3 (24 in all)"
        lines = list_lines(first)
        assert len(lines) == 10
        assert lines[0].startswith(f"`{rk('reminder:s9-e01:livestream:24h', LS_START)}` → ")
        assert f"<#{h.reminders.id}>" in lines[0] and ":R>" in lines[0]
        assert [line.split("`")[1] for line in lines] == [p.key for p in pending[:10]]

        second = await sb.click(h.organiser, h.general, first.message, "amabot:list:2")
        assert second.embeds[0]["title"].startswith("Pending posts: page 2 of 3")
        assert [line.split("`")[1] for line in list_lines(second)] == [
            p.key for p in pending[10:20]
        ]
        last = await sb.slash(h.organiser, h.general, "announce", subcommand="list", page=99)
        assert last.embeds[0]["title"].startswith("Pending posts: page 3 of 3")
        assert [line.split("`")[1] for line in list_lines(last)] == [p.key for p in pending[20:]]
        buttons = last.components[0]["components"]
        assert [(b["label"], b.get("disabled", False)) for b in buttons] == [
            ("Previous", False),
            ("Next", True),
        ]
        refused = await sb.click(h.member, h.general, first.message, "amabot:list:3")
        assert refused.content == ONLY_ORGANISERS


async def test_cancel_with_autocomplete_is_recorded_and_sticks(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(tmp_path, clock) as h:
        sb = h.sandbox
        choices = await sb.autocomplete(
            h.organiser, h.general, "announce", "key", "ama", subcommand="cancel"
        )
        assert [c["value"] for c in choices] == [
            rk("reminder:s9-e01:ama:1h", AMA_START),
            rk("reminder:s9-e01:ama:10m", AMA_START),
        ]
        key = rk("reminder:s9-e01:ama:1h", AMA_START)
        result = await sb.wait_final(
            await sb.slash(h.organiser, h.general, "announce", subcommand="cancel", key=key)
        )
        assert result.ephemeral and result.content == f"Cancelled `{key}`."
        post = await h.bot.db.outbox.get(key)
        assert (post.status, post.cancelled_by) == (PostStatus.CANCELLED, h.organiser.user.id)
        [audit] = await h.bot.db.audit.for_key(key)
        assert (audit.action, audit.actor_id) == ("post.cancel", h.organiser.user.id)
        assert key not in h.posting.wakeups.job_ids()
        choices = await sb.autocomplete(
            h.organiser, h.general, "announce", "key", "ama", subcommand="cancel"
        )
        assert [c["value"] for c in choices] == [rk("reminder:s9-e01:ama:10m", AMA_START)]

        again = await sb.wait_final(
            await sb.slash(h.organiser, h.general, "announce", subcommand="cancel", key=key)
        )
        assert "Nothing to cancel: it is cancelled" in again.content
        # A content change (a reconcile) does not bring an organiser's cancel back.
        await h.merge({"episodes/s9-e01.md": episode_md(title="Fine Tuning, revisited")}, "edit")
        await h.posting.sync.pull_now("test")
        assert (await h.bot.db.outbox.get(key)).status is PostStatus.CANCELLED
        clock.set(datetime(2025, 7, 18, 16, 30, tzinfo=UTC))
        await h.posting.deliver_due()
        assert sb.messages(h.reminders) == []  # the livestream's were skipped as late
        assert sends_of(h, key) == []


async def test_skip_one_events_reminders_is_recorded(tmp_path):
    clock = ManualClock(SUNDAY)
    async with running(tmp_path, clock) as h:
        sb = h.sandbox
        choices = await sb.autocomplete(
            h.organiser,
            h.general,
            "announce",
            "episode",
            "fine tuning",
            subcommand="skip",
            event="ama",
        )
        assert choices and choices[0]["value"] == "s9-e01"
        result = await sb.wait_final(
            await sb.slash(
                h.organiser, h.general, "announce", subcommand="skip", episode="s9-e01", event="ama"
            )
        )
        assert result.ephemeral
        assert "Skipped 2 reminder(s) for S9:E1" in result.content
        statuses = {p.key: p.status for p in await h.bot.db.outbox.all()}
        assert statuses == {
            rk("reminder:s9-e01:livestream:1h", LS_START): PostStatus.PENDING,
            rk("reminder:s9-e01:livestream:10m", LS_START): PostStatus.PENDING,
            rk("reminder:s9-e01:ama:1h", AMA_START): PostStatus.CANCELLED,
            rk("reminder:s9-e01:ama:10m", AMA_START): PostStatus.CANCELLED,
        }
        [audit] = await h.bot.db.audit.recent()
        assert (audit.action, audit.key, audit.actor_id) == (
            "reminders.skip",
            "s9-e01:ama",
            h.organiser.user.id,
        )
        again = await sb.wait_final(
            await sb.slash(
                h.organiser, h.general, "announce", subcommand="skip", episode="s9-e01", event="ama"
            )
        )
        assert "No pending reminders" in again.content
        assert len(await h.bot.db.audit.recent()) == 1
        await h.restart_bot()  # the start-up reconcile leaves the skip alone
        assert (await h.bot.db.outbox.get(rk("reminder:s9-e01:ama:1h", AMA_START))).status is (
            PostStatus.CANCELLED
        )


# -- in time, whatever the store is doing ----------------------------------------------------


async def test_create_list_and_confirm_answer_in_time_when_the_store_is_slow(tmp_path):
    """Every organiser interaction is acknowledged within Discord's 3 s even when each store
    write takes 4 s (a long write elsewhere holding SQLite): the member never sees "This
    interaction failed", and the answer arrives as a follow-up or an edit of the original."""
    async with running(tmp_path, ManualClock(SUNDAY)) as h:
        sb = h.sandbox
        service = h.bot.get_cog("Organisers").announcements

        def slowed(name):
            real = getattr(service, name)

            async def slow(*args, **kwargs):
                await asyncio.sleep(4)
                return await real(*args, **kwargs)

            setattr(service, name, slow)

        for name in ("save_draft", "confirm", "pending_page"):
            slowed(name)
        preview = await sb.wait_final(
            await create(h, message="Doors open soon", when="in 2h"), timeout=15
        )
        assert preview.deferred and preview.ephemeral
        assert "Doors open soon" in (preview.content + str(preview.embeds))
        confirmed = await sb.wait_final(
            await sb.click(h.organiser, h.general, preview.message, button(preview, "Confirm")),
            timeout=15,
        )
        assert "Scheduled `announce:1`" in confirmed.content
        listed = await sb.wait_final(
            await sb.slash(h.organiser, h.general, "announce", subcommand="list"), timeout=15
        )
        assert listed.deferred and "announce:1" in (listed.content + str(listed.embeds))
        assert sb.failed_interactions == []
        [row] = await announce_rows(h)
        assert row.status is PostStatus.PENDING
