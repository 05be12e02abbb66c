"""Members' searches across several series (bot/content/across.py): real content folders,
real indexes, two series that both have an ``s1-e01``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from bot.config import ContentSettings, Settings
from bot.content.across import Across, Found
from bot.content.index import ContentIndex
from bot.content.lineup import Lineup
from bot.render.limits import CHOICE_NAME_MAX
from bot.render.messages import (
    autocomplete_name,
    recap_autocomplete_name,
    schedule_by_series_reply,
)
from tests.builders import episode_md, recap_md

NOW = datetime(2025, 7, 13, 16, 0, tzinfo=UTC)  # the Sunday before the week below

ep = partial(episode_md, timezone=None, summary="", guests=(), hosts=(), ama=None)
rc = partial(recap_md, authors=(), image=None, url=None, episode=None)


def two_series(root: Path) -> Settings:
    """Model Mondays (mm/) and Talk Tuesdays (tt/) in one checkout, as `[[series]]` loads
    them: the top-level sections are the first series'."""
    base = Settings(content=ContentSettings(path=root))

    def view(series_id: str, name: str, folder: str) -> Settings:
        return replace(
            base,
            series=replace(base.series, id=series_id, name=name),
            content=replace(base.content, episodes=f"{folder}/episodes", recaps=f"{folder}/recaps"),
        )

    a = view("model-mondays", "Model Mondays", "mm")
    b = view("talk-tuesdays", "Talk Tuesdays", "tt")
    return replace(a, lineup=(a, b))


def write(root: Path) -> Path:
    files = {
        "mm/episodes/s1-e01.md": ep(
            "s1-e01", season=1, number=1, title="Agents in Production",
            livestream="2025-07-21T17:00:00+00:00", tags=("agents",),
        ),
        "mm/episodes/s1-e02.md": ep(
            "s1-e02", season=1, number=2, title="Fine Tuning Basics",
            livestream="2025-07-01T17:00:00+00:00",
        ),
        "mm/episodes/s2-e05.md": ep(
            "s2-e05", season=2, number=5, title="Distillation with a tiny model",
            livestream="2025-07-28T17:00:00+00:00",
        ),
        "tt/episodes/s1-e01.md": ep(
            "s1-e01", season=1, number=1, title="Talking about Distillation",
            livestream="2025-07-15T17:00:00+00:00", guests=("Dave Voutila",),
        ),
        "tt/episodes/s1-e02.md": ep(
            "s1-e02", season=1, number=2, title="Vector Databases",
            livestream="2025-07-02T17:00:00+00:00",
        ),
        "mm/recaps/s1-e02.md": rc("mm-s1-e02", "S1:E2 Fine Tuning Basics recap", "2025-07-03"),
        "tt/recaps/s1-e02.md": rc("tt-s1-e02", "S1:E2 Vector Databases recap", "2025-07-05"),
    }  # fmt: skip
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def across(tmp_path) -> Across:
    lineup = Lineup(two_series(write(tmp_path / "content")))
    for _view, index in lineup:
        index.reload()
    return Across.of(lineup)


def named(found: list) -> list[tuple[str, str]]:
    return [(f.series, f.item.id) for f in found]


def test_each_series_reads_its_own_folders(across):
    mm, tt = across.shows
    assert (mm.name, tt.name) == ("Model Mondays", "Talk Tuesdays")
    assert {e.title for e in mm.index.episodes()} >= {"Agents in Production"}
    assert {e.title for e in tt.index.episodes()} == {
        "Talking about Distillation",
        "Vector Databases",
    }


def test_a_code_both_series_have_finds_both_and_values_tell_them_apart(across):
    found = across.search_episodes("s1e1", NOW)
    # Both exact; the one still ahead soonest first (Talk Tuesdays airs on the 15th).
    assert named(found[:2]) == [("talk-tuesdays", "s1-e01"), ("model-mondays", "s1-e01")]
    values = [across.choice_value(f) for f in found[:2]]
    assert values == ["talk-tuesdays:s1-e01", "model-mondays:s1-e01"]
    for value, title in zip(
        values, ("Talking about Distillation", "Agents in Production"), strict=True
    ):
        resolved = across.resolve_episode(value, NOW)
        assert resolved is not None and resolved.item.title == title
    # Typed, the code resolves to the one ahead soonest; narrowed, to that series'.
    assert named([across.resolve_episode("S1:E1", NOW)]) == [("talk-tuesdays", "s1-e01")]
    mm = across.show("model-mondays")
    assert named([across.resolve_episode("S1:E1", NOW, series=mm)]) == [("model-mondays", "s1-e01")]
    assert across.resolve_episode("s7e7", NOW) is None


def test_words_rank_full_matches_of_any_series_first(across):
    found = across.search_episodes("distillation", NOW)
    # Both cover the word and are ahead: the soonest (Talk Tuesdays, the 15th) first.
    assert named(found[:2]) == [("talk-tuesdays", "s1-e01"), ("model-mondays", "s2-e05")]
    only_b = across.resolve_episode("voutila", NOW)
    assert only_b is not None and only_b.series == "talk-tuesdays"
    # A series filter narrows.
    mm = across.show("model-mondays")
    assert named(across.search_episodes("distillation", NOW, series=mm)) == [
        ("model-mondays", "s2-e05")
    ]
    # Half a match is no answer (suggestions instead), across series as within one.
    assert across.resolve_episode("distillation quantum", NOW) is None
    suggestions = across.did_you_mean("distilation quantum", NOW, "episode")
    assert {f.series for f in suggestions} == {"model-mondays", "talk-tuesdays"}


def test_empty_query_is_every_series_upcoming_soonest_first_then_aired(across):
    found = across.search_episodes("", NOW, limit=5)
    assert named(found) == [
        ("talk-tuesdays", "s1-e01"),  # the 15th
        ("model-mondays", "s1-e01"),  # the 21st
        ("model-mondays", "s2-e05"),  # the 28th
        ("talk-tuesdays", "s1-e02"),  # aired the 2nd
        ("model-mondays", "s1-e02"),  # aired the 1st
    ]
    nxt = across.next_or_latest_episode(NOW)
    assert nxt is not None and (nxt.series, nxt.item.id) == ("talk-tuesdays", "s1-e01")
    later = datetime(2025, 9, 1, tzinfo=UTC)
    last = across.next_or_latest_episode(later)
    assert last is not None and (last.series, last.item.id) == ("model-mondays", "s2-e05")


def test_recaps_across_series(across):
    assert named(across.search_recaps("", NOW)) == [
        ("talk-tuesdays", "tt-s1-e02"),
        ("model-mondays", "mm-s1-e02"),
    ]
    latest = across.latest_recap(NOW)
    assert latest is not None and latest.series == "talk-tuesdays"
    vector = across.resolve_recap("vector", NOW)
    assert vector is not None and vector.item.id == "tt-s1-e02"
    # The episode code both series have: the latest published recap; a value pins the series.
    assert named([across.resolve_recap("s1e2", NOW)]) == [("talk-tuesdays", "tt-s1-e02")]
    pinned = across.resolve_recap("model-mondays:s1-e02", NOW)
    assert pinned is not None and pinned.item.id == "mm-s1-e02"
    assert across.resolve_recap("nothing like it", NOW) is None


def test_schedule_groups_by_series_in_config_order(across):
    groups = across.upcoming_events(NOW, limit=5)
    # (Each episode's AMA is inferred on its Friday: two events an episode.)
    assert [(s.id, list(dict.fromkeys(e.id for e, _ev in items))) for s, items in groups] == [
        ("model-mondays", ["s1-e01", "s2-e05"]),
        ("talk-tuesdays", ["s1-e01"]),
    ]
    payload = schedule_by_series_reply(
        [(s.name, items) for s, items in groups], now=NOW, season=None
    )
    titles = [e["title"] for e in payload["embeds"]]
    assert titles == ["Model Mondays: coming up", "Talk Tuesdays: coming up"]
    assert "**S1:E1** · Talking about Distillation" in payload["embeds"][1]["description"]
    assert payload["allowed_mentions"]["parse"] == []
    season2 = across.upcoming_events(NOW, season=2, limit=5)
    empty = schedule_by_series_reply([(s.name, i) for s, i in season2], now=NOW, season=2)
    assert "Nothing is scheduled in season 2" in empty["embeds"][1]["description"]


def test_many_series_share_one_message(tmp_path):
    long = "A series name far longer than anything a community would choose " * 3
    items = [(f"{long} {n}", []) for n in range(14)]
    payload = schedule_by_series_reply(items, now=NOW, season=None)
    assert len(payload["embeds"]) == 10
    total = sum(len(e["title"]) + len(e["description"]) for e in payload["embeds"])
    assert total + len(payload["embeds"][-1]["footer"]["text"]) <= 6000
    assert "4 more series" in payload["embeds"][-1]["footer"]["text"]


def test_series_option(across):
    assert across.pick_series("talk-tuesdays").id == "talk-tuesdays"
    assert across.pick_series("talk tuesdays").id == "talk-tuesdays"
    assert across.pick_series("Talk").id == "talk-tuesdays"
    assert across.pick_series("") is None and across.pick_series("zzz") is None
    assert across.series_choices("") == [
        ("Model Mondays", "model-mondays"),
        ("Talk Tuesdays", "talk-tuesdays"),
    ]
    assert across.series_choices("tues") == [("Talk Tuesdays", "talk-tuesdays")]


def test_one_series_answers_as_before(tmp_path):
    root = write(tmp_path / "content")
    settings = Settings(
        content=ContentSettings(path=root, episodes="mm/episodes", recaps="mm/recaps")
    )
    index = ContentIndex(root, settings)
    index.reload()
    one = Across.single(settings, index)
    assert not one.several
    found = one.search_episodes("fine", NOW)
    assert [f.item for f in found] == index.search_episodes("fine", NOW)
    # Bare ids as values, as before several series existed.
    assert [one.choice_value(f) for f in found] == ["s1-e02"]
    assert one.resolve_episode("s1-e02", NOW).item.title == "Fine Tuning Basics"


def test_choice_names_and_values_stay_within_discord_limits(across, tmp_path):
    huge = replace(
        across.first.index.episode("s1-e01"),
        id="x" * 150,
        title="T" * 300,
        guests=("G" * 80,),
    )
    found = Found(across.shows[1], huge)
    value = across.choice_value(found)
    assert len(value) <= 100 and value.startswith("talk-tuesdays:")
    assert across.split_value(value)[0] is across.shows[1]
    name = autocomplete_name(huge, "Talk Tuesdays " * 20)
    assert len(name) <= CHOICE_NAME_MAX and name.startswith("Talk Tuesdays")
    assert "S1:E1" in name
    short = across.search_episodes("s1e1", NOW)[0]
    assert autocomplete_name(short.item, short.show.name) == (
        "Talk Tuesdays · S1:E1 · Talking about Distillation — Dave Voutila"
    )
    recap = across.search_recaps("", NOW)[0]
    rname = recap_autocomplete_name(recap.item, None, recap.show.name)
    assert rname == "Talk Tuesdays · S1:E2 Vector Databases recap · 2025-07-05"
