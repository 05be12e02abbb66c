"""bot/durations.py: every duration form the bot reads and writes, in its one home."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.durations import (
    duration_label,
    parse_duration,
    parse_duration_label,
    parse_spoken_duration,
    read_duration,
    short_duration,
    spoken_duration,
)
from bot.plan.when import WhenError, parse_when

H = timedelta(hours=1)
M = timedelta(minutes=1)

# -- the config's compact form -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("24h", timedelta(hours=24)),
        ("0m", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("2d", timedelta(days=2)),
        (" 1H 30M ", timedelta(hours=1, minutes=30)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "m", "30", "1.5h", "-5m", "30m1h", "half an hour", "9" * 12 + "d"]
)
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["24h", "1h", "10m", "0m", "1h30m", "1m30s", "36h"])
def test_duration_label_is_the_inverse_of_the_config_form(text):
    assert duration_label(parse_duration(text)) == text
    assert duration_label(parse_duration("60m")) == "1h"  # one reminder, however it is spelt


# -- key labels ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("td", "label"),
    [
        (24 * H, "24h"),
        (H, "1h"),
        (10 * M, "10m"),
        (timedelta(0), "0m"),
        (90 * M, "1h30m"),
        (timedelta(seconds=30), "30s"),
        (48 * H, "48h"),
    ],
)
def test_duration_label_round_trips(td, label):
    assert duration_label(td) == label
    assert parse_duration_label(label) == td


def test_duration_label_refuses_negative_and_fractional():
    with pytest.raises(ValueError):
        duration_label(-H)
    with pytest.raises(ValueError):
        duration_label(timedelta(milliseconds=1500))
    for bad in ("", "1d", "1 h", "h"):
        with pytest.raises(ValueError):
            parse_duration_label(bad)


# -- what an organiser types ---------------------------------------------------------------


def test_parse_spoken_duration():
    assert parse_spoken_duration("1h30m") == timedelta(minutes=90)
    assert parse_spoken_duration("2 hours, 5 mins") == timedelta(hours=2, minutes=5)
    assert parse_spoken_duration("1 day and 2 hours") == timedelta(days=1, hours=2)
    for bad in ("", "soon", "5 fortnights"):
        with pytest.raises(ValueError):
            parse_spoken_duration(bad)


def test_an_organisers_duration_reaches_them_as_a_when_error():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert parse_when("in 2 hours 15 minutes", now=now, tz="UTC") == now + 135 * M
    with pytest.raises(WhenError, match="fortnights"):
        parse_when("in 5 fortnights", now=now, tz="UTC")


# -- a content file's duration: ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", 30 * M),
        ("1h30m", 90 * M),
        ("1 hour", H),
        ("2hrs", 2 * H),
        ("45 min", 45 * M),
        ("90", 90 * M),
        (45, 45 * M),
        ("1:30", 90 * M),
        ("0:45:30", timedelta(minutes=45, seconds=30)),
    ],
)
def test_read_duration(value, expected):
    assert read_duration(value) == expected


@pytest.mark.parametrize("value", ["", "soon", True, None, 1.5, "2d", "9" * 20 + "h", "-5m"])
def test_read_duration_is_none_for_what_is_not_one(value):
    assert read_duration(value) is None


# -- texts for people ----------------------------------------------------------------------


def test_short_duration():
    assert short_duration(timedelta(seconds=45)) == "45s"
    assert short_duration(72 * M) == "1h12m"
    assert short_duration(timedelta(days=2, hours=3, minutes=4)) == "2d3h"
    assert short_duration(15 * M) == "15m"
    assert short_duration(-15 * M) == "15m"


def test_spoken_duration():
    assert spoken_duration(H) == "1 hour"
    assert spoken_duration(24 * H) == "24 hours"
    assert spoken_duration(90 * M) == "1 hour 30 minutes"
    assert spoken_duration(timedelta(0)) == "0 minutes"
