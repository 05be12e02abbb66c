"""Discord scheduled events from content: planning, diffing and applying, with injected `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import EventsSettings, Settings
from bot.content.models import Episode, EpisodeStatus, ShowEvent
from bot.plan.scheduled_events import (
    DESCRIPTION_MAX,
    NAME_MAX,
    EntityType,
    EventReconciler,
    EventsApiError,
    EventStatus,
    Op,
    diff_events,
    event_key,
    image_data_uri,
    parse_event_key,
    plan_guild_events,
    recorded_body,
    transition_times,
)
from bot.store import StoredEvent, open_store

LA = "America/Los_Angeles"
H = timedelta(hours=1)
M = timedelta(minutes=1)
NOW = datetime(2025, 7, 10, 12, 0, tzinfo=UTC)
MONDAY = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)  # 10:30 in Los Angeles
FRIDAY = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
REGISTER = "https://developer.microsoft.com/reactor/events/12345/"


def episode(
    id: str = "s2-e05",
    *,
    ls: datetime | None = MONDAY,
    ama: datetime | ShowEvent | None = FRIDAY,
    status: EpisodeStatus = EpisodeStatus.SCHEDULED,
    number: int = 5,
    **changes: Any,
) -> Episode:
    values: dict[str, Any] = {
        "id": id,
        "path": f"episodes/{id}.md",
        "season": 2,
        "number": number,
        "title": "Fine Tuning & Distillation",
        "summary": "How to make a small model do a big model's job.",
        "guests": ("Dave Voutila",),
        "status": status,
        "timezone": LA,
        "livestream": ShowEvent("livestream", ls, 30 * M, REGISTER, LA),
        "ama": ama
        if isinstance(ama, ShowEvent)
        else ShowEvent("ama", ama, 30 * M, "https://discord.gg/abc", LA),
        "image": "https://example.org/cover.png",
    }
    values.update(changes)
    return Episode(**values)


def settings(**events: Any) -> Settings:
    return Settings(events=EventsSettings(enabled=True, **events))


def stored_from(actions, previous=None) -> dict[str, StoredEvent]:
    """What a store would hold after applying `actions` (ids 1000+)."""
    out = dict(previous or {})
    for n, a in enumerate(actions):
        if a.op is Op.NONE:
            continue
        old = out.get(a.key)
        if a.op is Op.CREATE or a.op is Op.UPDATE or a.op is Op.CANCEL:
            out[a.key] = StoredEvent(
                discord_id=old.discord_id if old and a.op is not Op.CREATE else 1000 + n,
                spec_hash=a.spec.spec_hash,
                status=a.status_after or old.status,
                body=recorded_body(a.spec),
            )
        else:
            out[a.key] = replace(old, status=a.status_after)
    return out


# -- planning ------------------------------------------------------------------------------


def test_keys_round_trip_even_with_colons():
    assert event_key("s2-e05", "ama") == "event:s2-e05:ama"
    assert parse_event_key("event:odd:id:livestream") == ("odd:id", "livestream")
    with pytest.raises(ValueError):
        parse_event_key("reminder:s2-e05:ama:1h")


def test_plan_has_a_livestream_and_an_ama_with_discord_fields():
    plan = plan_guild_events([episode()], settings(), NOW)
    assert [s.key for s in plan] == ["event:s2-e05:livestream", "event:s2-e05:ama"]
    ls, ama = (s.body() for s in plan)
    assert ls == {
        "name": "S2:E5 Livestream: Fine Tuning & Distillation",
        "description": "How to make a small model do a big model's job.\n\nWith Dave Voutila",
        "scheduled_start_time": "2025-07-14T17:30:00+00:00",
        "scheduled_end_time": "2025-07-14T18:00:00+00:00",
        "privacy_level": 2,
        "entity_type": 3,
        "channel_id": None,
        "entity_metadata": {"location": REGISTER},
    }
    # No stage or voice channel configured: the AMA is external at its link.
    assert ama["entity_type"] == 3
    assert ama["entity_metadata"] == {"location": "https://discord.gg/abc"}
    assert all(s.image_url == "https://example.org/cover.png" for s in plan)


def test_ama_goes_to_the_stage_then_the_voice_channel():
    stage = plan_guild_events([episode()], settings(ama_stage_channel_id=77), NOW)[1]
    assert stage.entity_type is EntityType.STAGE_INSTANCE
    assert stage.body()["channel_id"] == "77"
    assert stage.body()["entity_metadata"] is None
    voice = plan_guild_events([episode()], settings(ama_voice_channel_id=88), NOW)[1]
    assert voice.entity_type is EntityType.VOICE
    assert voice.body()["channel_id"] == "88"
    no_link = episode(ama=ShowEvent("ama", FRIDAY, 30 * M, None, LA))
    assert plan_guild_events([no_link], settings(), NOW)[1].location == "Discord"


def test_names_and_descriptions_fit_discords_limits_cut_at_a_word():
    long = episode(title="Word " * 60, summary="lorem ipsum " * 300, guests=("A B",) * 3)
    for spec in plan_guild_events([long], settings(), NOW):
        body = spec.body()
        assert len(body["name"]) <= NAME_MAX
        assert len(body["description"]) <= DESCRIPTION_MAX
        assert body["name"].endswith("…") and not body["name"].endswith(" …")
        assert "…" in body["description"]
        assert body["description"].endswith("With A B, A B and A B")


def test_a_long_registration_url_moves_into_the_description():
    url = "https://example.org/" + "x" * 120
    ep = replace(episode(), livestream=ShowEvent("livestream", MONDAY, 30 * M, url, LA))
    spec = plan_guild_events([ep], settings(), NOW)[0]
    assert spec.location == "Online"
    assert spec.description.endswith(url)


def test_only_http_images_become_covers():
    spec = plan_guild_events([episode(image="images/cover.png")], settings(), NOW)[0]
    assert spec.image_url is None


def test_create_ahead_marks_only_the_next_n_creatable():
    eps = [
        episode(f"s2-e{n:02d}", ls=MONDAY + n * 7 * 24 * H, ama=FRIDAY + n * 7 * 24 * H, number=n)
        for n in range(10)
    ]
    plan = plan_guild_events(eps, settings(create_ahead=3), NOW)
    assert len(plan) == 20
    creatable = [s.key for s in plan if s.creatable]
    assert creatable == [
        "event:s2-e00:livestream",
        "event:s2-e00:ama",
        "event:s2-e01:livestream",
    ]
    actions = diff_events(plan, {}, NOW, create_ahead=3)
    assert [a.key for a in actions if a.op is Op.CREATE] == creatable


def test_past_events_are_not_planned_and_left_alone():
    after_monday = MONDAY + H
    plan = plan_guild_events([episode()], settings(), after_monday)
    assert [s.key for s in plan] == ["event:s2-e05:ama"]
    stored = {"event:s2-e05:livestream": StoredEvent(5, "h", EventStatus.SCHEDULED)}
    actions = {a.key: a for a in diff_events(plan, stored, after_monday)}
    assert actions["event:s2-e05:livestream"].op is Op.NONE
    assert actions["event:s2-e05:ama"].op is Op.CREATE


def test_tbd_and_published_episodes_plan_nothing():
    assert plan_guild_events([episode(ls=None, ama=None)], settings(), NOW) == []
    published = episode(status=EpisodeStatus.PUBLISHED)
    assert plan_guild_events([published], settings(), NOW) == []


# -- diffing -------------------------------------------------------------------------------


def test_created_once_then_nothing_across_restarts():
    plan = plan_guild_events([episode()], settings(), NOW)
    first = diff_events(plan, {}, NOW)
    assert [a.op for a in first] == [Op.CREATE, Op.CREATE]
    assert first[0].image_url == "https://example.org/cover.png"
    assert "image" not in first[0].body
    stored = stored_from(first)
    # a "restart": the same content planned again later, against the stored state
    again = diff_events(plan_guild_events([episode()], settings(), NOW + H), stored, NOW + H)
    assert [a.op for a in again] == [Op.NONE, Op.NONE]


def test_a_content_change_is_one_update_with_only_the_changed_fields():
    plan = plan_guild_events([episode()], settings(), NOW)
    stored = stored_from(diff_events(plan, {}, NOW))
    changed = episode(title="Distillation, Revisited", ama=FRIDAY + H)
    actions = diff_events(plan_guild_events([changed], settings(), NOW), stored, NOW)
    ls, ama = actions
    assert ls.op is Op.UPDATE
    assert ls.body == {"name": "S2:E5 Livestream: Distillation, Revisited"}
    assert ls.discord_id == stored["event:s2-e05:livestream"].discord_id
    assert ls.image_url is None  # the cover did not change: not sent again
    assert ama.op is Op.UPDATE
    assert ama.body == {
        "name": "S2:E5 AMA: Distillation, Revisited",
        "scheduled_start_time": "2025-07-18T18:30:00+00:00",
        "scheduled_end_time": "2025-07-18T19:00:00+00:00",
    }
    stored = stored_from(actions, stored)
    plan2 = plan_guild_events([changed], settings(), NOW)
    assert {a.op for a in diff_events(plan2, stored, NOW)} == {Op.NONE}


def test_a_new_cover_is_sent_again():
    plan = plan_guild_events([episode()], settings(), NOW)
    stored = stored_from(diff_events(plan, {}, NOW))
    ep = episode(image="https://example.org/new.png")
    actions = diff_events(plan_guild_events([ep], settings(), NOW), stored, NOW)
    assert [(a.op, a.body, a.image_url) for a in actions] == [
        (Op.UPDATE, {}, "https://example.org/new.png")
    ] * 2


def test_switching_the_ama_to_a_stage_sends_the_place_fields_together():
    plan = plan_guild_events([episode()], settings(), NOW)
    stored = stored_from(diff_events(plan, {}, NOW))
    actions = diff_events(
        plan_guild_events([episode()], settings(ama_stage_channel_id=77), NOW), stored, NOW
    )
    ama = actions[1]
    assert ama.op is Op.UPDATE
    assert ama.body == {
        "entity_type": 1,
        "channel_id": "77",
        "entity_metadata": None,
        "scheduled_end_time": "2025-07-18T18:00:00+00:00",
    }


def test_cancelled_episode_cancels_its_events_and_only_ours():
    plan = plan_guild_events([episode()], settings(), NOW)
    stored = stored_from(diff_events(plan, {}, NOW))
    cancelled = episode(status=EpisodeStatus.CANCELLED)
    actions = diff_events(plan_guild_events([cancelled], settings(), NOW), stored, NOW)
    assert [(a.op, a.body) for a in actions] == [(Op.CANCEL, {"status": 4})] * 2
    stored = stored_from(actions, stored)
    again = diff_events(plan_guild_events([cancelled], settings(), NOW), stored, NOW)
    assert {a.op for a in again} == {Op.NONE}
    # Never made one: nothing to cancel.
    fresh = diff_events(plan_guild_events([cancelled], settings(), NOW), {}, NOW)
    assert {a.op for a in fresh} == {Op.NONE}
    # Un-cancelled: a new event is made.
    back = diff_events(plan_guild_events([episode()], settings(), NOW), stored, NOW)
    assert {a.op for a in back} == {Op.CREATE}


def test_an_event_a_person_cancelled_stays_cancelled_until_the_content_changes():
    plan = plan_guild_events([episode()], settings(), NOW)
    stored = stored_from(diff_events(plan, {}, NOW))
    key = "event:s2-e05:ama"
    stored[key] = replace(stored[key], status=EventStatus.CANCELED)  # gateway update
    actions = {a.key: a.op for a in diff_events(plan, stored, NOW)}
    assert actions[key] is Op.NONE
    moved = plan_guild_events([episode(ama=FRIDAY + H)], settings(), NOW)
    assert {a.key: a.op for a in diff_events(moved, stored, NOW)}[key] is Op.CREATE


def test_auto_start_starts_the_ama_at_its_start_and_ends_it_after():
    cfg = settings(ama_stage_channel_id=77, auto_start=True)
    stored = stored_from(diff_events(plan_guild_events([episode()], cfg, NOW), {}, NOW))
    key = "event:s2-e05:ama"

    def ops(at):
        plan = plan_guild_events([episode()], cfg, at)
        return {a.key: a for a in diff_events(plan, stored, at, auto_start=True)}

    assert ops(FRIDAY - M)[key].op is Op.NONE
    start = ops(FRIDAY)[key]
    assert (start.op, start.body) == (Op.START, {"status": 2})
    stored = stored_from([start], stored)
    assert ops(FRIDAY + 10 * M)[key].op is Op.NONE
    end = ops(FRIDAY + 30 * M)[key]
    assert (end.op, end.body) == (Op.END, {"status": 3})
    stored = stored_from([end], stored)
    assert ops(FRIDAY + 40 * M)[key].op is Op.NONE
    # The external livestream is never started by the bot.
    assert ops(MONDAY)["event:s2-e05:livestream"].op is Op.NONE


def test_transition_times_are_the_stage_amas_start_and_end():
    cfg = settings(ama_stage_channel_id=77, auto_start=True)
    plan = plan_guild_events([episode()], cfg, NOW)
    assert transition_times(plan, NOW) == [FRIDAY, FRIDAY + 30 * M]
    assert transition_times(plan, FRIDAY) == [FRIDAY + 30 * M]
    assert transition_times(plan_guild_events([episode()], settings(), NOW), NOW) == []


def test_without_auto_start_nothing_is_started():
    cfg = settings(ama_stage_channel_id=77)
    stored = stored_from(diff_events(plan_guild_events([episode()], cfg, NOW), {}, NOW))
    plan = plan_guild_events([episode()], cfg, FRIDAY)
    assert {a.op for a in diff_events(plan, stored, FRIDAY)} == {Op.NONE}


def test_a_running_event_is_not_given_a_new_start_time():
    stored = stored_from(diff_events(plan_guild_events([episode()], settings(), NOW), {}, NOW))
    at = MONDAY + 5 * M
    changed = episode(title="New title", ls=MONDAY - 5 * M)
    ls = diff_events(plan_guild_events([changed], settings(), at), stored, at)[0]
    assert ls.op is Op.UPDATE
    assert set(ls.body) == {"name", "scheduled_end_time"}


def test_create_ahead_counts_our_open_events():
    eps = [
        episode(f"s2-e{n:02d}", ls=MONDAY + n * 7 * 24 * H, ama=None, number=n) for n in range(5)
    ]
    eps = [replace(e, ama=None) for e in eps]
    plan = plan_guild_events(eps, settings(create_ahead=2), NOW)
    stored = stored_from(diff_events(plan, {}, NOW, create_ahead=2))
    assert len(stored) == 2
    # A new, earlier episode enters the window: our two stay open, so no third is made.
    early = replace(episode("s2-e99", ls=NOW + 24 * H, number=99), ama=None)
    plan = plan_guild_events([early, *eps], settings(create_ahead=2), NOW)
    actions = diff_events(plan, stored, NOW, create_ahead=2)
    assert [a.key for a in actions if a.op is Op.CREATE] == []
    assert all(a.op is Op.NONE for a in actions)


def test_100_episodes_never_plan_more_than_create_ahead_creations():
    eps = [
        episode(f"e{n:03d}", ls=MONDAY + n * 24 * H, ama=FRIDAY + n * 24 * H, number=n)
        for n in range(100)
    ]
    plan = plan_guild_events(eps, settings(create_ahead=100), NOW)
    actions = diff_events(plan, {}, NOW, create_ahead=100)
    assert sum(a.op is Op.CREATE for a in actions) == 100
    assert len(plan) == 200


def test_image_data_uri():
    assert image_data_uri("image/png", b"\x89PNG") == "data:image/png;base64,iVBORw=="
    assert image_data_uri("text/html; charset=utf-8", b"<html>") is None


# -- applying through the store ------------------------------------------------------------


class RecordingApi:
    """Discord's event routes as a dict, refusing like Discord does when told to."""

    def __init__(self):
        self.events: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, int | None, dict[str, Any]]] = []
        self.refuse: EventsApiError | None = None
        self.next_id = 9000

    async def create_event(self, body):
        self.calls.append(("POST", None, body))
        if self.refuse:
            raise self.refuse
        self.next_id += 1
        self.events[self.next_id] = {**body, "id": str(self.next_id), "status": 1}
        return self.events[self.next_id]

    async def edit_event(self, event_id, body):
        self.calls.append(("PATCH", event_id, body))
        if self.refuse:
            raise self.refuse
        self.events[event_id].update(body)
        return self.events[event_id]

    async def fetch_image(self, url):
        return "data:image/png;base64,iVBORw=="


async def test_reconciler_creates_once_across_restarts_and_patches_once(tmp_path):
    path = tmp_path / "amabot.sqlite3"
    api = RecordingApi()
    cfg = settings()
    async with await open_store(path) as store:
        report = await EventReconciler(store.events, api, cfg).reconcile([episode()], NOW)
        assert len(report.applied) == 2
        assert api.calls[0][2]["image"] == "data:image/png;base64,iVBORw=="
    async with await open_store(path) as store:  # restart
        await EventReconciler(store.events, api, cfg).reconcile([episode()], NOW + H)
        assert [c[0] for c in api.calls] == ["POST", "POST"]
        await EventReconciler(store.events, api, cfg).reconcile(
            [episode(summary="A new summary.")], NOW + H
        )
        patches = [c for c in api.calls if c[0] == "PATCH"]
        assert len(patches) == 2
        assert all(set(body) == {"description"} for _, _, body in patches)
        key = await store.events.key_for(patches[0][1])
        assert key in ("event:s2-e05:livestream", "event:s2-e05:ama")


async def test_missing_manage_events_is_recorded_and_cleared(tmp_path):
    api = RecordingApi()
    api.refuse = EventsApiError(
        "403 Forbidden (error code: 50013): Missing Permissions", status=403, code=50013
    )
    async with await open_store(tmp_path / "db.sqlite3") as store:
        reconciler = EventReconciler(store.events, api, settings())
        report = await reconciler.reconcile([episode()], NOW)
        assert report.applied == []
        assert len(report.errors) == 2
        error = await store.events.permission_error()
        assert error is not None and "Manage Events" in error
        api.refuse = None
        report = await reconciler.reconcile([episode()], NOW)
        assert len(report.applied) == 2
        assert await store.events.permission_error() is None


async def test_disabled_events_do_nothing(tmp_path):
    api = RecordingApi()
    async with await open_store(tmp_path / "db.sqlite3") as store:
        await EventReconciler(store.events, api, Settings()).reconcile([episode()], NOW)
    assert api.calls == []


# -- the real corpus -----------------------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "model-mondays"


def test_every_corpus_episode_plans_events_discord_accepts():
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not beside the repo ({CORPUS})")
    from bot.content.index import ContentIndex

    index = ContentIndex(CORPUS.resolve(), Settings())
    index.reload()
    # The corpus's episodes are all published or TBD by now: replay them as if scheduled.
    episodes = [
        replace(e, status=EpisodeStatus.SCHEDULED) if e.status is EpisodeStatus.PUBLISHED else e
        for e in index.episodes()
    ]
    early = datetime(2024, 1, 1, tzinfo=UTC)
    cfg = settings(create_ahead=100)
    plan = plan_guild_events(episodes, cfg, early)
    assert plan, "the corpus should have scheduled episodes"
    assert len({s.key for s in plan}) == len(plan)
    for spec in plan:
        body = spec.body()
        assert 0 < len(body["name"]) <= NAME_MAX
        assert len(body["description"]) <= DESCRIPTION_MAX
        if spec.cancel:
            continue
        assert body["scheduled_end_time"] > body["scheduled_start_time"]
        if body["entity_type"] == 3:
            assert 0 < len(body["entity_metadata"]["location"]) <= 100
    creations = [a for a in diff_events(plan, {}, early, create_ahead=100) if a.op is Op.CREATE]
    assert 0 < len(creations) <= 100
