"""Several series in one community (issue 20), end to end: the real bot (discord.py) against
the strict Discord stand-in, a real git repository holding both series' folders, a real
SQLite file. Each series posts in its own channels with its own roles; planning one never
touches the other's rows; a series added to a running deployment does not flood its backlog;
a single-series database keeps its keys and re-sends nothing.

The clock is a ManualClock: advance it, then `deliver_due()`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from bot.plan.posts import PostStatus, nonce_for
from testkit.harness import Harness
from tests.builders import episode_md, recap_md
from tests.e2e.episodes import AMA_START, LS_START, SUNDAY, rk

H = timedelta(hours=1)
TALK = "talk"


def talk_episode(n: int = 1, **changes: Any) -> str:
    return episode_md(
        id=f"t1-e{n:02d}",
        season=1,
        number=n,
        title=f"Talk {n}",
        **changes,
    )


@contextlib.asynccontextmanager
async def two_series(
    base: Path,
    clock: ManualClock,
    *,
    files: Mapping[str, str],
    second: bool = True,
) -> AsyncIterator[Harness]:
    """A harness whose content repository holds `files` (paths under the repository) and,
    with `second`, a second series "Talk Tuesdays" (folders ``talk/``) beside Model Mondays."""
    content = base / "content-src"
    for rel, text in files.items():
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_text(text, encoding="utf-8")
    (content / "episodes").mkdir(parents=True, exist_ok=True)
    h = Harness(
        base / "world",
        clock=clock,
        content_source=content,
        overrides={"reminders": {"offsets": ["1h"]}},
    )
    await h.start()
    try:
        if second:
            h.add_series(TALK, "Talk Tuesdays")
        await h.start_bot()
        yield h
    finally:
        await h.stop()
    h.sandbox.assert_valid()


def sends_of(h: Harness, key: str) -> list[Any]:
    nonce = nonce_for(key)
    return [
        r
        for r in h.sandbox.requests_to("POST", "/channels/*/messages")
        if isinstance(r.json, dict) and r.json.get("nonce") == nonce
    ]


def titles(h: Harness, channel: Any) -> list[str]:
    return [m["embeds"][0]["title"] for m in h.sandbox.messages(channel) if m.get("embeds")]


async def merge(h: Harness, files: Mapping[str, str | None], message: str) -> None:
    """A merge on GitHub: commit, push, the push webhook; returns once it is pulled."""
    await h.merge(files, message)
    assert await h.send_webhook() == 202
    await h.posting.sync.wait_idle()


# -- reminders: each series its own channel and role --------------------------------------


async def test_reminders_of_each_series_go_to_its_own_channel_and_role(tmp_path):
    clock = ManualClock(SUNDAY)
    files = {"episodes/s9-e01.md": episode_md(), "talk/episodes/t1-e01.md": talk_episode()}
    async with two_series(tmp_path, clock, files=files) as h:
        talk = h.show(TALK)
        a_key = rk("reminder:s9-e01:livestream:1h", LS_START)
        b_key = rk("reminder:talk/t1-e01:livestream:1h", LS_START)
        pending = {p.key: p.series for p in await h.bot.db.outbox.pending()}
        assert pending == {
            a_key: "model-mondays",
            rk("reminder:s9-e01:ama:1h", AMA_START): "model-mondays",
            b_key: TALK,
            rk("reminder:talk/t1-e01:ama:1h", AMA_START): TALK,
        }
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        (a_msg,) = h.sandbox.messages(h.reminders)
        (b_msg,) = h.sandbox.messages(talk.reminders)
        assert f"<@&{h.members_role.id}>" in a_msg["content"]
        assert f"<@&{talk.role.id}>" not in a_msg["content"]
        assert f"<@&{talk.role.id}>" in b_msg["content"]
        assert f"<@&{h.members_role.id}>" not in b_msg["content"]
        assert "Talk 1" in str(b_msg) and "Talk 1" not in str(a_msg)
        # Each reminder pings only its own series' role.
        assert a_msg["mention_roles"] == [str(h.members_role.id)]
        assert b_msg["mention_roles"] == [str(talk.role.id)]
        assert len(sends_of(h, a_key)) == len(sends_of(h, b_key)) == 1


async def test_planning_one_series_never_cancels_the_others_pending_rows(tmp_path):
    clock = ManualClock(SUNDAY)
    files = {"episodes/s9-e01.md": episode_md(), "talk/episodes/t1-e01.md": talk_episode()}
    async with two_series(tmp_path, clock, files=files) as h:
        b_keys = {
            rk("reminder:talk/t1-e01:livestream:1h", LS_START),
            rk("reminder:talk/t1-e01:ama:1h", AMA_START),
        }
        # Model Mondays loses its only episode: its reminders go, Talk Tuesdays' stay.
        await merge(h, {"episodes/s9-e01.md": None}, "drop s9-e01")
        summary = await h.posting.reconcile()
        rows = {p.key: p for p in await h.bot.db.outbox.all()}
        assert {k for k, p in rows.items() if p.status is PostStatus.PENDING} == b_keys
        a_ls = rows[rk("reminder:s9-e01:livestream:1h", LS_START)]
        assert a_ls.status is PostStatus.CANCELLED
        assert not set(summary.cancelled) & b_keys
        # And the other way round: Talk Tuesdays' episode cancelled, nothing of A revived.
        await merge(h, {"talk/episodes/t1-e01.md": talk_episode(status="cancelled")}, "cancel")
        rows = {p.key: p for p in await h.bot.db.outbox.all()}
        assert all(rows[k].status is PostStatus.CANCELLED for k in b_keys)
        assert rows[a_ls.key].status is PostStatus.CANCELLED


# -- recaps: announced once, in the series' own channel -----------------------------------


async def test_a_recap_merged_in_series_b_is_announced_once_in_bs_channel_only(tmp_path):
    clock = ManualClock(SUNDAY)
    files = {"talk/episodes/t1-e01.md": talk_episode()}
    async with two_series(tmp_path, clock, files=files) as h:
        talk = h.show(TALK)
        recap = recap_md("t1-e01-recap", "Talk 1 Recap", SUNDAY - H, episode="t1-e01")
        await merge(h, {"talk/recaps/t1-e01-recap.md": recap}, "recap of talk 1")
        await h.posting.deliver_due()
        await h.posting.reconcile()
        await h.posting.deliver_due()
        assert titles(h, talk.announcements) == ["Talk 1 Recap"]
        assert titles(h, h.announcements) == []
        key = "recap:talk/t1-e01-recap"
        assert len(sends_of(h, key)) == 1
        post = await h.bot.db.outbox.get(key)
        assert (post.status, post.series, post.channel_id) == (
            PostStatus.SENT,
            TALK,
            talk.announcements.id,
        )
        (message,) = h.sandbox.messages(talk.announcements)
        assert message["mention_roles"] == [str(talk.role.id)]
        # A restart sends nothing again.
        await h.restart_bot()
        await h.posting.deliver_due()
        assert len(sends_of(h, key)) == 1


# -- a series added to a running deployment ---------------------------------------------


async def test_adding_a_series_to_a_running_deployment_does_not_flood_its_backlog(tmp_path):
    clock = ManualClock(SUNDAY)
    old = {
        f"talk/recaps/old-{n}.md": recap_md(f"old-{n}", f"Old talk {n}", SUNDAY - n * 7 * 24 * H)
        for n in range(1, 4)
    }
    mm_recap = recap_md("mm-1", "Model Mondays recap", SUNDAY - 2 * H, episode="s9-e01")
    files = {**old, "episodes/s9-e01.md": episode_md(), "recaps/mm-1.md": mm_recap}
    async with two_series(tmp_path, clock, files=files, second=False) as h:
        # One series, as deployed: its recap (in the backlog of the first start) is recorded.
        first = await h.bot.db.outbox.get("recap:mm-1")
        assert (first.status, first.reason) == (PostStatus.SKIPPED, "backlog")
        a_keys = {p.key: p.status for p in await h.bot.db.outbox.all()}
        # Then the organisers add Talk Tuesdays to the config and restart the bot.
        talk = h.add_series(TALK, "Talk Tuesdays")
        await h.restart_bot()
        await h.posting.deliver_due()
        rows = {p.key: p for p in await h.bot.db.outbox.all()}
        for n in range(1, 4):
            post = rows[f"recap:talk/old-{n}"]
            assert (post.status, post.reason, post.series) == (PostStatus.SKIPPED, "backlog", TALK)
        assert h.sandbox.messages(talk.announcements) == []
        # The first series' rows are as they were: same keys, same states, nothing sent.
        assert {k: rows[k].status for k in a_keys} == a_keys
        assert h.sandbox.messages(h.announcements) == []
        # Talk Tuesdays has had its first start: a new recap goes out, and only it.
        new = recap_md("new-1", "New talk", SUNDAY - H, episode=None)
        await merge(h, {"talk/recaps/new-1.md": new}, "a new talk recap")
        await h.posting.deliver_due()
        assert titles(h, talk.announcements) == ["New talk"]
        # Another restart: no second first start for either series.
        await h.restart_bot()
        await h.posting.deliver_due()
        assert titles(h, talk.announcements) == ["New talk"]
        assert titles(h, h.announcements) == []


async def test_a_single_series_database_keeps_its_keys_when_a_series_is_added(tmp_path):
    clock = ManualClock(SUNDAY)
    files = {"episodes/s9-e01.md": episode_md(), "talk/episodes/t1-e01.md": talk_episode()}
    async with two_series(tmp_path, clock, files=files, second=False) as h:
        a_ls = rk("reminder:s9-e01:livestream:1h", LS_START)
        clock.set(LS_START - H)
        await h.posting.deliver_due()
        assert len(sends_of(h, a_ls)) == 1
        before = {p.key: (p.status, p.message_id) for p in await h.bot.db.outbox.all()}
        assert all(p.series == "model-mondays" for p in await h.bot.db.outbox.all())
        talk = h.add_series(TALK, "Talk Tuesdays")
        await h.restart_bot()
        await h.posting.deliver_due()
        after = {p.key: (p.status, p.message_id) for p in await h.bot.db.outbox.all()}
        # Model Mondays' rows: the same keys (bare), the same states; nothing re-sent.
        assert {k: after[k] for k in before} == before
        assert len(sends_of(h, a_ls)) == 1
        assert len(h.sandbox.messages(h.reminders)) == 1
        # Talk Tuesdays' rows are new and scoped; its due reminder went to its channel.
        new = set(after) - set(before)
        assert new and all(k.startswith("reminder:talk/") for k in new)
        assert len(h.sandbox.messages(talk.reminders)) == 1


# -- a database of the previous version (before several series) ------------------------------

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "series_upgrade"


async def test_a_database_of_the_previous_version_upgrades_in_place_and_resends_nothing(tmp_path):
    """tests/fixtures/series_upgrade/amabot-7aca589.sqlite3 was written by a real run of the
    code of commit 7aca589 (make_fixture.py there): recaps sent and one in the backlog,
    reminders and a member's DMs pending, an "Interested" mark, scheduled events, AMA
    sessions. This code opens it with the same single-`[series]` config, then with a second
    series added."""
    from tests.fixtures.series_upgrade.make_fixture import S2_E08, WHEN, overrides

    facts = json.loads((FIXTURE / "amabot-7aca589.json").read_text(encoding="utf-8"))
    old = facts["outbox"]
    clock = ManualClock(WHEN)
    h = Harness(tmp_path / "world", clock=clock)
    await h.start()  # the same guild, channels and roles as the run that wrote the fixture
    try:
        h.overrides = overrides(h)
        h.reload_config()
        await h.merge({"episodes/s2-e08.md": S2_E08}, "s2-e08 is coming")
        database = h.settings.storage.database
        shutil.copy(FIXTURE / "amabot-7aca589.sqlite3", database)
        await h.start_bot()
        db = h.bot.db
        assert db.db.schema_before == 6 and not db.first_start
        await h.posting.reconcile()
        await h.posting.deliver_due()
        rows = {p.key: p for p in await db.outbox.all()}
        # The same keys in the same states; every row now the one series'.
        assert {k: p.status.value for k, p in rows.items()} == old
        assert {p.series for p in rows.values()} == {"model-mondays"}
        assert await db.state.get("series.home") == "model-mondays"
        assert [(p.series, p.mode) for p in await db.optin.prefs()] == [("model-mondays", "dm")]
        assert await db.optin.interested(series="model-mondays") != []
        assert sorted(await db.events.all(series="model-mondays")) == facts["events"]
        sessions = await db.ama.sessions()
        assert [s.key.episode_id for s in sessions] == facts["ama_sessions"]
        # Nothing that was sent (or recorded as backlog) goes out again.
        settled = [k for k, status in old.items() if status in ("sent", "skipped")]
        assert all(sends_of(h, key) == [] for key in settled)
        assert h.sandbox.messages(h.announcements) == []

        # A second series added to the config: the old rows stay the first series' (bare
        # keys); the new one has its own first start (its old recap is backlog, not news).
        # Its content is merged first (the running bot, one series, pulls it and ignores it).
        old_recap = recap_md("t-old", "An old talk", WHEN - 30 * 24 * H, episode=None)
        await merge(h, {"talk/recaps/t-old.md": old_recap}, "talk tuesdays content")
        talk = h.add_series(TALK, "Talk Tuesdays")
        await h.restart_bot()
        db = h.bot.db
        await h.posting.reconcile()
        await h.posting.deliver_due()
        rows = {p.key: p for p in await db.outbox.all()}
        assert {k: rows[k].status.value for k in old} == old
        assert {rows[k].series for k in old} == {"model-mondays"}
        backlog = rows["recap:talk/t-old"]
        assert (backlog.status, backlog.reason, backlog.series) == (
            PostStatus.SKIPPED,
            "backlog",
            TALK,
        )
        assert set(rows) - set(old) == {"recap:talk/t-old"}
        assert h.sandbox.messages(talk.announcements) == []
        assert all(sends_of(h, key) == [] for key in settled)
    finally:
        await h.stop()
