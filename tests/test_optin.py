"""Per-member reminders: DM planning, keys, closed DMs, Interested, pacing, the store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import OptinSettings, Settings
from bot.content.models import EpisodeStatus
from bot.plan.late import late_decision
from bot.plan.optin import (
    INTERESTED_LEAD,
    OPTOUT_PREFIX,
    Interest,
    Mode,
    Preference,
    dm_key,
    dm_recipient,
    is_dm_closed_error,
    notify_status_text,
    optout_custom_id,
    pace,
    parse_dm_key,
    parse_dm_key_at,
    parse_lead,
    parse_recap_dm_key,
    parse_stream_custom_id,
    plan_dm_followups,
    plan_dm_reminders,
    recap_dm_key,
)
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.render.limits import CUSTOM_ID_MAX
from bot.store import open_store
from tests.builders import make_episode as episode

LA = "America/Los_Angeles"
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
DAY = timedelta(days=1)
NOW = datetime(2025, 7, 10, 12, 0, tzinfo=UTC)
MONDAY = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)
FRIDAY = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)


def bare(key: str) -> str:
    """A DM key without its event instant."""
    return key.partition("@")[0]


def settings(**optin) -> Settings:
    return Settings(optin=OptinSettings(**optin))


def test_a_dm_at_each_chosen_lead_time_with_stable_keys():
    prefs = [
        Preference(1, "livestream", Mode.DM, DAY),
        Preference(1, "ama", Mode.DM, 10 * M),
        Preference(2, "ama", Mode.DM, H),
        Preference(3, "ama", Mode.ROLE, H),
        Preference(4, "livestream", Mode.OFF, H),
        Preference(5, "recaps", Mode.DM, H),
    ]
    plan = plan_dm_reminders([episode()], prefs, [], settings(), NOW)
    assert [(bare(p.key), p.due_at) for p in plan] == [
        ("dm:1:s2-e05:livestream:24h", MONDAY - DAY),
        ("dm:2:s2-e05:ama:1h", FRIDAY - H),
        ("dm:1:s2-e05:ama:10m", FRIDAY - 10 * M),
    ]
    again = plan_dm_reminders([episode()], list(reversed(prefs)), [], settings(), NOW)
    assert again == plan
    first = plan[0]
    assert (first.kind, first.channel_id, first.subject) == ("dm", 0, "s2-e05")
    assert first.event_start == MONDAY
    assert first.deadline == MONDAY - DAY + 2 * H  # a quarter of a day, at most 2 hours
    assert dm_recipient(first.key) == 1


def test_the_dm_reads_like_a_reminder_pings_nobody_and_has_a_stop_button():
    plan = plan_dm_reminders([episode()], [Preference(7, "ama", Mode.DM, H)], [], settings(), NOW)
    payload = plan[0].payload
    assert payload["content"].startswith(
        "⏰ **Friday AMA in 1 hour:** Fine Tuning & Distillation with Dave Voutila"
    )
    assert payload["allowed_mentions"] == {
        "parse": [],
        "roles": [],
        "users": [],
        "replied_user": False,
    }
    buttons = [c for row in payload["components"] for c in row["components"]]
    assert {"type": 2, "style": 2, "label": "Stop these", "custom_id": "amabot:optout:ama"} in (
        buttons
    )
    assert any(b.get("url") == "https://discord.gg/abc" for b in buttons)


def test_closed_dms_are_not_planned():
    prefs = [Preference(1, "ama", Mode.DM, H), Preference(2, "ama", Mode.DM, H)]
    plan = plan_dm_reminders([episode()], prefs, [], settings(), NOW, dm_closed={1})
    assert [bare(p.key) for p in plan] == ["dm:2:s2-e05:ama:1h"]


def test_cancelled_tbd_and_past_events_get_no_dm():
    prefs = [Preference(1, "ama", Mode.DM, H), Preference(1, "livestream", Mode.DM, H)]
    assert (
        plan_dm_reminders([episode(status=EpisodeStatus.CANCELLED)], prefs, [], settings(), NOW)
        == []
    )
    assert plan_dm_reminders([episode(ls_at=None, ama_at=None)], prefs, [], settings(), NOW) == []
    after_monday = MONDAY + H
    plan = plan_dm_reminders([episode()], prefs, [], settings(), after_monday)
    assert [p.key for p in plan] == ["dm:1:s2-e05:ama:1h@20250718T173000Z"]


def test_a_lead_time_already_past_its_grace_is_not_planned():
    prefs = [Preference(1, "ama", Mode.DM, DAY)]
    assert plan_dm_reminders([episode()], prefs, [], settings(), FRIDAY - 30 * M) == []
    within = plan_dm_reminders([episode()], prefs, [], settings(), FRIDAY - DAY + H)
    assert len(within) == 1


def test_interested_members_get_a_dm_only_when_configured():
    interested = [Interest(9, "event:s2-e05:ama"), Interest(10, "event:s2-e05:livestream")]
    assert plan_dm_reminders([episode()], [], interested, settings(), NOW) == []
    plan = plan_dm_reminders([episode()], [], interested, settings(interested_dm=True), NOW)
    assert [bare(p.key) for p in plan] == ["dm:10:s2-e05:livestream:1h", "dm:9:s2-e05:ama:1h"]
    assert INTERESTED_LEAD == H
    # Their own DM lead time wins, and one DM per member and event, not two.
    prefs = [Preference(9, "ama", Mode.DM, 10 * M)]
    plan = plan_dm_reminders([episode()], prefs, interested, settings(interested_dm=True), NOW)
    assert [bare(p.key) for p in plan] == ["dm:10:s2-e05:livestream:1h", "dm:9:s2-e05:ama:10m"]
    closed = plan_dm_reminders(
        [episode()], [], interested, settings(interested_dm=True), NOW, dm_closed={9, 10}
    )
    assert closed == []


def test_pace_spreads_dms_to_the_rate():
    due = FRIDAY - H
    posts = [
        PlannedPost(
            key=f"dm:{n}:x:ama:1h",
            kind="dm",
            due_at=due,
            channel_id=0,
            payload={"content": "hi"},
            deadline=due + 15 * M,
            event_start=FRIDAY,
        )
        for n in range(100)
    ]
    paced = pace(reversed(posts), 30)
    assert [p.key for p in paced] == sorted(p.key for p in posts)
    times = [p.due_at for p in paced]
    for t in times:
        assert sum(1 for u in times if t <= u < t + M) <= 30
    # Spread over the minutes before the time asked for, never after it.
    assert times[0] == due - 3 * M and times[9] == due - 3 * M and times[10] == due - 2 * M
    assert times[69] == due - M and times[70] == due and times[-1] == due
    assert all(p.deadline == due + 15 * M for p in paced)  # each keeps its own deadline
    assert pace(posts, 30) == paced  # deterministic
    # A crowd right before its event: every DM still goes out before the start.
    crowd = [replace(p, due_at=FRIDAY - 2 * M, deadline=FRIDAY) for p in posts]
    kept = pace(crowd, 10)
    assert len(kept) == 100
    assert max(p.due_at for p in kept) == FRIDAY - 2 * M
    assert min(p.due_at for p in kept) == FRIDAY - 11 * M
    assert all(late_decision(p, p.due_at + 5 * S).sends for p in kept)


def test_keys_custom_ids_and_leads():
    key = dm_key(42, "odd:id", "ama", H, FRIDAY)
    assert key == "dm:42:odd:id:ama:1h@20250718T173000Z"
    assert parse_dm_key(key) == (42, "odd:id", "ama", "1h")
    assert parse_dm_key("dm:42:odd:id:ama:1h") == (42, "odd:id", "ama", "1h")  # round-1 rows
    with pytest.raises(ValueError):
        parse_dm_key("reminder:s2-e05:ama:1h")
    assert optout_custom_id("recaps") == "amabot:optout:recaps"
    assert len(optout_custom_id("livestream")) < CUSTOM_ID_MAX
    assert parse_stream_custom_id("amabot:optout:ama", OPTOUT_PREFIX) == "ama"
    assert parse_stream_custom_id("amabot:optout:nope", OPTOUT_PREFIX) is None
    assert [parse_lead(x) for x in ("1 day", "1h", "10 minutes", "1d")] == [DAY, H, 10 * M, DAY]
    with pytest.raises(ValueError):
        parse_lead("2 hours")
    assert is_dm_closed_error(
        "403 Forbidden (error code: 50007): Cannot send messages to this user"
    )
    assert not is_dm_closed_error("403 Forbidden (error code: 50013): Missing Permissions")


def test_notify_status_text():
    prefs = [Preference(1, "ama", Mode.DM, H), Preference(1, "livestream", Mode.ROLE, H)]
    text = notify_status_text(prefs, settings(livestream_role_id=55), dm_closed=True)
    assert text.splitlines()[:3] == [
        "**Livestreams**: pinged with <@&55>",
        "**AMAs**: a DM 1 hour before",
        "**Recaps**: off",
    ]
    assert "DMs were closed" in text


# -- the store -----------------------------------------------------------------------------


async def test_preferences_interests_and_closed_dms_survive_a_restart(tmp_path):
    path = tmp_path / "amabot.sqlite3"
    async with await open_store(path) as store:
        await store.optin.set_pref(1, "ama", Mode.DM, H, NOW)
        await store.optin.set_pref(1, "ama", "dm", 10 * M, NOW)  # changed its mind
        await store.optin.set_pref(2, "livestream", Mode.ROLE, H, NOW)
        assert await store.optin.add_interest(3, "event:s2-e05:ama", NOW)
        assert not await store.optin.add_interest(3, "event:s2-e05:ama", NOW)
        await store.optin.mark_dm_closed(1, "50007 Cannot send messages to this user", NOW)
        with pytest.raises(ValueError):
            await store.optin.set_pref(1, "podcasts", Mode.DM, H, NOW)
    async with await open_store(path) as store:
        assert await store.optin.prefs() == [
            Preference(1, "ama", Mode.DM, 10 * M),
            Preference(2, "livestream", Mode.ROLE, H),
        ]
        assert await store.optin.interested() == [Interest(3, "event:s2-e05:ama")]
        assert await store.optin.dm_closed() == frozenset({1})
        plan = plan_dm_reminders(
            [episode()],
            await store.optin.prefs(),
            await store.optin.interested(),
            settings(interested_dm=True),
            NOW,
            dm_closed=await store.optin.dm_closed(),
        )
        assert [bare(p.key) for p in plan] == ["dm:3:s2-e05:ama:1h"]
        # Opting in anew reopens the member.
        await store.optin.set_pref(1, "ama", Mode.DM, 10 * M, NOW)
        assert not await store.optin.is_dm_closed(1)


async def test_stop_these_turns_the_stream_off_and_drops_interest(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        await store.optin.set_pref(1, "ama", Mode.DM, 10 * M, NOW)
        await store.optin.add_interest(1, "event:s2-e05:ama", NOW)
        await store.optin.add_interest(1, "event:s2-e05:livestream", NOW)
        await store.optin.opt_out(1, "ama", NOW)
        assert await store.optin.pref(1, "ama") == Preference(1, "ama", Mode.OFF, 10 * M)
        assert await store.optin.interested() == [Interest(1, "event:s2-e05:livestream")]
        assert await store.optin.remove_interest(1, "event:s2-e05:livestream")
        assert await store.optin.prefs_of(1) == [Preference(1, "ama", Mode.OFF, 10 * M)]


async def test_dm_posts_go_through_the_outbox_exactly_once(tmp_path):
    path = tmp_path / "amabot.sqlite3"
    prefs = [Preference(1, "ama", Mode.DM, H)]
    plan = plan_dm_reminders([episode()], prefs, [], settings(), NOW)
    async with await open_store(path) as store:
        report = await store.outbox.reconcile(plan, scope="dm:", now=NOW)
        assert report.inserted == ["dm:1:s2-e05:ama:1h@20250718T173000Z"]
    async with await open_store(path) as store:
        report = await store.outbox.reconcile(plan, scope="dm:", now=NOW)
        assert report.inserted == [] and report.unchanged == 1
        post = await store.outbox.get("dm:1:s2-e05:ama:1h@20250718T173000Z")
        assert (post.kind, post.channel_id) == ("dm", 0)
        # The member stops: the pending DM is cancelled.
        report = await store.outbox.reconcile([], scope="dm:", now=NOW)
        assert report.cancelled == ["dm:1:s2-e05:ama:1h@20250718T173000Z"]


# -- recaps by DM ----------------------------------------------------------------------------


def announcement(rid: str, status: PostStatus, *, sent_at: datetime | None = None) -> Post:
    link = {"type": 2, "style": 5, "label": "Read the recap", "url": f"https://x.org/{rid}/"}
    return Post(
        key=f"recap:{rid}",
        kind="recap",
        due_at=NOW - 2 * H,
        channel_id=7,
        payload={
            "content": f"<@&33> 📝 New recap: **Recap {rid}**",
            "embeds": [{"title": f"Recap {rid}", "description": "What we learned."}],
            "components": [{"type": 1, "components": [link]}],
            "allowed_mentions": {"parse": [], "roles": ["33"], "users": []},
        },
        status=status,
        content_hash="x",
        subject=rid,
        sent_at=sent_at,
    )


def test_a_recap_dm_only_for_announcements_new_to_the_member():
    opted_in = NOW - H
    announcements = [
        announcement("before", PostStatus.SENT, sent_at=opted_in - M),  # the archive
        announcement("after", PostStatus.SENT, sent_at=opted_in),
        announcement("pending", PostStatus.PENDING),  # merged, not yet out
        announcement("backlog", PostStatus.SKIPPED),
        announcement("removed", PostStatus.CANCELLED),
        announcement("refused", PostStatus.FAILED),
    ]
    prefs = [
        Preference(1, "recaps", Mode.DM, since=opted_in),
        Preference(2, "recaps", Mode.DM, since=opted_in),  # DMs closed
        Preference(3, "recaps", Mode.ROLE, since=opted_in),
        Preference(4, "recaps", Mode.OFF, since=opted_in),
        Preference(5, "ama", Mode.DM, since=opted_in),  # a different stream
    ]
    plan = plan_dm_reminders(
        [], prefs, [], settings(), NOW, dm_closed={2}, announcements=announcements
    )
    assert sorted(p.key for p in plan) == ["dm:1:recap:after", "dm:1:recap:pending"]
    dm = next(p for p in plan if p.key == recap_dm_key(1, "pending"))
    # Due with the announcement, never too late, about the recap, to the member's DMs.
    assert (dm.kind, dm.channel_id, dm.subject) == ("dm", 0, "pending")
    assert dm.due_at == NOW - 2 * H and dm.deadline is None and dm.event_start is None
    assert late_decision(dm, NOW + DAY).sends
    # The announcement's wording without its role ping, pinging nobody, with "Stop these".
    assert dm.payload["content"] == "📝 New recap: **Recap pending**"
    assert dm.payload["allowed_mentions"]["roles"] == []
    assert dm.payload["embeds"][0]["title"] == "Recap pending"
    buttons = [b for row in dm.payload["components"] for b in row["components"]]
    assert [b.get("custom_id") for b in buttons] == [None, "amabot:optout:recaps"]
    assert dm_recipient(dm.key) == 1 and parse_recap_dm_key(dm.key) == (1, "pending")
    # A choice with no known time only follows announcements still to go out.
    unknown = plan_dm_reminders(
        [], [Preference(1, "recaps", Mode.DM)], [], settings(), NOW, announcements=announcements
    )
    assert [p.key for p in unknown] == ["dm:1:recap:pending"]
    # An episode whose id is "recap" keeps its event DM keys readable as such.
    assert parse_dm_key("dm:1:recap:ama:1h") == (1, "recap", "ama", "1h")
    with pytest.raises(ValueError):
        parse_recap_dm_key("dm:1:recap:ama:1h")


async def test_recap_dms_follow_the_outbox_announcements_from_the_choice_on(tmp_path):
    async with await open_store(tmp_path / "db.sqlite3") as store:
        old = PlannedPost("recap:old", "recap", NOW - DAY, 7, {"content": "<@&33> old"})
        new = PlannedPost("recap:new", "recap", NOW - DAY, 7, {"content": "<@&33> new"})
        await store.outbox.reconcile([old], scope="recap:", now=NOW - DAY)
        await store.outbox.claim("recap:old", NOW - DAY)
        await store.outbox.mark_sent("recap:old", 100, NOW - DAY)
        await store.optin.set_pref(1, "recaps", Mode.DM, H, NOW)
        await store.outbox.reconcile([old, new], scope="recap:", now=NOW + M)
        prefs = await store.optin.prefs()
        assert prefs[0].since == NOW
        rows = await store.outbox.unsent_or_sent_since("recap:", NOW)
        assert [r.key for r in rows] == ["recap:new"]
        plan = plan_dm_reminders([], prefs, [], settings(), NOW + M, announcements=rows)
        assert [(p.key, p.payload["content"]) for p in plan] == [("dm:1:recap:new", "new")]
        await store.outbox.claim("recap:new", NOW + M)
        await store.outbox.mark_sent("recap:new", 101, NOW + M)
        # Sent after the choice: still followed, so the DM is not cancelled by the next plan.
        rows = await store.outbox.unsent_or_sent_since("recap:", NOW)
        assert [r.key for r in rows] == ["recap:new"]


def _sent(planned: PlannedPost) -> Post:
    return Post(
        key=planned.key,
        kind=planned.kind,
        due_at=planned.due_at,
        channel_id=0,
        payload=planned.payload,
        status=PostStatus.SENT,
        content_hash=planned.content_hash,
        event_start=planned.event_start,
        subject=planned.subject,
    )


def test_a_sent_dm_of_a_moved_or_cancelled_event_is_followed_up_once():
    prefs = [Preference(7, "livestream", Mode.DM, H)]
    ep = episode()
    [sent] = [_sent(p) for p in plan_dm_reminders([ep], prefs, [], settings(), NOW)][:1]
    assert parse_dm_key_at(sent.key)[4] == MONDAY == sent.event_start
    later = MONDAY + DAY
    moved = replace(ep, livestream=replace(ep.livestream, start=later))
    planned = {p.key for p in plan_dm_reminders([moved], prefs, [], settings(), NOW)}
    assert sent.key not in planned
    [(key, payload)] = plan_dm_followups([sent], planned, {ep.id: moved}, settings(), NOW)
    assert key == sent.key
    assert payload["content"].startswith("~~")
    assert f"Moved to <t:{int(later.timestamp())}:F>" in payload["content"]
    assert f"~~<t:{int(MONDAY.timestamp())}:F>" in payload["content"]
    assert payload["allowed_mentions"] == sent.payload["allowed_mentions"]
    # Planned again from the row as edited: the same payload, so request_edit edits once.
    edited = replace(sent, payload=payload)
    assert plan_dm_followups([edited], planned, {ep.id: moved}, settings(), NOW) == [(key, payload)]
    cancelled = replace(ep, status=EpisodeStatus.CANCELLED)
    [(_, struck)] = plan_dm_followups([sent], set(), {ep.id: cancelled}, settings(), NOW)
    assert "Cancelled" in struck["content"] and struck["components"] == []
    # Not moved (the member opted out, say), history, gone, or a recap DM: left alone.
    assert plan_dm_followups([sent], set(), {ep.id: ep}, settings(), NOW) == []
    assert plan_dm_followups([sent], set(), {ep.id: moved}, settings(), later + DAY) == []
    assert plan_dm_followups([sent], set(), {}, settings(), NOW) == []
    recap = replace(sent, key=recap_dm_key(7, "s2-e05"))
    assert plan_dm_followups([recap], set(), {ep.id: moved}, settings(), NOW) == []


# -- several series ----------------------------------------------------------------------------


def test_stop_these_names_a_series_other_than_the_home_one():
    home = settings()
    talk = replace(home, series=replace(home.series, id="talk", name="Talk", key_prefix="talk/"))
    ep = episode("s9-e01", timezone=LA)
    prefs = [Preference(1, "ama", Mode.DM, lead=H), Preference(1, "recaps", Mode.DM, since=NOW)]
    home_dm, talk_dm = (
        next(p for p in plan_dm_reminders([ep], prefs, [], view, NOW - DAY) if ":ama:" in p.key)
        for view in (home, talk)
    )
    assert optout_ids(home_dm.payload) == ["amabot:optout:ama"]  # as before several series
    assert optout_ids(talk_dm.payload) == ["amabot:optout:ama@talk"]
    assert parse_stream_custom_id("amabot:optout:ama@talk", OPTOUT_PREFIX) == "ama"
    # A recap DM's "Stop these" names the series its (scoped) recap id names.
    recaps = [
        announcement("talk/s1-e02", PostStatus.PENDING),
        announcement("mm", PostStatus.PENDING),
    ]
    plan = plan_dm_reminders([], prefs, [], home, NOW, announcements=recaps)
    by_key = {p.key: optout_ids(p.payload) for p in plan}
    assert by_key[recap_dm_key(1, "talk/s1-e02")] == ["amabot:optout:recaps@talk"]
    assert by_key[recap_dm_key(1, "mm")] == ["amabot:optout:recaps"]


def test_notify_status_by_series():
    home = settings()
    talk = replace(home, series=replace(home.series, id="talk", name="Talk", key_prefix="talk/"))
    both = replace(home, lineup=(home, talk))
    prefs = [
        Preference(1, "ama", Mode.DM, lead=H, series=""),  # an old row: the home series'
        Preference(1, "livestream", Mode.DM, lead=DAY, series="talk"),
    ]
    text = notify_status_text(prefs, both, dm_closed=False)
    mm, other = text.split("__Talk__")
    assert mm.startswith("__Model Mondays__")
    assert "**AMAs**: a DM 1 hour before" in mm and "**Livestreams**: off" in mm
    assert "**Livestreams**: a DM 1 day before" in other and "**AMAs**: off" in other
    # One series: as before, no headings.
    assert "__" not in notify_status_text(prefs[:1], home, dm_closed=False)


def optout_ids(payload) -> list[str]:
    return [
        b["custom_id"]
        for row in payload.get("components", [])
        for b in row["components"]
        if b.get("custom_id", "").startswith(OPTOUT_PREFIX)
    ]
