"""The running bot's self-check: a permission taken away is found on the channel update,
told to the organisers once (restarts included) and shown in /healthz; once it is given back,
what Discord refused meanwhile goes out if still in time, else is skipped with both reasons."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import ManualClock
from bot.plan.posts import PostStatus
from tests.builders import episode_md
from tests.e2e.conftest import eventually
from tests.e2e.episodes import LS_START, SUNDAY, rk, world

M = timedelta(minutes=1)


def alerts_in(h) -> list[str]:
    return [m["content"] for m in h.sandbox.messages(h.alerts) if "Set-up problem" in m["content"]]


async def fast(h):
    cog = h.bot.get_cog("SelfCheck")
    cog.check.debounce = 0.01
    return cog.check


async def test_a_refused_channel_is_told_once_and_its_posts_recover(tmp_path):
    clock = ManualClock(SUNDAY)

    def configure(h):
        h.alerts = h.sandbox.add_channel(h.guild, "organisers", "text")
        return {
            "organisers": {"alerts_channel_id": h.alerts.id},
            "reminders": {"offsets": ["1h", "10m"]},
        }

    async with world(
        tmp_path, clock=clock, episodes={"s9-e01": episode_md()}, configure=configure
    ) as h:
        sb = h.sandbox
        check = await fast(h)
        await check.wait_runs(1)  # the check at READY: all fine
        assert check.findings and all(f.ok for f in check.findings), check.findings
        assert alerts_in(h) == []

        runs = check.runs
        await sb.deny_channel(h.reminders)
        await check.wait_runs(runs + 1)
        [alert] = alerts_in(h)
        assert "#reminders" in alert and "Send Messages" in alert and "Fix:" in alert
        health = await h.posting.health()
        assert health["ok"] is False
        assert any("Send Messages" in p["problem"] for p in health["setup_problems"])

        # Refused meanwhile: the 1-hour reminder, then the 10-minute one.
        clock.set(LS_START - 60 * M)
        await h.posting.deliver_due()
        clock.set(LS_START - 10 * M)
        await h.posting.deliver_due()
        outbox = h.bot.db.outbox
        one_hour = rk("reminder:s9-e01:livestream:1h", LS_START)
        ten_min = rk("reminder:s9-e01:livestream:10m", LS_START)
        for key in (one_hour, ten_min):
            assert (await outbox.get(key)).status is PostStatus.FAILED

        # A restart with the problem still there does not tell it again.
        await h.restart_bot()
        check = await fast(h)
        await check.wait_runs(1)
        assert [f for f in check.findings if not f.ok]
        assert len(alerts_in(h)) == 1

        # Fixed at LS_START - 7 min: the 10-minute reminder is still in its grace (5 min),
        # the 1-hour one (15 min) is not.
        clock.set(LS_START - 7 * M)
        outbox = h.bot.db.outbox
        runs = check.runs
        await sb.deny_channel(h.reminders, allow=True)
        await check.wait_runs(runs + 1)
        sent = await eventually(lambda: outbox.get(ten_min), lambda p: p.status is PostStatus.SENT)
        assert sent.message_id in {int(m["id"]) for m in sb.messages(h.reminders)}
        late = await outbox.get(one_hour)
        assert late.status is PostStatus.SKIPPED
        assert "403" in late.reason and "past its deadline when the permission came back" in (
            late.reason
        )
        assert (await h.posting.health())["setup_problems"] == []
        assert len(alerts_in(h)) == 1
