"""Rewritten history recovers on its own (issue 15, item 4), end to end.

A force-push to the content repository used to stop every announcement ("diverged") until a
person acted, and the person's fix (`git reset --hard origin/main`) was not picked up until
a restart. Now the checkout follows the remote, the bot re-plans from the new tree, announces
what is new, never again what the outbox holds as sent, and tells the organisers once.
Real bot, stand-in, real git repositories (bare remote, checkout, author clone), real SQLite.
"""

from __future__ import annotations

import pytest

from bot.config import load_settings
from testkit.harness import git
from tests.e2e.test_recaps import announced, merge_and_push, recap_md, started, titles


def alerts_to(h) -> list:
    return h.sandbox.requests_to("POST", f"/channels/{h.alerts.id}/messages")


@pytest.fixture
async def world(harness):
    h = harness
    h.alerts = h.sandbox.add_channel(h.guild, "organisers", "text")
    h.overrides = {"organisers": {"alerts_channel_id": h.alerts.id}}
    h.settings = load_settings(h.write_config(), environ=h.environ)
    await started(h)
    return h


async def test_a_force_push_is_followed_and_the_organisers_told_once(world):
    h = world
    await merge_and_push(h, {"recaps/one.md": recap_md("one", "Recap one")}, "one")
    await announced(h, "Recap one")
    # The maintainer rewrites the last commit (a typo fix) and adds a recap, then force-pushes.
    (h.repo.author / "recaps" / "one.md").write_text(recap_md("one", "Recap one"))
    (h.repo.author / "recaps" / "two.md").write_text(recap_md("two", "Recap two"))
    git("add", "-A", cwd=h.repo.author)
    git("commit", "-q", "--amend", "-m", "one and two", cwd=h.repo.author)
    git("push", "-q", "--force", "origin", "main", cwd=h.repo.author)
    assert await h.send_webhook() == 202
    await h.posting.sync.wait_idle()

    await announced(h, "Recap two")
    assert h.repo.head() == git("rev-parse", "HEAD", cwd=h.repo.author)
    assert titles(h, h.announcements).count("Recap one") == 1  # sent once, not again
    await h.sandbox.wait_for(lambda: len(alerts_to(h)) == 1)
    [alert] = h.sandbox.messages(h.alerts)
    assert "rewritten" in alert["content"] and h.repo.head()[:12] in alert["content"]
    assert h.sandbox.pings(alert).roles == [] and not h.sandbox.pings(alert).everyone
    # An organiser alert like any other: never skipped for being late, never published.
    row = await h.bot.db.outbox.get(f"alert:rewritten:{h.repo.head()}")
    assert (row.kind, row.message_id) == ("alert", int(alert["id"]))

    # More pulls and a restart: nothing more to say, nothing announced twice.
    await h.restart_bot()
    await h.posting.sync.pull_now("test")
    await h.posting.deliver_due()
    assert len(alerts_to(h)) == 1
    assert titles(h, h.announcements).count("Recap two") == 1
    health = (await h.posting.health())["content"]
    assert health["last_error"] is None
    # And the next ordinary merge is announced as usual.
    await merge_and_push(h, {"recaps/three.md": recap_md("three", "Recap three")}, "three")
    await announced(h, "Recap three")


async def test_a_checkout_moved_by_hand_is_picked_up_without_a_restart(world):
    h = world
    # A recap lands on GitHub; a person updates the server's checkout by hand before the bot
    # pulls (fetch + reset, as the old error message told them to).
    await h.merge({"recaps/hand.md": recap_md("hand", "By hand")}, "hand")
    git("fetch", "-q", "origin", cwd=h.repo.checkout)
    git("reset", "-q", "--hard", "origin/main", cwd=h.repo.checkout)
    result = await h.posting.sync.pull_now("poll")
    assert result.ok and result.before == result.after  # the pull itself saw nothing new
    await announced(h, "By hand")
    assert alerts_to(h) == []  # a person did it: nothing to tell them
