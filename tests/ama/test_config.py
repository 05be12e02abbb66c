"""`[ama]` and `[series] id` in the config: defaults, and errors that name the key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, load_settings


def load(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def test_the_ama_is_off_by_default_and_reads_every_key(tmp_path):
    assert not load(tmp_path, "").ama.enabled
    s = load(
        tmp_path,
        """
[ama]
enabled = true
channel_id = 11
review_channel_id = "12"
review = "post"
host_role_ids = [13, "14"]
open_before = "2h"
close_after = "30m"
max_open = 2
cooldown = "30s"
push = false
""",
    )
    ama = s.ama
    assert (ama.channel_id, ama.review_channel_id, ama.review) == (11, 12, "post")
    assert ama.host_role_ids == (13, 14)
    assert ama.open_before == timedelta(hours=2)
    assert ama.close_after == timedelta(minutes=30)
    assert (ama.max_open, ama.cooldown, ama.push) == (2, timedelta(seconds=30), False)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[ama]\nenabled = true\nreview_channel_id = 2\n", "ama.channel_id", "required"),
        ("[ama]\nenabled = true\nchannel_id = 1\n", "ama.review_channel_id", "required"),
        ('[ama]\nreview = "later"\n', "ama.review", '"pre", "post" or "off"'),
        ("[ama]\nmin_length = 50\nmax_length = 20\n", "ama.min_length", "max_length"),
        ('[ama]\nhost_role_ids = ["x"]\n', "ama.host_role_ids[0]", "Discord id"),
        ('[series]\nid = "Model Mondays"\n', "series.id", "slug"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, key, words):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.key == key
    assert words in str(info.value)


def test_review_off_needs_no_review_channel(tmp_path):
    s = load(tmp_path, '[ama]\nenabled = true\nchannel_id = 1\nreview = "off"\n')
    assert s.ama.review == "off"


def test_the_series_id_defaults_to_the_names_slug(tmp_path):
    assert load(tmp_path, '[series]\nname = "Foundry Fridays!"\n').series.id == "foundry-fridays"
