"""The real bot on PostgreSQL, end to end: `[storage] database` set to a URL, the real
discord.py client against the Discord stand-in, a real git repository. A merged recap is
announced once, under the lease's first term; a restart on the same database reposts
nothing. (A second bot beside the first is the standby's story: tests of issue 22's standby.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.plan.posts import PostStatus
from testkit.harness import Harness
from tests import builders


@pytest.fixture
async def harness(tmp_path, postgres_url):
    h = Harness(tmp_path, overrides={"storage": {"database": postgres_url}})
    await h.start()
    try:
        yield h
    finally:
        await h.stop()


async def started(h: Harness) -> None:
    await h.start_bot()
    await h.posting.sync.wait_for_attempts(1)
    await h.posting.sync.wait_idle()


async def test_a_recap_goes_out_once_across_a_restart(harness):
    h = harness
    await started(h)
    assert h.bot.db.description.startswith("postgresql://")
    recap = builders.recap_md("a", "Recap A", published=datetime.now(UTC) - timedelta(minutes=5))
    await h.merge({"recaps/a.md": recap}, "Recap A")
    assert await h.send_webhook() == 202
    await h.posting.sync.wait_idle()
    await h.sandbox.wait_for_message(
        h.announcements, lambda m: bool(m.get("embeds")) and m["embeds"][0]["title"] == "Recap A"
    )
    info = await h.bot.db.leases.get()
    assert info is not None and info.term >= 1

    await h.stop_bot()
    await started(h)
    await h.posting.deliver_due()
    sent = [
        m
        for m in h.sandbox.messages(h.announcements)
        if m.get("embeds") and m["embeds"][0]["title"] == "Recap A"
    ]
    assert len(sent) == 1
    assert (await h.bot.db.outbox.get("recap:a")).status is PostStatus.SENT
