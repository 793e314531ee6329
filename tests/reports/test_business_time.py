"""The business-time seam: open seconds between two moments, and deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.reports.business_time import ALWAYS_OPEN, weekly_hours
from tests.reports.seed import HOURS

JST = timezone(timedelta(hours=9))
# Asia/Tokyo weekdays 09:00-18:00, with Japan's public holidays: Monday
# 2026-11-23 is Labour Thanksgiving Day.
TOKYO = weekly_hours({**HOURS, "closed_dates": [], "holiday_calendar": "JP"})


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=JST)


def test_open_seconds_skip_the_night_the_weekend_and_the_holiday() -> None:
    assert TOKYO.business_seconds(jst(20, 17, 30), jst(24, 9, 30)) == 3600
    assert TOKYO.business_seconds(jst(25, 8), jst(25, 9, 15)) == 900
    assert TOKYO.business_seconds(jst(21, 10), jst(22, 23)) == 0  # a weekend
    assert TOKYO.business_seconds(jst(23, 9), jst(23, 18)) == 0  # the holiday
    assert TOKYO.business_seconds(jst(24, 9), jst(24, 8)) == 0


def test_a_deadline_in_business_time_waits_for_the_opening() -> None:
    # One business hour from Friday 17:30: half an hour Friday, half Tuesday.
    assert TOKYO.add_business_seconds(jst(20, 17, 30), 3600) == jst(24, 9, 30)
    assert TOKYO.add_business_seconds(jst(25, 8), 60) == jst(25, 9, 1)
    assert ALWAYS_OPEN.add_business_seconds(jst(25, 8), 60) == jst(25, 8, 1)


def test_unreadable_or_missing_hours_are_always_open() -> None:
    assert weekly_hours(None) is ALWAYS_OPEN
    assert weekly_hours({"timezone": "Nowhere/Else", "weekly": {"mon": []}}) is ALWAYS_OPEN
