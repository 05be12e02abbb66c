"""Organiser times: every accepted form, DST gaps and folds, and the errors people read."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.plan.when import WhenError, is_ambiguous, parse_when, wall_to_utc

LA = "America/Los_Angeles"
# Wednesday 2026-11-25, 08:00 in Los Angeles (PST, UTC-8).
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def la(y, mo, d, h, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(LA)).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 09:00", la(2026, 12, 1, 9)),
        ("2026-12-01T09:00", la(2026, 12, 1, 9)),
        ("2026-12-01 9am", la(2026, 12, 1, 9)),
        ("2026-12-01 9:30pm", la(2026, 12, 1, 21, 30)),
        ("2026-12-01 at 09:00", la(2026, 12, 1, 9)),
        ("Dec 1 09:00", la(2026, 12, 1, 9)),
        ("1 December 2026 9:30pm", la(2026, 12, 1, 21, 30)),
        ("tomorrow 09:00", la(2026, 11, 26, 9)),
        ("Tomorrow at 9am", la(2026, 11, 26, 9)),
        ("today 17:30", la(2026, 11, 25, 17, 30)),
        ("friday 10:30", la(2026, 11, 27, 10, 30)),
        ("fri 10:30", la(2026, 11, 27, 10, 30)),
        ("FRIDAY   10:30", la(2026, 11, 27, 10, 30)),
        ("wednesday 09:00", la(2026, 11, 25, 9)),  # today, still ahead
        ("wednesday 07:00", la(2026, 12, 2, 7)),  # today but passed: next week
        ("next wednesday 09:00", la(2026, 12, 2, 9)),
        ("next friday 10:30", la(2026, 11, 27, 10, 30)),
        ("10:30", la(2026, 11, 25, 10, 30)),  # today, still ahead
        ("07:59", la(2026, 11, 26, 7, 59)),  # passed: tomorrow
        ("noon", la(2026, 11, 25, 12)),
        ("in 2h", NOW + timedelta(hours=2)),
        ("in 90m", NOW + timedelta(minutes=90)),
        ("in 1h30m", NOW + timedelta(hours=1, minutes=30)),
        ("in 2 hours and 15 minutes", NOW + timedelta(hours=2, minutes=15)),
        ("in 3d", NOW + timedelta(days=3)),
        ("in 45s", NOW + timedelta(seconds=45)),
        ("2026-12-01T09:00-08:00", datetime(2026, 12, 1, 17, tzinfo=UTC)),
        ("2026-12-01T09:00+01:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),
        ("2026-12-01T17:00Z", datetime(2026, 12, 1, 17, tzinfo=UTC)),
        ("2026-12-01 17:00:30Z", datetime(2026, 12, 1, 17, 0, 30, tzinfo=UTC)),
    ],
)
def test_every_form(text, expected):
    got = parse_when(text, now=NOW, tz=LA)
    assert got == expected
    assert got.tzinfo is UTC


def test_zone_matters_for_wall_clock_but_not_for_offsets():
    assert parse_when("2026-12-01 09:00", now=NOW, tz="Europe/London") == datetime(
        2026, 12, 1, 9, tzinfo=UTC
    )
    assert parse_when("2026-12-01T09:00Z", now=NOW, tz="Asia/Tokyo") == datetime(
        2026, 12, 1, 9, tzinfo=UTC
    )


def test_today_is_the_day_in_the_series_zone_not_utc():
    # 2026-11-26 05:00 UTC is still Wednesday 21:00 in Los Angeles.
    now = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    assert parse_when("today 22:00", now=now, tz=LA) == la(2026, 11, 25, 22)
    assert parse_when("tomorrow 09:00", now=now, tz=LA) == la(2026, 11, 26, 9)


def test_in_is_elapsed_time_across_a_dst_change():
    # The night clocks fall back in LA: "in 2h" is two real hours, not two wall-clock hours.
    now = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)  # 01:00 PDT
    assert parse_when("in 2h", now=now, tz=LA) == now + timedelta(hours=2)


def test_past_times_are_returned_for_the_caller_to_refuse():
    assert parse_when("2020-01-01 09:00", now=NOW, tz=LA) < NOW
    assert parse_when("today 07:00", now=NOW, tz=LA) < NOW


def test_spring_forward_gap_is_refused_clearly():
    with pytest.raises(WhenError) as err:
        parse_when("2026-03-08 02:30", now=NOW, tz=LA)
    message = str(err.value)
    assert "does not exist" in message and LA in message and "1 hour" in message
    assert "03:30" in message  # a suggestion outside the gap
    with pytest.raises(WhenError, match="does not exist"):
        parse_when("2026-03-29 01:30", now=NOW, tz="Europe/London")


def test_fall_back_fold_takes_the_first_occurrence():
    # 01:30 happens twice in LA on 2026-11-01: first at PDT (08:30 UTC), then PST (09:30 UTC).
    assert is_ambiguous(date(2026, 11, 1), time(1, 30), LA)
    assert not is_ambiguous(date(2026, 11, 2), time(1, 30), LA)
    assert parse_when("2026-11-01 01:30", now=NOW, tz=LA) == datetime(
        2026, 11, 1, 8, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("day", "clock", "tz", "expected_utc"),
    [
        # US: spring forward 2026-03-08, fall back 2026-11-01 (10:30 PDT = 17:30Z, PST = 18:30Z)
        (date(2026, 3, 6), time(10, 30), LA, datetime(2026, 3, 6, 18, 30, tzinfo=UTC)),
        (date(2026, 3, 9), time(10, 30), LA, datetime(2026, 3, 9, 17, 30, tzinfo=UTC)),
        (date(2026, 10, 30), time(10, 30), LA, datetime(2026, 10, 30, 17, 30, tzinfo=UTC)),
        (date(2026, 11, 2), time(10, 30), LA, datetime(2026, 11, 2, 18, 30, tzinfo=UTC)),
        # EU: 2026-03-29 and 2026-10-25
        (
            date(2026, 3, 27),
            time(10, 30),
            "Europe/London",
            datetime(2026, 3, 27, 10, 30, tzinfo=UTC),
        ),
        (
            date(2026, 3, 30),
            time(10, 30),
            "Europe/London",
            datetime(2026, 3, 30, 9, 30, tzinfo=UTC),
        ),
        (
            date(2026, 10, 23),
            time(10, 30),
            "Europe/London",
            datetime(2026, 10, 23, 9, 30, tzinfo=UTC),
        ),
        (
            date(2026, 10, 26),
            time(10, 30),
            "Europe/London",
            datetime(2026, 10, 26, 10, 30, tzinfo=UTC),
        ),
    ],
)
def test_wall_to_utc_across_dst(day, clock, tz, expected_utc):
    assert wall_to_utc(day, clock, tz) == expected_utc


@pytest.mark.parametrize(
    "text",
    [
        "blah",
        "",
        "   ",
        "tomorrow",
        "friday",
        "25:00",
        "10:75",
        "13pm",
        "in",
        "in soon",
        "in 2 fortnights",
        "2026-02-30 09:00",
        "17",
        "tomorrow blah",
    ],
)
def test_errors_are_whenerrors_a_person_can_read(text):
    with pytest.raises(WhenError) as err:
        parse_when(text, now=NOW, tz=LA)
    message = str(err.value)
    assert message and "Traceback" not in message
    assert len(message) < 300


def test_unreadable_text_names_the_input_and_gives_examples():
    with pytest.raises(WhenError) as err:
        parse_when("blah", now=NOW, tz=LA)
    assert str(err.value) == (
        "I couldn't read 'blah' as a time; try `tomorrow 09:00`, `in 2h` or `2026-12-01 09:00`"
    )


def test_a_day_without_a_time_asks_for_one():
    with pytest.raises(WhenError, match="no time"):
        parse_when("tomorrow", now=NOW, tz=LA)


def test_slashed_dates_are_refused_as_ambiguous():
    with pytest.raises(WhenError, match="ambiguous"):
        parse_when("12/01 9am", now=NOW, tz=LA)


def test_unknown_zone_is_a_whenerror():
    with pytest.raises(WhenError, match="time zone"):
        parse_when("10:30", now=NOW, tz="Mars/Olympus")


def test_naive_now_is_a_bug():
    with pytest.raises(ValueError):
        parse_when("10:30", now=datetime(2026, 1, 1), tz=LA)


def test_month_names_without_year_pick_the_next_such_date():
    assert parse_when("Jan 5 10:00", now=NOW, tz=LA) == la(2027, 1, 5, 10)
