"""Recaps announced when they are merged (issue 5), end to end.

The real bot (discord.py) against the Discord stand-in, real git repositories (a bare remote,
the bot's checkout, an author's clone) and a real SQLite file. The bot runs on the real clock:
recaps are dated a few minutes ago, so they are due the moment they are merged, and the sample
content's recaps (2025) are the backlog of the first start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.plan.posts import PostStatus, nonce_for
from bot.web.webhook import sign
from testkit import storeview
from testkit.harness import WEBHOOK_SECRET, Harness
from tests import builders
from tests.builders import episode_md

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)
MESSAGES = "POST /channels/{channel_id}/messages"
EDITS = "PATCH /channels/{channel_id}/messages/{message_id}"
CROSSPOSTED = 1 << 0
IMAGE = builders.CARD


# This suite's recaps are published a few minutes before it started, unless told.
recap_md = partial(builders.recap_md, published=NOW - timedelta(minutes=5))


def posts_to(h: Harness, channel: Any) -> list[Any]:
    return [
        r
        for r in h.sandbox.requests_to("POST", "/channels/{channel_id}/messages")
        if r.path == f"/channels/{channel.id}/messages"
    ]


def titles(h: Harness, channel: Any) -> list[str]:
    return [m["embeds"][0]["title"] for m in h.sandbox.messages(channel) if m.get("embeds")]


async def announced(h: Harness, title: str, *, timeout: float = 10) -> dict[str, Any]:
    return await h.sandbox.wait_for_message(
        h.announcements,
        lambda m: bool(m.get("embeds")) and m["embeds"][0]["title"] == title,
        timeout=timeout,
    )


async def merge_and_push(h: Harness, files: dict[str, str | None], message: str) -> None:
    """A merge on GitHub: commit + push, then the push webhook; returns once it is pulled."""
    await h.merge(files, message)
    assert await h.send_webhook() == 202
    await h.posting.sync.wait_idle()


async def row(h: Harness, key: str):
    return await h.bot.db.outbox.get(key)


async def healthz(h: Harness, status: int = 200) -> dict[str, Any]:
    """`/healthz`: 200 when all is well, 503 with the reasons when something is wrong."""
    url = h.bot.webhook.url + "/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == status
        return await response.json()


async def started(h: Harness) -> None:
    """The bot running and its start-up pull done: from here every change is the test's."""
    await h.start_bot()
    await h.posting.sync.wait_for_attempts(1)
    await h.posting.sync.wait_idle()


# -- a merge, announced once -----------------------------------------------------------------


async def test_merged_recap_is_announced_once_by_webhook_and_poll_adds_nothing(harness):
    h = harness
    await started(h)
    before = await h.posting.health()
    assert before["posts"]["skipped"] == 3  # the sample recaps: the first start's backlog

    await merge_and_push(
        h, {"recaps/s2-e05-recap.md": recap_md("s2-e05-recap", "S2:E5 Fine Tuning")}, "Recap"
    )
    message = await announced(h, "S2:E5 Fine Tuning")

    embed = message["embeds"][0]
    assert embed["description"] == "What we learned this week."
    assert embed["url"] == "https://example.org/recaps/s2-e05-recap/"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "S2:E5" in fields["Episode"]
    assert "Nitya Narasimhan" in fields["Authors"] and "Sharda Kaur" in fields["Authors"]
    assert "fine-tuning" in fields["Tags"]
    assert embed["image"]["url"] == IMAGE
    button = message["components"][0]["components"][0]
    assert button["label"] == "Read the recap"
    assert button["url"] == "https://example.org/recaps/s2-e05-recap/"
    role = h.members_role.id
    assert message["content"].startswith(f"<@&{role}>")
    [post] = posts_to(h, h.announcements)
    assert post.json["allowed_mentions"] == {
        "parse": [],
        "roles": [str(role)],
        "users": [],
        "replied_user": False,
    }
    assert post.json["nonce"] == nonce_for("recap:s2-e05-recap")
    assert post.json["enforce_nonce"] is True
    pings = h.sandbox.pings(message["id"])
    assert pings.roles == [role] and not pings.users and not pings.everyone
    # An announcement channel: the message is published to following servers too.
    await h.sandbox.wait_for_request(lambda r: r.path.endswith(f"/{message['id']}/crosspost"))
    assert h.sandbox.messages(h.announcements)[0]["flags"] & CROSSPOSTED

    # The same commit seen again by the poll: nothing more.
    result = await h.posting.sync.pull_now("poll")
    assert result.ok and result.before == result.after
    assert len(posts_to(h, h.announcements)) == 1
    assert len(h.sandbox.messages(h.announcements)) == 1

    health = await healthz(h)
    assert health["last_commit"] == h.repo.head()
    assert health["last_reload_at"]
    assert health["posts"]["sent"] == 1 and health["posts"]["failed"] == 0
    assert health["ok"] is True


# -- restarts --------------------------------------------------------------------------------


async def test_restart_reposts_nothing(harness):
    h = harness
    await started(h)
    await merge_and_push(h, {"recaps/a.md": recap_md("a", "Recap A")}, "Recap A")
    await announced(h, "Recap A")

    await h.stop_bot()
    await started(h)
    await h.posting.deliver_due()
    assert len(posts_to(h, h.announcements)) == 1
    assert (await row(h, "recap:a")).status is PostStatus.SENT


async def test_deleted_database_applies_the_backlog_and_reposts_nothing(harness):
    h = harness
    await started(h)
    await merge_and_push(h, {"recaps/a.md": recap_md("a", "Recap A")}, "Recap A")
    await announced(h, "Recap A")
    await h.stop_bot()

    database = Path(h.settings.storage.database)
    for path in database.parent.glob(database.name + "*"):
        path.unlink()
    await started(h)
    await h.posting.deliver_due()
    post = await row(h, "recap:a")
    assert post.status is PostStatus.SKIPPED and post.reason == "backlog"
    assert len(posts_to(h, h.announcements)) == 1


# -- what counts as new ----------------------------------------------------------------------


async def test_draft_announces_nothing_until_it_is_published(harness):
    h = harness
    await started(h)
    await merge_and_push(h, {"recaps/d.md": recap_md("d", "Drafty", draft=True)}, "Draft")
    assert await row(h, "recap:d") is None
    assert posts_to(h, h.announcements) == []

    await merge_and_push(h, {"recaps/d.md": recap_md("d", "Drafty")}, "Publish")
    await announced(h, "Drafty")
    assert len(posts_to(h, h.announcements)) == 1


async def test_ten_recaps_in_one_push_are_ten_messages_oldest_first(harness):
    h = harness
    await started(h)
    base = NOW - timedelta(minutes=30)
    # Ids run backwards against dates: the order must come from the dates, not the names.
    files = {
        f"recaps/r-{9 - i}.md": recap_md(
            f"r-{9 - i}", f"Recap number {i}", published=base + timedelta(minutes=i)
        )
        for i in range(10)
    }
    await merge_and_push(h, files, "Ten recaps")
    await announced(h, "Recap number 9")
    await h.sandbox.wait_for(lambda: len(h.sandbox.messages(h.announcements)) >= 10)
    assert titles(h, h.announcements) == [f"Recap number {i}" for i in range(10)]
    assert len(posts_to(h, h.announcements)) == 10


async def test_recap_edited_after_announcement_is_one_patch_not_a_new_message(harness):
    h = harness
    await started(h)
    await merge_and_push(h, {"recaps/e.md": recap_md("e", "Old title")}, "Recap")
    message = await announced(h, "Old title")

    await merge_and_push(
        h,
        {"recaps/e.md": recap_md("e", "New title", summary="A better summary.")},
        "Fix the title",
    )
    await h.sandbox.wait_for(lambda: h.sandbox.requests_to("PATCH", "/channels/*/messages/*"))
    [patch] = h.sandbox.requests_to("PATCH", "/channels/*/messages/*")
    assert patch.path == f"/channels/{h.announcements.id}/messages/{message['id']}"
    [shown] = h.sandbox.messages(h.announcements)
    assert shown["embeds"][0]["title"] == "New title"
    assert shown["embeds"][0]["description"] == "A better summary."
    assert len(posts_to(h, h.announcements)) == 1
    assert not (await row(h, "recap:e")).edit_pending

    await h.posting.sync.pull_now("poll")  # seen again: no second edit
    assert len(h.sandbox.requests_to("PATCH", "/channels/*/messages/*")) == 1


async def test_renamed_recap_with_the_same_id_is_not_new_and_a_deleted_one_posts_nothing(harness):
    h = harness
    await started(h)
    await merge_and_push(h, {"recaps/m.md": recap_md("m", "Moving recap")}, "Recap")
    await announced(h, "Moving recap")

    text = (h.repo.author / "recaps" / "m.md").read_text()
    await merge_and_push(
        h, {"recaps/m.md": None, "recaps/2025/moved-m.md": text}, "Move it to a folder"
    )
    [moved] = [r for r in h.bot.index.recaps() if r.id == "m"]
    assert moved.path.endswith("recaps/2025/moved-m.md")  # known, at its new path
    assert (await row(h, "recap:m")).status is PostStatus.SENT
    assert len(posts_to(h, h.announcements)) == 1
    await merge_and_push(h, {"recaps/2025/moved-m.md": None}, "Delete it")
    await h.posting.deliver_due()
    assert len(posts_to(h, h.announcements)) == 1
    assert h.sandbox.requests_to("PATCH", "/channels/*/messages/*") == []
    assert h.sandbox.requests_to("DELETE", "/channels/*/messages/*") == []
    assert (await row(h, "recap:m")).status is PostStatus.SENT


# -- the webhook refuses what is not GitHub's ------------------------------------------------


async def test_bad_webhooks_are_refused_and_pull_nothing(harness):
    h = harness
    await started(h)
    attempts = h.posting.sync.attempts
    head = h.repo.head()
    await h.merge({"recaps/w.md": recap_md("w", "Not yet")}, "Recap on the remote")

    good = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
    replayed = sign(good, WEBHOOK_SECRET.encode())
    tampered = good.replace(b"0" * 40, b"1" * 40)
    assert await h.send_webhook(signature="sha256=" + "ab" * 32) == 401
    assert await h.send_webhook(secret=False) == 401  # type: ignore[arg-type]
    assert await h.send_webhook(body=tampered, signature=replayed) == 401
    assert await h.send_webhook(body=b" " * (2 * 1024 * 1024)) == 413

    assert h.repo.head() == head
    assert h.posting.sync.attempts == attempts
    assert posts_to(h, h.announcements) == []


# -- without the webhook -----------------------------------------------------------------------


@pytest.mark.harness(overrides={"webhook": {"listen": ""}, "content": {"poll_interval": "1s"}})
async def test_without_webhook_the_poll_announces_within_one_interval(harness):
    h = harness
    await started(h)
    assert h.bot.webhook is None
    await h.merge({"recaps/p.md": recap_md("p", "Polled recap")}, "Recap")
    merged = asyncio.get_running_loop().time()
    await announced(h, "Polled recap", timeout=5)
    took = asyncio.get_running_loop().time() - merged
    assert took <= 1.0 + 0.75, f"the poll took {took:.2f}s for a 1s interval"
    assert len(posts_to(h, h.announcements)) == 1


# -- crashes and Discord's bad days ------------------------------------------------------------


@pytest.mark.harness(overrides={"announcements": {"backlog_days": 30}})
async def test_killed_between_send_and_record_leaves_exactly_one_message(harness):
    """`amabot run` as a real process, SIGKILLed the moment the stand-in has stored the
    message and before its answer leaves: the row stays `sending`, the message exists."""
    h = harness
    sb = h.sandbox
    # Inside the 30-day backlog window: announced on the very first start.
    await h.merge({"recaps/k.md": recap_md("k", "Crash test")}, "Recap")

    proc: asyncio.subprocess.Process | None = None
    store = sb._store_and_announce

    async def store_then_kill(sm: Any) -> None:
        await store(sm)
        if (
            proc is not None
            and proc.returncode is None
            and sm.data["channel_id"] == str(h.announcements.id)
        ):
            os.kill(proc.pid, signal.SIGKILL)

    sb._store_and_announce = store_then_kill
    env = {k: v for k, v in os.environ.items() if k != "AMABOT_CONFIG"}
    env.update(h.environ)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(h.config_path),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert await asyncio.wait_for(proc.wait(), timeout=30) == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    sb._store_and_announce = store
    assert len(sb.messages(h.announcements)) == 1
    rows = await storeview.outbox_rows(h.settings.storage.database)
    assert rows["recap:k"].status == "sending"

    await h.start_bot()
    await sb.wait_for_request(lambda r: r.path.endswith("/crosspost"))
    post = await row(h, "recap:k")
    assert post.status is PostStatus.SENT
    [message] = sb.messages(h.announcements)
    assert post.message_id == int(message["id"])
    # On restart the bot looked for its message and found it: no resend was needed.
    assert len(posts_to(h, h.announcements)) == 1
    assert sb.requests_to("GET", f"/channels/{h.announcements.id}/messages")


async def test_429_storm_and_503_burst_announce_every_recap_exactly_once(harness):
    h = harness
    sb = h.sandbox
    await started(h)
    h.posting.dispatcher.first_backoff = timedelta(milliseconds=100)

    sb.fail_every(2, 429, retry_after=0.05)  # a storm: every other request is rate limited
    base = NOW - timedelta(minutes=20)
    files = {
        f"recaps/s{i}.md": recap_md(f"s{i}", f"Storm {i}", published=base + timedelta(minutes=i))
        for i in range(4)
    }
    await merge_and_push(h, files, "Four recaps in a storm")
    await sb.wait_for(lambda: len(sb.messages(h.announcements)) >= 4, timeout=15)
    sb.clear_faults()
    assert sum(r.status == 429 for r in sb.requests) >= 4

    sb.fail_next(3, 503, "POST /channels/*/messages")
    files = {
        f"recaps/b{i}.md": recap_md(f"b{i}", f"Burst {i}", published=base + timedelta(minutes=i))
        for i in range(3)
    }
    await merge_and_push(h, files, "Three recaps in a burst of 503s")
    await sb.wait_for(lambda: len(sb.messages(h.announcements)) >= 7, timeout=15)
    await h.posting.deliver_due()

    assert sum(r.status == 503 for r in sb.requests) == 3
    shown = titles(h, h.announcements)
    assert sorted(shown) == sorted(
        [f"Storm {i}" for i in range(4)] + [f"Burst {i}" for i in range(3)]
    )
    assert shown[4:] == ["Burst 0", "Burst 1", "Burst 2"]  # the retried one was not overtaken
    for key in [f"recap:s{i}" for i in range(4)] + [f"recap:b{i}" for i in range(3)]:
        assert (await row(h, key)).status is PostStatus.SENT


# -- refusals ----------------------------------------------------------------------------------


async def test_403_on_the_channel_fails_the_post_with_its_reason_and_others_still_go(
    harness, caplog
):
    h = harness
    sb = h.sandbox
    h.settings = _with_alerts(h)
    await started(h)
    await sb.deny_channel(h.announcements)
    # A livestream in a little under an hour: its 1h reminder is due now, in #reminders.
    start = NOW.replace(microsecond=0) + timedelta(hours=1) - timedelta(seconds=20)
    with caplog.at_level(logging.ERROR, logger="amabot.delivery"):
        await merge_and_push(
            h,
            {
                "recaps/f.md": recap_md("f", "Refused recap"),
                "episodes/s9-e01.md": episode_md(
                    title="Agents at Work",
                    summary="",
                    guests=(),
                    hosts=(),
                    timezone=None,
                    livestream=start.isoformat(timespec="seconds"),
                    livestream_url="https://example.org/live/",
                    ama=None,
                ),
            },
            "A recap and an episode",
        )
        reminder = await sb.wait_for_message(h.reminders, timeout=10)
        alert = await sb.wait_for_message(h.general, timeout=10)
    assert "Agents at Work" in json.dumps(reminder)

    post = await row(h, "recap:f")
    assert post.status is PostStatus.FAILED
    assert "403" in post.reason and "Missing Permissions" in post.reason
    assert any("recap:f" in r.getMessage() and "403" in r.getMessage() for r in caplog.records)
    assert "recap:f" in alert["content"] and "Missing Permissions" in alert["content"]
    assert sb.pings(alert["id"]).nobody
    assert sb.messages(h.announcements) == []

    health = await healthz(h, 503)
    assert health["ok"] is False
    assert health["posts"]["failed"] == 1
    assert health["failed"][0]["key"] == "recap:f"
    assert "Missing Permissions" in health["failed"][0]["reason"]
    assert health["problems"][0]["action"] == "send"
    assert health["ok"] is False

    await h.stop_bot()
    plan = await _amabot_plan(h, "--format", "json")
    failed = {p["key"]: p["reason"] for p in json.loads(plan)["recent"]["failed"]}
    assert "Missing Permissions" in failed["recap:f"]
    text = await _amabot_plan(h)
    assert "Last failed" in text and "recap:f" in text and "Missing Permissions" in text


def _with_alerts(h: Harness):
    """The alerts channel is only known once the sandbox guild exists: write it in now."""
    from bot.config import load_settings

    h.overrides = {**h.overrides, "organisers": {"alerts_channel_id": h.general.id}}
    h.write_config()
    return load_settings(h.config_path, environ=h.environ)


async def _amabot_plan(h: Harness, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "AMABOT_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "plan",
        "--config",
        str(h.config_path),
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


# -- git trouble -------------------------------------------------------------------------------


async def test_failing_fetch_is_logged_and_the_bot_keeps_answering(harness, caplog):
    h = harness
    await started(h)
    shutil.rmtree(h.repo.remote)
    with caplog.at_level(logging.WARNING, logger="amabot.gitsync"):
        assert await h.send_webhook() == 202
        await h.posting.sync.wait_idle()
    result = h.posting.sync.last_result
    assert not result.ok and "git fetch" in result.error
    assert any("content pull failed" in r.getMessage() for r in caplog.records)
    assert (await healthz(h, 503))["content"]["last_error"] == result.error

    answer = await h.sandbox.slash(h.member, h.general, "episode", query="s2e5")
    assert answer.embeds[0]["title"].startswith("S2:E5")
    assert not h.posting._sync_task.done()  # still polling, will retry
