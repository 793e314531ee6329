"""The calendar with explicit moments: no clock, no server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.inboxes import calendar
from app.inboxes.calendar import BusinessHours, from_json

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


def hours(
    tz: str = "Asia/Tokyo",
    weekly: dict[str, list[list[str]]] | None = None,
    closed_dates: list[str] | None = None,
    holiday_calendar: str | None = None,
) -> BusinessHours:
    found = from_json(
        {
            "timezone": tz,
            "weekly": weekly if weekly is not None else {"mon": [["09:00", "18:00"]]},
            "closed_dates": closed_dates or [],
            "holiday_calendar": holiday_calendar,
        }
    )
    assert found is not None
    return found


WEEKDAYS_9_TO_6 = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def test_a_monday_in_tokyo() -> None:
    week = hours(weekly=WEEKDAYS_9_TO_6)
    monday = datetime(2026, 3, 2, tzinfo=TOKYO)  # a Monday
    assert not week.is_open(monday.replace(hour=8, minute=59))
    assert week.is_open(monday.replace(hour=9))
    assert week.is_open(monday.replace(hour=17, minute=59))
    assert not week.is_open(monday.replace(hour=18))  # the end is exclusive
    assert week.next_opening(monday.replace(hour=7)) == monday.replace(hour=9)
    assert week.next_closing(monday.replace(hour=10)) == monday.replace(hour=18)
    # After Friday's close, Monday morning.
    friday_night = monday + timedelta(days=4, hours=20)
    assert week.next_opening(friday_night) == monday.replace(hour=9) + timedelta(days=7)
    # Open now: the next opening is now; closed now: the next closing is now.
    noon = monday.replace(hour=12)
    assert week.next_opening(noon) == noon
    assert week.next_closing(monday.replace(hour=20)) == monday.replace(hour=20)
    # Business seconds from Monday noon to Tuesday noon: 6 + 3 hours.
    assert week.business_seconds(noon, noon + timedelta(days=1)) == 9 * 3600
    assert week.business_seconds(noon, noon) == 0
    assert week.business_seconds(noon + timedelta(hours=1), noon) == 0
    # The answers do not depend on the zone the question is asked in.
    assert week.is_open(monday.replace(hour=9).astimezone(UTC))


def test_new_year_is_a_japanese_holiday() -> None:
    every_day = {day: [["09:00", "18:00"]] for day in calendar.WEEKDAYS}
    japan = hours(weekly=every_day, holiday_calendar="JP")
    plain = hours(weekly=every_day)
    new_year = datetime(2027, 1, 1, 10, tzinfo=TOKYO)  # a Friday
    assert plain.is_open(new_year)
    assert not japan.is_open(new_year)
    assert japan.next_opening(new_year) == datetime(2027, 1, 2, 9, tzinfo=TOKYO)
    # A whole holiday adds no business time.
    assert (
        japan.business_seconds(
            datetime(2027, 1, 1, tzinfo=TOKYO), datetime(2027, 1, 2, tzinfo=TOKYO)
        )
        == 0
    )


def test_closed_dates_close_the_day() -> None:
    week = hours(weekly=WEEKDAYS_9_TO_6, closed_dates=["2026-03-02"])
    monday = datetime(2026, 3, 2, 10, tzinfo=TOKYO)
    assert not week.is_open(monday)
    assert week.next_opening(monday) == datetime(2026, 3, 3, 9, tzinfo=TOKYO)


def test_a_lunch_break() -> None:
    week = hours(weekly={"mon": [["09:00", "12:00"], ["13:00", "18:00"]]})
    monday = datetime(2026, 3, 2, tzinfo=TOKYO)
    assert week.is_open(monday.replace(hour=11, minute=59))
    assert not week.is_open(monday.replace(hour=12, minute=30))
    assert week.next_opening(monday.replace(hour=12, minute=30)) == monday.replace(hour=13)
    assert week.next_closing(monday.replace(hour=10)) == monday.replace(hour=12)
    assert week.business_seconds(monday, monday + timedelta(days=1)) == 8 * 3600
    # Two business hours asked for at 11:00 are due at 14:00, over lunch.
    assert week.add_business_seconds(monday.replace(hour=11), 2 * 3600) == monday.replace(hour=14)


def test_a_slot_across_midnight() -> None:
    nights = hours(weekly={"fri": [["22:00", "02:00"]], "sat": [["00:00", "03:00"]]})
    friday = datetime(2026, 3, 6, tzinfo=TOKYO)
    saturday = friday + timedelta(days=1)
    assert not nights.is_open(friday.replace(hour=21))
    assert nights.is_open(friday.replace(hour=23))
    assert nights.is_open(saturday.replace(hour=1, minute=30))
    # Friday's night runs into Saturday's own early slot: one stretch to 03:00.
    assert nights.next_closing(friday.replace(hour=23)) == saturday.replace(hour=3)
    assert not nights.is_open(saturday.replace(hour=3))
    assert nights.business_seconds(friday, saturday + timedelta(days=1)) == 5 * 3600
    # A slot belongs to its starting day: a closed Friday closes the whole night.
    closed = hours(weekly={"fri": [["22:00", "02:00"]]}, closed_dates=["2026-03-06"])
    assert not closed.is_open(saturday.replace(hour=1))


def test_a_day_ending_at_24_00_and_a_week_that_never_closes() -> None:
    late = hours(weekly={"mon": [["20:00", "24:00"]]})
    monday = datetime(2026, 3, 2, tzinfo=TOKYO)
    assert late.is_open(monday.replace(hour=23, minute=59))
    assert late.next_closing(monday.replace(hour=21)) == monday + timedelta(days=1)
    always = hours(weekly={day: [["00:00", "24:00"]] for day in calendar.WEEKDAYS})
    assert always.is_open(monday)
    assert always.next_closing(monday) is None
    never = hours(weekly={})
    assert not never.is_open(monday)
    assert never.next_opening(monday) is None
    assert never.add_business_seconds(monday, 60) is None


def test_spring_forward_in_new_york() -> None:
    # 8 March 2026: clocks go from 02:00 EST to 03:00 EDT.
    days = hours("America/New_York", weekly={"sun": [["09:00", "17:00"], ["01:00", "04:00"]]})
    sunday = date(2026, 3, 8)
    nine = datetime(2026, 3, 8, 9, tzinfo=NEW_YORK)
    assert nine.utcoffset() == timedelta(hours=-4)
    assert days.is_open(nine)
    assert days.next_closing(nine) == datetime(2026, 3, 8, 17, tzinfo=NEW_YORK)
    # 09:00-17:00 keeps its 8 hours; 01:00-04:00 lost the skipped hour.
    morning = datetime(2026, 3, 8, 0, tzinfo=NEW_YORK)
    total = days.business_seconds(morning, morning + timedelta(hours=23))
    assert total == (8 + 2) * 3600
    assert sunday.weekday() == 6
    # The opening a week before is at 09:00 EST, 14:00 UTC; on the day, 13:00 UTC.
    assert days.next_opening(datetime(2026, 3, 8, 5, tzinfo=NEW_YORK)) == datetime(
        2026, 3, 8, 13, tzinfo=UTC
    )
    assert days.next_opening(datetime(2026, 3, 1, 5, tzinfo=NEW_YORK)) == datetime(
        2026, 3, 1, 14, tzinfo=UTC
    )


def test_fall_back_in_new_york() -> None:
    # 1 November 2026: clocks go from 02:00 EDT back to 01:00 EST.
    days = hours("America/New_York", weekly={"sun": [["00:00", "03:00"], ["09:00", "17:00"]]})
    midnight = datetime(2026, 11, 1, 0, tzinfo=NEW_YORK)
    # 00:00-03:00 on the wall is four real hours that night.
    assert days.next_closing(midnight) == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert days.business_seconds(midnight, midnight + timedelta(days=1)) == (4 + 8) * 3600
    assert days.next_opening(datetime(2026, 11, 1, 4, tzinfo=NEW_YORK)) == datetime(
        2026, 11, 1, 14, tzinfo=UTC
    )


def test_no_business_hours_is_always_open() -> None:
    t = datetime(2026, 3, 2, 3, tzinfo=UTC)
    assert calendar.is_open(None, t)
    assert calendar.next_opening(None, t) == t
    assert calendar.next_closing(None, t) is None
    assert calendar.business_seconds(None, t, t + timedelta(hours=2)) == 7200
    assert calendar.add_business_seconds(None, t, 60) == t + timedelta(seconds=60)


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        hours().is_open(datetime(2026, 3, 2, 10))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    "week",
    [
        {"mon": [["09:00", "17:00"]], "fri": [["22:00", "02:00"]]},
        {day: [["00:00", "24:00"]] for day in calendar.WEEKDAYS},
        {"sat": [["00:00", "24:00"]], "sun": [["23:00", "01:00"]], "wed": [["01:30", "03:30"]]},
    ],
)
def test_open_now_agrees_with_the_open_periods(week: dict[str, list[list[str]]]) -> None:
    """`is_open` reads one day's slots; the periods merge them: the two agree
    on every quarter hour of a fortnight across New York's spring forward."""
    hours = from_json({"timezone": "America/New_York", "weekly": week})
    assert hours is not None
    t = datetime(2026, 3, 2, tzinfo=UTC)
    while t < datetime(2026, 3, 16, tzinfo=UTC):
        first = next(hours.periods(t), None)
        inside = first is not None and first[0] <= t < first[1]
        assert hours.is_open(t) is inside, t
        assert (hours.next_opening(t) == t) is inside, t
        t += timedelta(minutes=15)
