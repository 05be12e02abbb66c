"""Opt-in reminders end to end: /notify, the "Remind me" chooser, DMs through the outbox,
"Stop these", closed DMs, "Interested" on our Discord event, the self-assigned role."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import ManualClock
from bot.plan.posts import PostStatus, nonce_for
from tests.builders import episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import (
    AMA_START,
    LS_START,
    SUNDAY,
    WEEK,
    events_on,
    livestream_role_config,
    ours,
    rk,
    weekly_episodes,
    world,
)
from tests.e2e.test_recaps import recap_md

H = timedelta(hours=1)


def dm_channel(h, member=None):
    return h.sandbox.world.dm_channel((member or h.member).id)


def dm_sends(h, key: str):
    nonce = nonce_for(key)
    return [
        r
        for r in h.sandbox.requests_to("POST", "/channels/*/messages")
        if isinstance(r.json, dict) and r.json.get("nonce") == nonce
    ]


def ids(message) -> list[str]:
    return [
        b["custom_id"]
        for row in message.get("components", [])
        for b in row["components"]
        if "custom_id" in b
    ]


async def click(sb, *args, **kwargs):
    """A click, and its final answer: the notify buttons acknowledge first, then answer."""
    return await sb.wait_final(await sb.click(*args, **kwargs))


async def slash(sb, *args, **kwargs):
    return await sb.wait_final(await sb.slash(*args, **kwargs))


async def notify(h, stream: str, how: str, who=None):
    return await slash(
        h.sandbox, who or h.member, h.general, "notify", subcommand="set", stream=stream, how=how
    )


async def test_a_dm_at_the_chosen_lead_time_exactly_once_across_a_restart(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(tmp_path, clock=clock, episodes={"s9-e01": episode_md()}) as h:
        answer = await notify(h, "ama", "dm:10m")
        assert answer.ephemeral and "DM you 10 minutes before each AMA" in answer.content
        key = rk(f"dm:{h.member.id}:s9-e01:ama:10m", AMA_START)
        post = await h.bot.db.outbox.get(key)
        assert post.status is PostStatus.PENDING and post.due_at == AMA_START - timedelta(
            minutes=10
        )
        status = await slash(h.sandbox, h.member, None, "notify", subcommand="status")  # in a DM
        assert status.ephemeral and "**AMAs**: a DM 10 minutes before" in status.content
        assert "**Livestreams**: off" in status.content

        clock.set(AMA_START - H)  # the channel's 1-hour reminder, no DM yet
        await h.posting.deliver_due()
        assert h.sandbox.messages(dm_channel(h)) == []
        clock.set(AMA_START - timedelta(minutes=10))
        await h.posting.deliver_due()
        (dm,) = h.sandbox.messages(dm_channel(h))
        assert "AMA in 10 minutes" in dm["content"] and "<@&" not in dm["content"]
        assert "amabot:optout:ama" in ids(dm)
        assert h.sandbox.pings(dm).nobody

        await h.restart_bot()
        await h.posting.deliver_due()
        await h.posting.reconcile()
        assert len(h.sandbox.messages(dm_channel(h))) == 1
        assert len(dm_sends(h, key)) == 1
        assert (await h.bot.db.outbox.get(key)).status is PostStatus.SENT


async def test_stop_these_in_a_dm_ends_that_stream(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(tmp_path, clock=clock, episodes=weekly_episodes(2)) as h:
        await notify(h, "livestream", "dm:1h")
        await notify(h, "ama", "dm:1h")
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        (dm,) = h.sandbox.messages(dm_channel(h))
        stopped = await click(h.sandbox, h.member, dm_channel(h), dm, "amabot:optout:livestream")
        assert stopped.ephemeral and "no more reminders of livestreams" in stopped.content
        pref = await h.bot.db.optin.pref(h.member.id, "livestream")
        assert pref.mode == "off"
        # Next week's livestream DM is cancelled; the AMA DMs stay.
        week2 = await h.bot.db.outbox.get(
            rk(f"dm:{h.member.id}:s9-e02:livestream:1h", LS_START + WEEK)
        )
        assert week2.status is PostStatus.CANCELLED
        ama = await h.bot.db.outbox.get(rk(f"dm:{h.member.id}:s9-e01:ama:1h", AMA_START))
        assert ama.status is PostStatus.PENDING
        clock.set(AMA_START - H)
        await h.posting.deliver_due()
        clock.set(LS_START + timedelta(days=7) - H)
        await h.posting.deliver_due()
        contents = [m["content"] for m in h.sandbox.messages(dm_channel(h))]
        assert len(contents) == 2 and "AMA in 1 hour" in contents[1]  # no second livestream DM


async def test_closed_dms_are_recorded_and_not_retried(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(tmp_path, clock=clock, episodes={"s9-e01": episode_md()}) as h:
        await notify(h, "livestream", "dm:1h")
        await notify(h, "ama", "dm:1h")
        h.sandbox.close_dms(h.member)
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        key = rk(f"dm:{h.member.id}:s9-e01:livestream:1h", LS_START)
        failed = await h.bot.db.outbox.get(key)
        assert failed.status is PostStatus.FAILED and "50007" in failed.reason
        assert h.member.id in await h.bot.db.optin.dm_closed()
        ama = await h.bot.db.outbox.get(rk(f"dm:{h.member.id}:s9-e01:ama:1h", AMA_START))
        assert ama.status is PostStatus.CANCELLED
        await h.posting.reconcile()
        assert (await h.bot.db.outbox.get(ama.key)).status is PostStatus.CANCELLED
        assert len(dm_sends(h, key)) == 1  # tried once, not again
        # Organisers are not alerted about a member's closed DMs.
        assert h.sandbox.messages(h.general) == []
        status = await slash(h.sandbox, h.member, h.general, "notify", subcommand="status")
        assert "DMs were closed" in status.content
        # Choosing DMs again reopens: the AMA DM is planned again.
        h.sandbox.close_dms(h.member, closed=False)
        await notify(h, "ama", "dm:1h")
        assert (await h.bot.db.outbox.get(ama.key)).status is PostStatus.PENDING


async def test_interested_on_our_event_means_a_dm(tmp_path):
    clock = ManualClock(SUNDAY)

    def configure(h):
        return {**events_on(h), "optin": {"interested_dm": True}}

    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        await h.posting.reconcile_events()
        _, ama = ours(h)
        key = rk(f"dm:{h.member.id}:s9-e01:ama:1h", AMA_START)
        await h.sandbox.mark_interested(h.member, ama["id"])
        await eventually(lambda: h.bot.db.outbox.get(key), lambda p: p is not None)
        await h.sandbox.mark_interested(h.member, ama["id"], interested=False)
        await eventually(
            lambda: h.bot.db.outbox.get(key), lambda p: p.status is PostStatus.CANCELLED
        )
        await h.sandbox.mark_interested(h.member, ama["id"])
        await eventually(lambda: h.bot.db.outbox.get(key), lambda p: p.status is PostStatus.PENDING)
        # A person's event: interest in it is none of the bot's business.
        theirs = await h.sandbox.add_scheduled_event(
            h.guild, "Game night", start=SUNDAY + 3 * H, end=SUNDAY + 4 * H
        )
        await h.sandbox.mark_interested(h.organiser, theirs["id"])
        clock.set(AMA_START - H)
        await h.posting.deliver_due()
        (dm,) = h.sandbox.messages(dm_channel(h))
        assert "AMA in 1 hour" in dm["content"] and "amabot:optout:ama" in ids(dm)
        assert not [i for i in await h.bot.db.optin.interested() if i.member_id == h.organiser.id]


async def test_role_self_assigned_and_removed_with_the_remind_me_button(tmp_path):
    clock = ManualClock(SUNDAY)

    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=livestream_role_config
    ) as h:
        sb = h.sandbox
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        reminder = await sb.wait_for_message(h.reminders)
        assert "amabot:remindme:livestream" in ids(reminder)

        chooser = await click(sb, h.member, h.reminders, reminder, "amabot:remindme:livestream")
        assert chooser.ephemeral and "Now: off" in chooser.content
        assert ids(chooser.message)[0] == "amabot:notify:livestream:role"
        chosen = await click(sb, h.member, h.reminders, chooser.message, ids(chooser.message)[0])
        assert f"<@&{h.ls_role.id}>" in chosen.content
        member = sb.world.guild(h.guild).members[h.member.id]
        assert h.ls_role.id in member.roles
        assert len(sb.requests_to("PUT", "/guilds/*/members/*/roles/*")) == 1

        again = await click(sb, h.member, h.reminders, reminder, "amabot:remindme:livestream")
        assert "Now: the role" in again.content
        off = await click(sb, h.member, h.reminders, again.message, "amabot:notify:livestream:off")
        assert "no reminders for livestreams" in off.content
        assert h.ls_role.id not in member.roles
        assert len(sb.requests_to("DELETE", "/guilds/*/members/*/roles/*")) == 1

        # /episode's "Remind me" asks which stream first, then offers that stream' choices.
        reply = await sb.slash(h.member, h.general, "episode", query="s9e1")
        picker = await click(sb, h.member, h.general, reply.message, "amabot:remindme")
        assert ids(picker.message) == [
            "amabot:remindme:livestream",
            "amabot:remindme:ama",
            "amabot:remindme:recaps",
        ]
        ama = await click(sb, h.member, h.general, picker.message, "amabot:remindme:ama")
        assert "amabot:notify:ama:role" not in ids(ama.message)  # no AMA role configured
        done = await click(sb, h.member, h.general, ama.message, "amabot:notify:ama:dm:24h")
        assert "1 day before each AMA" in done.content
        assert (await h.bot.db.optin.pref(h.member.id, "ama")).lead == timedelta(days=1)

        # Role mode without a configured role is refused in plain words.
        refused = await notify(h, "ama", "role")
        assert refused.ephemeral and "no role for AMAs" in refused.content


async def test_recaps_by_dm_one_per_new_recap_until_stopped(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(tmp_path, clock=clock, episodes={"s9-e01": episode_md()}) as h:
        await h.posting.sync.wait_idle()
        chooser = await slash(h.sandbox, h.member, h.general, "episode", query="s9e1")
        picker = await click(h.sandbox, h.member, h.general, chooser.message, "amabot:remindme")
        recaps = await click(
            h.sandbox, h.member, h.general, picker.message, "amabot:remindme:recaps"
        )
        assert "amabot:notify:recaps:dm" in ids(recaps.message)
        answer = await notify(h, "recaps", "dm")
        assert answer.ephemeral and "DM you each new recap" in answer.content
        status = await slash(h.sandbox, h.member, None, "notify", subcommand="status")
        assert "**Recaps**: a DM for each new recap" in status.content

        published = SUNDAY - timedelta(minutes=5)
        first = recap_md("r1", "Recap One", published=published, episode="s9-e01")
        await h.merge({"recaps/r1.md": first}, "Recap One")
        await h.posting.sync.pull_now("poll")
        key = f"dm:{h.member.id}:recap:r1"
        (dm,) = h.sandbox.messages(dm_channel(h))
        assert dm["embeds"][0]["title"] == "Recap One" and "<@&" not in dm["content"]
        assert "(delayed)" not in dm["content"] and "amabot:optout:recaps" in ids(dm)
        assert h.sandbox.pings(dm).nobody
        (announced,) = h.sandbox.messages(h.announcements)
        assert f"<@&{h.members_role.id}>" in announced["content"]

        # Another pass (and a restart) sends neither again.
        await h.posting.sync.pull_now("poll")
        await h.restart_bot()
        await h.posting.reconcile()
        await h.posting.deliver_due()
        assert len(h.sandbox.messages(dm_channel(h))) == 1 and len(dm_sends(h, key)) == 1
        assert len(h.sandbox.messages(h.announcements)) == 1

        stopped = await click(h.sandbox, h.member, dm_channel(h), dm, "amabot:optout:recaps")
        assert stopped.ephemeral and "no more reminders of recaps" in stopped.content
        clock.set(SUNDAY + timedelta(minutes=1))
        second = recap_md("r2", "Recap Two", published=published, episode="s9-e01")
        await h.merge({"recaps/r2.md": second}, "Recap Two")
        await h.posting.sync.pull_now("poll")
        assert len(h.sandbox.messages(h.announcements)) == 2
        assert len(h.sandbox.messages(dm_channel(h))) == 1
        assert await h.bot.db.outbox.get(f"dm:{h.member.id}:recap:r2") is None

        # Opting in again brings new recaps, not the ones already announced.
        clock.set(SUNDAY + timedelta(minutes=2))
        await notify(h, "recaps", "dm")
        await h.posting.deliver_due()
        assert len(h.sandbox.messages(dm_channel(h))) == 1
        assert await h.bot.db.outbox.get(f"dm:{h.member.id}:recap:r2") is None
