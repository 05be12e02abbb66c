"""The bot runs against the stand-in: sync once, survive gateway drops, retry 429 and 5xx."""

from __future__ import annotations

from datetime import datetime

from bot.plan.posts import PostStatus
from tests.e2e.conftest import eventually

SYNC_ROUTE = "/applications/*/commands"
GUILD_SYNC_ROUTE = "/applications/*/guilds/*/commands"


def _recap(title: str, day: datetime) -> str:
    return (
        f"---\ndate:\n  created: {day:%Y-%m-%d}\ndraft: false\nauthors: [nitya]\n"
        f"tags: [demo]\n---\n\n# {title}\n\n> A summary of {title}.\n"
    )


async def test_commands_sync_once_and_not_again_after_restart(harness):
    await harness.start_bot()
    sb = harness.sandbox
    first = len(sb.requests_to("PUT", SYNC_ROUTE)) + len(sb.requests_to("PUT", GUILD_SYNC_ROUTE))
    assert first >= 1
    names = {c["name"] for r in sb.requests_to("PUT", SYNC_ROUTE) for c in r.json}
    assert {"episode", "recap", "schedule"} <= names
    guild_names = {c["name"] for r in sb.requests_to("PUT", GUILD_SYNC_ROUTE) for c in r.json}
    assert "announce" in guild_names

    await harness.restart_bot()
    again = len(sb.requests_to("PUT", SYNC_ROUTE)) + len(sb.requests_to("PUT", GUILD_SYNC_ROUTE))
    assert again == first, "a restart with unchanged commands must not sync again"
    result = await sb.slash(harness.member, harness.general, "schedule")
    assert result.response_type == 4


async def test_interaction_sent_during_gateway_outage_is_answered_after_resume(harness):
    await harness.start_bot()
    sb = harness.sandbox
    await sb.close_gateway(4000)
    result = await sb.slash(harness.member, harness.general, "episode", query="s2e5")
    await sb.wait_resumed()
    assert result.embeds[0]["title"].startswith("S2:E5")
    assert sb.gateway.log.resumes, "the bot must RESUME, not IDENTIFY again"
    assert len(sb.gateway.log.identifies) == 1
    assert "INTERACTION_CREATE" in sb.gateway.log.replayed


async def test_429_on_a_message_send_is_retried_and_posts_once(harness):
    await harness.start_bot()
    sb = harness.sandbox
    sb.fail_next(1, 429, route="POST /channels/{channel_id}/messages", retry_after=0.2)
    today = harness.clock()  # a recap dated today is announced at any hour of the day
    await harness.merge({"recaps/new-recap.md": _recap("S2:E7 A fresh recap", today)}, "recap")
    await harness.posting.sync.pull_now("test")
    message = await sb.wait_for_message(harness.announcements, timeout=10)
    assert "A fresh recap" in str(message)
    posts = sb.requests_to("POST", "/channels/*/messages")
    assert [r.status for r in posts] == [429, 200]
    assert posts[0].json == posts[1].json  # retried with the same body and nonce
    assert len(sb.messages(harness.announcements)) == 1
    row = await eventually(
        lambda: harness.bot.db.outbox.get("recap:new-recap"),
        lambda post: post.status is PostStatus.SENT,
    )
    assert row.message_id == int(message["id"])


async def test_503_on_an_interaction_callback_is_retried(harness):
    await harness.start_bot()
    sb = harness.sandbox
    sb.fail_next(1, 503, route="POST /interactions/*/*/callback")
    result = await sb.slash(harness.member, harness.general, "episode", query="s2e5")
    assert result.embeds[0]["title"].startswith("S2:E5")
    callbacks = sb.requests_to("POST", "/interactions/*/*/callback")
    assert [r.status for r in callbacks] == [503, 200]


async def test_the_bot_closes_cleanly_with_the_store(harness):
    bot = await harness.start_bot()
    store = bot.db
    await harness.stop_bot()
    assert bot.is_closed()
    assert bot.store is None
    assert store.description  # the Store object survives; its connection is closed
