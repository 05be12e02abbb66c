"""Planning: reminders, recap announcements and the late policy, with an injected `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import ReminderSettings, Settings
from bot.content.models import Author, Episode, EpisodeStatus, Recap, ShowEvent
from bot.plan.late import Action, late_decision, payload_for
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.plan.recaps import backlog_cutoff, plan_recap_announcements
from bot.plan.reminders import (
    instant_label,
    parse_reminder_key,
    parse_reminder_key_at,
    plan_reminder_followups,
    plan_reminders,
    reminder_key,
    skip_week,
)
from bot.plan.when import wall_to_utc

LA = "America/Los_Angeles"
H = timedelta(hours=1)
M = timedelta(minutes=1)


def event(kind, start, *, tz=LA, url=None, duration=timedelta(minutes=30)):
    return ShowEvent(kind=kind, start=start, duration=duration, url=url, timezone=tz)


def episode(
    id="s2-e05",
    *,
    livestream=None,
    ama=None,
    status=EpisodeStatus.SCHEDULED,
    title="Fine Tuning & Distillation",
    guests=("Dave Voutila",),
    tz=LA,
):
    return Episode(
        id=id,
        path=f"episodes/{id}.md",
        season=2,
        number=5,
        title=title,
        guests=guests,
        status=status,
        timezone=tz,
        livestream=livestream,
        ama=ama,
    )


LS_START = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)  # Monday 10:30 PDT
AMA_START = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)  # Friday 10:30 PDT
NOW = datetime(2025, 7, 10, 12, 0, tzinfo=UTC)


def s2e5(**kw):
    return episode(
        livestream=event("livestream", LS_START, url="https://example.org/register"),
        ama=event("ama", AMA_START, url="https://discord.gg/x"),
        **kw,
    )


def settings(**reminders):
    return Settings(reminders=ReminderSettings(channel_id=100, role_id=200, **reminders))


def bare(key):
    """A reminder key without its instant (most tests here look at one instant per event)."""
    return key.partition("@")[0]


def by_key(planned):
    return {bare(p.key): p for p in planned}


# -- labels and keys -------------------------------------------------------------------------


def test_reminder_key_parses_back_even_with_colons_in_the_id():
    key = reminder_key("s2:e05", "ama", 90 * M, AMA_START)
    assert key == "reminder:s2:e05:ama:1h30m@20250718T173000Z"
    assert parse_reminder_key(key) == ("s2:e05", "ama", 90 * M)
    assert parse_reminder_key_at(key) == ("s2:e05", "ama", 90 * M, AMA_START)
    # A round-1 key (no instant) still parses: old outbox rows are read with it.
    assert parse_reminder_key_at("reminder:s2-e05:ama:1h") == ("s2-e05", "ama", H, None)
    for bad in ("recap:s2-e05", "reminder:s2-e05:ama:1h@yesterday"):
        with pytest.raises(ValueError):
            parse_reminder_key(bad)


# -- plan_reminders --------------------------------------------------------------------------


def test_one_reminder_per_offset_and_event_with_due_deadline_and_payload():
    planned = plan_reminders([s2e5()], settings(), NOW)
    assert [bare(p.key) for p in planned] == [
        "reminder:s2-e05:livestream:24h",
        "reminder:s2-e05:livestream:1h",
        "reminder:s2-e05:livestream:10m",
        "reminder:s2-e05:ama:24h",
        "reminder:s2-e05:ama:1h",
        "reminder:s2-e05:ama:10m",
    ]
    keyed = by_key(planned)
    one_hour = keyed["reminder:s2-e05:ama:1h"]
    assert one_hour.kind == "reminder"
    assert one_hour.due_at == AMA_START - H
    assert one_hour.deadline == AMA_START - H + 15 * M  # a quarter of the offset
    assert one_hour.event_start == AMA_START
    assert one_hour.channel_id == 100
    assert one_hour.subject == "s2-e05"
    assert one_hour.payload["allowed_mentions"]["roles"] == ["200"]
    assert "Friday AMA in 1 hour" in one_hour.payload["content"]
    day = keyed["reminder:s2-e05:livestream:24h"]
    assert day.deadline == LS_START - 24 * H + 2 * H  # capped at 2 hours
    ten = keyed["reminder:s2-e05:livestream:10m"]
    assert ten.deadline == LS_START - 10 * M + 5 * M  # at least 5 minutes


def test_grace_never_reaches_past_the_start_but_the_0m_reminder_has_its_own():
    cfg = settings(
        offsets=(2 * M, timedelta(0)),
        grace=((2 * M, 10 * M), (timedelta(0), 7 * M)),
    )
    keyed = by_key(plan_reminders([s2e5()], cfg, NOW))
    assert keyed["reminder:s2-e05:ama:2m"].deadline == AMA_START  # min(due + 10m, start)
    now_post = keyed["reminder:s2-e05:ama:0m"]
    assert now_post.due_at == AMA_START
    assert now_post.deadline == AMA_START + 7 * M
    assert "starting now" in now_post.payload["content"]


def test_planning_twice_gives_identical_posts():
    a = plan_reminders([s2e5()], settings(), NOW)
    b = plan_reminders([s2e5()], settings(), NOW)
    assert a == b
    assert [p.content_hash for p in a] == [p.content_hash for p in b]


@pytest.mark.parametrize(
    "status", [EpisodeStatus.TBD, EpisodeStatus.CANCELLED, EpisodeStatus.PUBLISHED]
)
def test_tbd_cancelled_and_published_episodes_get_no_reminders(status):
    assert plan_reminders([s2e5(status=status)], settings(), NOW) == []


def test_live_episode_keeps_its_ama_reminders():
    # Flipped to `live` during Monday's livestream: Friday's AMA must still be reminded.
    now = LS_START + 10 * M
    keys = {bare(p.key) for p in plan_reminders([s2e5(status=EpisodeStatus.LIVE)], settings(), now)}
    assert "reminder:s2-e05:ama:1h" in keys


def test_tbd_times_get_none_even_when_scheduled():
    ep = episode(livestream=event("livestream", None), ama=event("ama", AMA_START))
    keys = {bare(p.key) for p in plan_reminders([ep], settings(), NOW)}
    assert keys == {f"reminder:s2-e05:ama:{o}" for o in ("24h", "1h", "10m")}


def test_a_moved_event_gets_new_keys_and_the_other_event_keeps_its_own():
    before = {p.key: p for p in plan_reminders([s2e5()], settings(), NOW)}
    moved = episode(
        livestream=event("livestream", LS_START + 24 * H, url="https://example.org/register"),
        ama=event("ama", AMA_START, url="https://discord.gg/x"),
    )
    after = {p.key: p for p in plan_reminders([moved], settings(), NOW)}
    kept = before.keys() & after.keys()
    assert kept and all(":ama:" in k for k in kept)
    assert all(after[k] == before[k] for k in kept)
    new = sorted(after.keys() - before.keys())
    assert len(new) == 3 and all(k.endswith(f"@{instant_label(LS_START + 24 * H)}") for k in new)


def _sent(planned):
    return Post(
        key=planned.key,
        kind="reminder",
        due_at=planned.due_at,
        channel_id=planned.channel_id,
        payload=planned.payload,
        status=PostStatus.SENT,
        content_hash=planned.content_hash,
        event_start=planned.event_start,
        subject=planned.subject,
    )


def test_followups_say_moved_with_the_new_time_cancelled_or_nothing():
    cfg = settings()
    ep = s2e5()
    sent = [_sent(p) for p in plan_reminders([ep], cfg, NOW) if "24h" in p.key]
    later = LS_START + 24 * H
    moved = replace(ep, livestream=replace(ep.livestream, start=later))
    plan = {p.key for p in plan_reminders([moved], cfg, NOW)}
    [(key, payload)] = plan_reminder_followups(sent, plan, {ep.id: moved}, cfg, NOW)
    assert ":livestream:24h@" in key
    assert (
        payload["content"].startswith("~~")
        and f"<t:{int(later.timestamp())}:F>" in (payload["content"])
    )
    assert payload["allowed_mentions"]["roles"] == []
    # The same inputs give the same edit (so it is made once), whatever the row holds now.
    again = [replace(p, payload=payload) if p.key == key else p for p in sent]
    assert plan_reminder_followups(again, plan, {ep.id: moved}, cfg, NOW) == [(key, payload)]

    cancelled = replace(ep, status=EpisodeStatus.CANCELLED)
    out = dict(plan_reminder_followups(sent, set(), {ep.id: cancelled}, cfg, NOW))
    assert len(out) == 2 and all("Cancelled" in p["content"] for p in out.values())
    assert all(p["components"] == [] for p in out.values())

    # History: both instants over, or the episode gone from the content: left alone.
    assert plan_reminder_followups(sent, set(), {ep.id: moved}, cfg, later + 2 * H) == []
    assert plan_reminder_followups(sent, set(), {}, cfg, NOW) == []
    # Still planned (nothing moved): no follow-up.
    same = {p.key for p in plan_reminders([ep], cfg, NOW)}
    assert plan_reminder_followups(sent, same, {ep.id: ep}, cfg, NOW) == []


def test_per_kind_channels_and_roles_fall_back():
    cfg = settings(ama_channel_id=111, livestream_role_id=222)
    keyed = by_key(plan_reminders([s2e5()], cfg, NOW))
    ls, ama = keyed["reminder:s2-e05:livestream:1h"], keyed["reminder:s2-e05:ama:1h"]
    assert (ls.channel_id, ls.payload["allowed_mentions"]["roles"]) == (100, ["222"])
    assert (ama.channel_id, ama.payload["allowed_mentions"]["roles"]) == (111, ["200"])
    assert "<@&222>" in ls.payload["content"] and "<@&200>" in ama.payload["content"]


def test_no_role_pings_nobody():
    cfg = Settings(reminders=ReminderSettings(channel_id=100))
    post = plan_reminders([s2e5()], cfg, NOW)[0]
    assert post.payload["allowed_mentions"] == {
        "parse": [],
        "roles": [],
        "users": [],
        "replied_user": False,
    }
    assert "<@&" not in post.payload["content"]


def test_past_deadline_reminders_are_listed_until_the_event_ends():
    # Restart 30 minutes before the AMA: the 24h and 1h reminders are past their grace but
    # still listed, so delivery records them as skipped with a reason.
    now = AMA_START - 30 * M
    keys = {bare(p.key) for p in plan_reminders([s2e5()], settings(), now)}
    assert keys == {"reminder:s2-e05:ama:24h", "reminder:s2-e05:ama:1h", "reminder:s2-e05:ama:10m"}
    # Once the AMA has ended nothing is planned for it.
    assert plan_reminders([s2e5()], settings(), AMA_START + 30 * M) == []
    assert plan_reminders([s2e5()], settings(), datetime(2030, 1, 1, tzinfo=UTC)) == []


def test_reminders_within_grace_after_a_restart_are_planned():
    now = AMA_START - H + 5 * M
    keyed = by_key(plan_reminders([s2e5()], settings(), now))
    post = keyed["reminder:s2-e05:ama:1h"]
    assert post.due_at < now <= post.deadline


# -- daylight saving -------------------------------------------------------------------------

DST_WEEKS = [
    # (zone, Monday livestream date, expected UTC instant of 10:30 local)
    (LA, date(2026, 3, 2), datetime(2026, 3, 2, 18, 30, tzinfo=UTC)),  # PST, week before
    (LA, date(2026, 3, 9), datetime(2026, 3, 9, 17, 30, tzinfo=UTC)),  # PDT, day after the change
    (LA, date(2026, 10, 26), datetime(2026, 10, 26, 17, 30, tzinfo=UTC)),  # PDT
    (LA, date(2026, 11, 2), datetime(2026, 11, 2, 18, 30, tzinfo=UTC)),  # PST, day after
    ("Europe/London", date(2026, 3, 23), datetime(2026, 3, 23, 10, 30, tzinfo=UTC)),  # GMT
    ("Europe/London", date(2026, 3, 30), datetime(2026, 3, 30, 9, 30, tzinfo=UTC)),  # BST
    ("Europe/London", date(2026, 10, 19), datetime(2026, 10, 19, 9, 30, tzinfo=UTC)),  # BST
    ("Europe/London", date(2026, 10, 26), datetime(2026, 10, 26, 10, 30, tzinfo=UTC)),  # GMT
]


@pytest.mark.parametrize(("tz", "monday", "expected"), DST_WEEKS)
def test_weekly_1030_lands_on_the_right_utc_instant_across_dst(tz, monday, expected):
    start = wall_to_utc(monday, time(10, 30), tz)
    assert start == expected
    assert start == datetime.combine(monday, time(10, 30), tzinfo=ZoneInfo(tz)).astimezone(UTC)
    friday = monday + timedelta(days=4)
    ama_start = wall_to_utc(friday, time(10, 30), tz)
    ep = episode(
        livestream=event("livestream", start, tz=tz), ama=event("ama", ama_start, tz=tz), tz=tz
    )
    keyed = by_key(plan_reminders([ep], settings(), expected - 48 * H))
    assert keyed["reminder:s2-e05:livestream:1h"].due_at == expected - H
    assert keyed["reminder:s2-e05:livestream:24h"].due_at == expected - 24 * H
    assert keyed["reminder:s2-e05:ama:10m"].due_at == ama_start - 10 * M
    # The wording names the local weekday, and the timestamp is the UTC instant.
    assert (
        "Monday livestream in 1 hour" in keyed["reminder:s2-e05:livestream:1h"].payload["content"]
    )
    assert (
        f"<t:{int(expected.timestamp())}:F>"
        in keyed["reminder:s2-e05:livestream:1h"].payload["content"]
    )


def test_24h_reminder_across_the_change_is_24_real_hours():
    # A Sunday 2026-03-08 10:30 PDT event; the "24h" reminder is 24 real hours earlier, which
    # is 09:30 PST on Saturday (clocks jumped at 02:00 in between), not 10:30.
    start = wall_to_utc(date(2026, 3, 8), time(10, 30), LA)
    ep = episode(livestream=event("livestream", start))
    post = by_key(plan_reminders([ep], settings(), start - 48 * H))[
        "reminder:s2-e05:livestream:24h"
    ]
    assert post.due_at.astimezone(ZoneInfo(LA)).time() == time(9, 30)


# -- recap announcements ---------------------------------------------------------------------


def recap(id, published, *, draft=False, episode_id="s2-e05", title=None):
    return Recap(
        id=id,
        path=f"recaps/{id}.md",
        title=title or f"Recap {id}",
        published=published,
        draft=draft,
        summary="Summary @everyone",
        authors=("nitya",),
        episode_id=episode_id,
    )


def test_recap_announcements_for_published_recaps_oldest_first():
    recaps = [
        recap("b", NOW - 1 * H),
        recap("a", NOW - 2 * H),
        recap("draft", NOW - 3 * H, draft=True),
        recap("future", NOW + H),
    ]
    cfg = Settings()
    cfg = replace(cfg, announcements=replace(cfg.announcements, channel_id=55, role_id=66))
    planned = plan_recap_announcements(
        recaps,
        episodes={"s2-e05": s2e5()},
        authors={"nitya": Author("nitya", "Nitya Narasimhan")},
        settings=cfg,
        now=NOW,
    )
    assert [p.key for p in planned] == ["recap:a", "recap:b"]
    first = planned[0]
    assert (first.kind, first.channel_id, first.subject, first.deadline) == ("recap", 55, "a", None)
    assert first.due_at == NOW - 2 * H
    assert first.payload["allowed_mentions"] == {
        "parse": [],
        "roles": ["66"],
        "users": [],
        "replied_user": False,
    }
    assert "S2:E5" in str(first.payload["embeds"])
    assert "Nitya Narasimhan" in str(first.payload["embeds"])


def test_recap_for_unknown_episode_still_planned():
    planned = plan_recap_announcements(
        [recap("x", NOW - H, episode_id="nope")],
        episodes={},
        authors={},
        settings=Settings(),
        now=NOW,
    )
    assert [p.key for p in planned] == ["recap:x"]


def test_backlog_cutoff():
    cfg = Settings()
    assert backlog_cutoff(cfg, NOW) == NOW
    cfg = replace(cfg, announcements=replace(cfg.announcements, backlog_days=7))
    assert backlog_cutoff(cfg, NOW) == NOW - timedelta(days=7)


# -- skip_week -------------------------------------------------------------------------------


def test_skip_week_lists_the_keys_for_one_or_both_events():
    ep = s2e5()
    assert [bare(k) for k in skip_week(ep, "ama", NOW)] == [
        "reminder:s2-e05:ama:24h",
        "reminder:s2-e05:ama:1h",
        "reminder:s2-e05:ama:10m",
    ]
    assert len(skip_week(ep, None, NOW)) == 6
    assert skip_week(ep, "ama", NOW, offsets=[timedelta(0)]) == [
        f"reminder:s2-e05:ama:0m@{instant_label(AMA_START)}"
    ]
    # Keys match what planning produces, so cancelling them really stops those reminders.
    planned = {p.key for p in plan_reminders([ep], settings(), NOW)}
    assert set(skip_week(ep, None, NOW)) == planned


def test_skip_week_ignores_ended_and_tbd_events():
    ep = s2e5()
    assert skip_week(ep, "livestream", LS_START + H) == []
    assert skip_week(episode(ama=event("ama", None)), "ama", NOW) == []
    assert skip_week(episode(), "ama", NOW) == []


# -- late_decision ---------------------------------------------------------------------------


def as_post(planned: PlannedPost) -> Post:
    return Post(
        key=planned.key,
        kind=planned.kind,
        due_at=planned.due_at,
        channel_id=planned.channel_id,
        payload=planned.payload,
        status=PostStatus.PENDING,
        content_hash=planned.content_hash,
        deadline=planned.deadline,
        event_start=planned.event_start,
        subject=planned.subject,
    )


def reminder_post(offset_td):
    cfg = settings(offsets=(offset_td,))
    (planned,) = [p for p in plan_reminders([s2e5()], cfg, NOW) if ":ama:" in p.key]
    return as_post(planned)


def test_reminder_boundaries():
    post = reminder_post(H)  # due 16:30Z, grace 15m -> deadline 16:45Z, start 17:30Z
    due = post.due_at
    assert late_decision(post, due - M).action is Action.SEND  # asked early
    assert late_decision(post, due).action is Action.SEND
    assert late_decision(post, due + timedelta(seconds=60)).action is Action.SEND  # tolerance
    delayed = late_decision(post, due + timedelta(seconds=61))
    assert delayed.action is Action.SEND_DELAYED and delayed.late_by == timedelta(seconds=61)
    assert late_decision(post, due + 15 * M).action is Action.SEND_DELAYED  # exactly at deadline
    skipped = late_decision(post, due + 15 * M + timedelta(seconds=1))
    assert skipped.action is Action.SKIP
    assert skipped.reason == "late by 15m: past its 15m grace"
    late = late_decision(post, due + 50 * M)
    assert late.reason == "late by 50m: past its 15m grace"
    after_start = late_decision(post, AMA_START + M)
    assert after_start.action is Action.SKIP and "event already started" in after_start.reason


def test_in_1_hour_is_never_sent_after_the_start_even_with_a_long_grace():
    cfg = settings(offsets=(H,), grace=((H, 3 * H),))
    (planned,) = [p for p in plan_reminders([s2e5()], cfg, NOW) if ":ama:" in p.key]
    post = as_post(planned)
    assert post.deadline == AMA_START
    assert late_decision(post, AMA_START - timedelta(seconds=1)).action is Action.SEND_DELAYED
    assert late_decision(post, AMA_START).action is Action.SKIP


def test_short_reminder_within_tolerance_but_after_start_is_skipped():
    post = reminder_post(timedelta(seconds=30))
    assert late_decision(post, AMA_START + timedelta(seconds=10)).action is Action.SKIP


def test_short_reminder_becomes_live_now_when_configured_and_running():
    post = reminder_post(10 * M)
    end = AMA_START + 30 * M
    running = late_decision(post, AMA_START + M, live_now_upto=10 * M, event_end=end)
    assert running.action is Action.LIVE_NOW
    assert late_decision(post, end, live_now_upto=10 * M, event_end=end).action is Action.SKIP
    assert late_decision(post, AMA_START + M, event_end=end).action is Action.SKIP


def test_starting_now_reminder_boundaries():
    post = reminder_post(timedelta(0))  # due = start, grace 5m
    assert post.deadline == AMA_START + 5 * M
    assert late_decision(post, AMA_START).action is Action.SEND
    assert late_decision(post, AMA_START + timedelta(seconds=60)).action is Action.SEND
    assert late_decision(post, AMA_START + timedelta(seconds=61)).action is Action.LIVE_NOW
    assert late_decision(post, AMA_START + 5 * M).action is Action.LIVE_NOW
    skip = late_decision(post, AMA_START + 5 * M + timedelta(seconds=1))
    assert skip.action is Action.SKIP and skip.reason == "late by 5m: past its 5m grace"


def test_recap_announcements_always_send():
    planned = plan_recap_announcements(
        [recap("a", NOW - timedelta(days=30))],
        episodes={},
        authors={},
        settings=Settings(),
        now=NOW,
    )
    decision = late_decision(as_post(planned[0]), NOW)
    assert decision.action is Action.SEND
    assert decision.late_by == timedelta(days=30)


def announce_post(due, deadline=None):
    return Post(
        key="announce:42",
        kind="announce",
        due_at=due,
        channel_id=1,
        payload={"content": "hi"},
        status=PostStatus.PENDING,
        content_hash="x",
        deadline=deadline,
    )


def test_organiser_announcement_boundaries():
    post = announce_post(NOW)
    assert late_decision(post, NOW + timedelta(seconds=60)).action is Action.SEND
    assert late_decision(post, NOW + timedelta(seconds=61)).action is Action.SEND_DELAYED
    assert late_decision(post, NOW + H).action is Action.SEND_DELAYED
    skip = late_decision(post, NOW + H + timedelta(seconds=1))
    assert skip.action is Action.SKIP and skip.reason == "late by 1h: past its 1h limit"
    assert late_decision(post, NOW + 2 * H, announce_late_limit=3 * H).action is Action.SEND_DELAYED
    # An explicit deadline wins over the default limit.
    assert late_decision(announce_post(NOW, NOW + 5 * M), NOW + 6 * M).action is Action.SKIP


def test_decision_sends_property():
    post = announce_post(NOW)
    assert late_decision(post, NOW).sends
    assert not late_decision(post, NOW + 2 * H).sends


def test_payload_for_each_decision():
    episodes = {"s2-e05": s2e5()}
    cfg = settings(offsets=(timedelta(0),))
    post = reminder_post(timedelta(0))
    send = late_decision(post, AMA_START)
    assert payload_for(send, post, episodes=episodes, settings=cfg) == post.payload
    live = late_decision(post, AMA_START + 2 * M)
    assert live.action is Action.LIVE_NOW
    live_payload = payload_for(live, post, episodes=episodes, settings=cfg)
    assert "Friday AMA is live now" in live_payload["content"]
    assert live_payload["allowed_mentions"]["roles"] == ["200"]
    # The episode vanished from the index: the planned text goes out, marked.
    fallback = payload_for(live, post, episodes={}, settings=cfg)
    assert fallback["content"].split("\n")[0].endswith("(delayed)")
    hour = reminder_post(H)
    delayed = payload_for(
        late_decision(hour, hour.due_at + 5 * M), hour, episodes=episodes, settings=cfg
    )
    assert delayed["content"].split("\n")[0].endswith("(delayed)")
    skip = late_decision(hour, AMA_START)
    assert payload_for(skip, hour, episodes=episodes, settings=cfg) is None


def test_a_grace_shorter_than_the_on_time_tolerance_still_skips():
    from bot.plan.late import Action, late_decision

    due = datetime(2025, 7, 18, 12, 0, tzinfo=UTC)
    post = PlannedPost(
        key="reminder:e:ama:30s",
        kind="reminder",
        due_at=due,
        channel_id=1,
        payload={"content": "x"},
        deadline=due + timedelta(seconds=5),
        event_start=due + timedelta(seconds=30),
    )
    assert late_decision(post, due + timedelta(seconds=3)).action is Action.SEND
    late = late_decision(post, due + timedelta(seconds=20))
    assert late.action is Action.SKIP
    assert "grace" in late.reason
    starting_now = PlannedPost(
        key="reminder:e:ama:0m",
        kind="reminder",
        due_at=due,
        channel_id=1,
        payload={"content": "x"},
        deadline=due + timedelta(seconds=5),
        event_start=due,
    )
    assert late_decision(starting_now, due + timedelta(seconds=10)).action is Action.SKIP


def test_opt_in_roles_are_pinged_when_no_channel_wide_role_is_set():
    from bot.config import AnnouncementSettings, OptinSettings
    from bot.plan.recaps import recap_role
    from bot.plan.reminders import reminder_role

    base = Settings()
    optin = replace(
        base, optin=OptinSettings(livestream_role_id=11, ama_role_id=22, recaps_role_id=33)
    )
    assert reminder_role(optin, "livestream") == 11
    assert reminder_role(optin, "ama") == 22
    assert recap_role(optin) == 33
    both = replace(
        optin,
        reminders=replace(base.reminders, role_id=5),
        announcements=AnnouncementSettings(role_id=6),
    )
    assert reminder_role(both, "ama") == 5
    assert recap_role(both) == 6
