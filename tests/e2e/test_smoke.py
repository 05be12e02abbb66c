"""The bot connects to the stand-in, syncs its commands and answers a member."""

from __future__ import annotations


async def test_bot_answers_episode_in_the_guild(harness):
    await harness.start_bot()
    result = await harness.sandbox.slash(harness.member, harness.general, "episode", query="s2e5")
    assert result.response_type == 4
    assert result.embeds[0]["title"].startswith("S2:E5")
    assert not result.ephemeral
