"""Public replies keep no view in discord.py: the button router answers their clicks."""

from __future__ import annotations

from bot.clock import ManualClock
from tests.builders import episode_md
from tests.e2e.episodes import SUNDAY, world


async def test_episode_replies_register_no_views_and_their_buttons_still_work(tmp_path):
    async with world(tmp_path, clock=ManualClock(SUNDAY), episodes={"s9-e01": episode_md()}) as h:
        sb = h.sandbox
        for _ in range(3):
            reply = await sb.slash(h.member, h.general, "episode", query="s9e1")
        buttons = [c for row in reply.components for c in row["components"]]
        ids = [c["custom_id"] for c in buttons if "custom_id" in c]
        assert "amabot:remindme" in ids and "amabot:ics:s9-e01" in ids
        # discord.py would keep a View(timeout=None) per reply for the life of the process.
        assert h.bot.persistent_views == []
        assert not h.bot._connection._view_store._synced_message_views
        picker = await sb.click(h.member, h.general, reply.message, "amabot:remindme")
        assert picker.ephemeral and picker.components
        ics = await sb.click(h.member, h.general, reply.message, "amabot:ics:s9-e01")
        assert ics.files
