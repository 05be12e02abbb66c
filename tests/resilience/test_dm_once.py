"""A DM reminder and the ambiguous failure, with Discord's own nonce window (3 minutes).

In process (the real bot against the sandbox, one ManualClock for both): Discord stores the
DM and answers 503, then stays down a few minutes; the bot's retry comes after the nonce
window, and nothing else tells it the member already has the DM. Counted per outbox key in
the member's DM channel. Before issue 14 the bot sent it twice (this was a strict xfail);
now the DM's history is read before any resend.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import ManualClock
from bot.plan.optin import dm_key
from bot.plan.posts import PostStatus
from tests.builders import episode_md
from tests.e2e.episodes import AMA_START, SUNDAY, world


async def test_a_dm_stored_then_answered_503_reaches_the_member_once(tmp_path):
    clock = ManualClock(SUNDAY)
    async with world(tmp_path, clock=clock, episodes={"s9-e01": episode_md()}) as h:
        sb = h.sandbox
        assert sb.nonce_window == 180.0  # Discord's "few minutes", not a short test knob
        await sb.wait_final(  # /notify acknowledges first, then saves the choice
            await sb.slash(
                h.member, h.general, "notify", subcommand="set", stream="ama", how="dm:10m"
            )
        )
        key = dm_key(h.member.id, "s9-e01", "ama", timedelta(minutes=10), AMA_START)
        dm = sb.world.dm_channel(h.member.id)
        route = f"POST /channels/{dm.id}/messages"
        clock.set(AMA_START - timedelta(minutes=10))
        sb.fail_after_store(route, 503)
        await h.posting.deliver_due()
        assert len(sb.messages(dm)) == 1  # the member has it; the bot was told it failed
        # Discord is down for four minutes (nothing stored), then back.
        sb.fail_next(1000, 503, route)
        for _ in range(8):
            clock.advance(timedelta(seconds=30))
            await h.posting.deliver_due()
        sb.clear_faults()
        clock.advance(timedelta(seconds=30))
        await h.posting.deliver_due()
        post = await h.bot.db.outbox.get(key)
        assert post.status is PostStatus.SENT
        assert len(sb.messages(dm)) == 1, [m["content"][:40] for m in sb.messages(dm)]
