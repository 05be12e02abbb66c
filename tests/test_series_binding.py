"""The series bound to a database (bot/services/series_binding.py): the pure decisions, and
the binding over a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from bot.config import ConfigError, load_settings
from bot.plan.kinds import scoped_id
from bot.plan.posts import PlannedPost, PostStatus
from bot.services.posting import _repo_id
from bot.services.series_binding import (
    bind_series,
    bind_settings,
    key_prefix,
    removed_series,
    series_store,
)
from bot.store import open_store

T0 = datetime(2025, 7, 14, 12, 0, tzinfo=UTC)

TWO = """
[[series]]
id = "model-mondays"
name = "Model Mondays"
[[series]]
id = "talk"
name = "Talk Tuesdays"
[series.content]
episodes = "talk/episodes"
recaps = "talk/recaps"
ama = "talk/ama"
"""


def two(tmp_path):
    path = tmp_path / "amabot.toml"
    path.write_text(TWO + f'[storage]\ndatabase = "{tmp_path / "db.sqlite3"}"\n', "utf-8")
    return load_settings(path, environ={})


def test_the_home_series_keys_are_bare_every_others_carry_its_id(tmp_path):
    assert key_prefix("mm", "mm") == "" and key_prefix("talk", "mm") == "talk/"
    bound = bind_settings(two(tmp_path), "model-mondays")
    first, second = bound.shows()
    assert bound.series == first.series and bound.lineup == (first, second)
    assert scoped_id(first, "s1-e01") == "s1-e01"
    assert scoped_id(second, "s1-e01") == "talk/s1-e01"
    # The database's owner need not be first in the file: it keeps its bare keys.
    first, second = bind_settings(two(tmp_path), "talk").shows()
    assert (first.series.key_prefix, second.series.key_prefix) == ("model-mondays/", "")


def test_removed_series_are_those_with_pending_posts_no_longer_configured():
    assert removed_series({"mm", "old", ""}, ["mm", "talk"]) == ["old"]
    assert removed_series(set(), ["mm"]) == []


def test_a_push_is_matched_to_a_checkout_by_its_repository():
    names = {
        "https://github.com/Org/Content.git",
        "git@github.com:org/content.git",
        "ssh://git@github.com/org/content",
        "org/content",
        "https://github.com/org/content/",
    }
    assert {_repo_id(n) for n in names} == {"org/content"}
    assert _repo_id("https://github.com/org/other.git") != "org/content"


async def test_binding_a_new_database_gives_the_first_series_the_bare_keys(tmp_path):
    settings = two(tmp_path)
    clock = ManualClock(T0)
    async with await open_store(settings.storage.database, clock=clock) as store:
        binding = await bind_series(settings, store, T0)
        assert binding.home == "model-mondays"
        assert binding.first_start == {"model-mondays": True, "talk": True}
        talk = series_store(store, "talk", binding)
        await talk.mark_initialised(T0)
        assert talk.first_start is False and store.first_start is True
    async with await open_store(settings.storage.database, clock=clock) as store:
        binding = await bind_series(settings, store, T0)
        assert binding.first_start == {"model-mondays": True, "talk": False}


async def test_a_removed_series_pending_posts_are_cancelled_with_the_reason(tmp_path):
    settings = two(tmp_path)
    clock = ManualClock(T0)
    async with await open_store(settings.storage.database, clock=clock) as store:
        await bind_series(settings, store, T0)
        post = PlannedPost(key="recap:gone/r1", kind="recap", due_at=T0, channel_id=1, payload={})
        await store.outbox.reconcile([post], scope="recap:", now=T0, series="gone")
        binding = await bind_series(settings, store, T0)
        assert binding.cancelled == {"gone": ["recap:gone/r1"]}
        row = await store.outbox.get("recap:gone/r1")
        assert (row.status, row.reason) == (
            PostStatus.CANCELLED,
            "series gone removed from the config",
        )


async def test_a_single_series_whose_id_changed_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "amabot.toml"
    database = tmp_path / "db.sqlite3"
    path.write_text(f'[series]\nname = "Model Mondays"\n[storage]\ndatabase = "{database}"\n')
    clock = ManualClock(T0)
    async with await open_store(database, clock=clock) as store:
        await bind_series(load_settings(path, environ={}), store, T0)
    path.write_text(f'[series]\nname = "Model Mondays 2"\n[storage]\ndatabase = "{database}"\n')
    async with await open_store(database, clock=clock) as store:
        with pytest.raises(ConfigError) as info:
            await bind_series(load_settings(path, environ={}), store, T0)
    assert info.value.key == "series.id"
    assert 'id = "model-mondays"' in str(info.value)
