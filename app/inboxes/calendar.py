"""Business hours as a calendar: open at t, the next opening and closing, and
how many open seconds lie between two moments.

Pure functions over a `BusinessHours` value, with no database and no clock:
responders, routing, SLA clocks and reports all ask the same questions here.

The week is written in the inbox's own wall time (zoneinfo). A slot belongs to
the day it starts on: `["22:00", "02:00"]` on Friday runs into Saturday
morning, and a closed date or public holiday closes the slots that start on
it. Wall times become instants through the time zone, so a slot keeps its
wall-clock hours on the days daylight saving starts or ends (a 09:00-17:00
day is 8 hours long either side of the change; a slot across the change is
an hour shorter or longer, as the clock on the wall says). A wall time the
spring-forward gap skips (02:30 in New York) is read with the offset before
the gap, i.e. it falls an hour later on the new clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
# How far ahead an opening is looked for: a year of closed dates and holidays
# is the longest closure anyone configures; past that the inbox never opens.
SEARCH_DAYS = 400

# (start, end) in minutes after the local midnight of the slot's day; end is
# at most 24:00 for a slot within its day, or ≤ start for one across midnight.
Slot = tuple[int, int]
Period = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When an inbox is open. `weekly[0]` is Monday's slots; a weekday without
    slots is closed. `holiday_calendar` is a country code of the `holidays`
    package ("JP"), its public holidays closed."""

    timezone: ZoneInfo
    weekly: Mapping[int, Sequence[Slot]]
    closed_dates: frozenset[date] = field(default_factory=frozenset)
    holiday_calendar: str | None = None

    # -- the questions -------------------------------------------------------

    def is_open(self, t: datetime) -> bool:
        # Asked for every message: only the slots that can hold `t` (today's
        # and yesterday's, which may run past midnight), never the merged
        # periods, which for hours open round the clock run SEARCH_DAYS ahead.
        if t.tzinfo is None:
            raise ValueError("business hours need an aware datetime")
        today = t.astimezone(self.timezone).date()
        return any(
            start <= t < end
            for day in (today - timedelta(days=1), today)
            for start, end in self._day_periods(day)
        )

    def next_opening(self, t: datetime) -> datetime | None:
        """The first moment at or after `t` when the inbox is open (`t` itself
        when open now); None when it never opens within SEARCH_DAYS."""
        if self.is_open(t):
            return t
        for start, end in self.periods(t):
            if end > t:
                return max(start, t)
        return None

    def next_closing(self, t: datetime) -> datetime | None:
        """The first moment at or after `t` when the inbox is closed (`t` itself
        when closed now); None when it stays open through SEARCH_DAYS."""
        period = self._period_at(t)
        if period is None:
            return t
        end = period[1]
        return end if end - t < timedelta(days=SEARCH_DAYS) else None

    def business_seconds(self, t1: datetime, t2: datetime) -> float:
        """Open seconds between `t1` and `t2` (0 when `t2` is not after `t1`)."""
        if t2 <= t1:
            return 0.0
        total = 0.0
        for start, end in self.periods(t1, until=t2):
            total += (min(end, t2) - max(start, t1)).total_seconds()
        return total

    def add_business_seconds(self, t: datetime, seconds: float) -> datetime | None:
        """The moment when `seconds` of open time have passed since `t`: a
        reply due in one business hour, asked for at closing time, is due an
        hour after the next opening. None when the hours run out first."""
        left = max(0.0, seconds)
        for start, end in self.periods(t):
            begin = max(start, t)
            if end <= begin:
                continue
            available = (end - begin).total_seconds()
            if left <= available:
                return begin + timedelta(seconds=left)
            left -= available
        return None

    # -- open periods ----------------------------------------------------------

    def periods(self, t: datetime, until: datetime | None = None) -> Iterator[Period]:
        """The open periods (UTC, merged where one ends as the next begins) that
        end after `t`, in order, up to `until` or SEARCH_DAYS ahead."""
        if t.tzinfo is None:
            raise ValueError("business hours need an aware datetime")
        horizon = until if until is not None else t + timedelta(days=SEARCH_DAYS)
        # A slot of yesterday may run past midnight into today.
        day = t.astimezone(self.timezone).date() - timedelta(days=1)
        last_day = horizon.astimezone(self.timezone).date()
        pending: Period | None = None
        while day <= last_day:
            for start, end in self._day_periods(day):
                if end <= t:
                    continue
                if pending is not None and start <= pending[1]:
                    pending = (pending[0], max(pending[1], end))
                    continue
                if pending is not None:
                    yield pending
                if start >= horizon:
                    return
                pending = (start, end)
            day += timedelta(days=1)
        if pending is not None:
            yield pending

    def _period_at(self, t: datetime) -> Period | None:
        for start, end in self.periods(t):
            return (start, end) if start <= t else None
        return None

    def _day_periods(self, day: date) -> list[Period]:
        if day in self.closed_dates or self._holiday(day):
            return []
        found = []
        for start, end in self.weekly.get(day.weekday(), ()):
            begins = _instant(day, start, self.timezone)
            ends = _instant(day + timedelta(days=1), end, self.timezone) if end <= start else None
            if ends is None:
                ends = _instant(day, end, self.timezone)
            if ends > begins:
                found.append((begins, ends))
        return sorted(found)

    def _holiday(self, day: date) -> bool:
        return self.holiday_calendar is not None and day in _holidays(
            self.holiday_calendar, day.year
        )


ALWAYS_OPEN: BusinessHours | None = None
"""An inbox without business hours: open around the clock (the callers' None)."""


def is_open(hours: BusinessHours | None, t: datetime) -> bool:
    return hours is None or hours.is_open(t)


def next_opening(hours: BusinessHours | None, t: datetime) -> datetime | None:
    return t if hours is None else hours.next_opening(t)


def next_closing(hours: BusinessHours | None, t: datetime) -> datetime | None:
    return None if hours is None else hours.next_closing(t)


def business_seconds(hours: BusinessHours | None, t1: datetime, t2: datetime) -> float:
    if hours is None:
        return max(0.0, (t2 - t1).total_seconds())
    return hours.business_seconds(t1, t2)


def add_business_seconds(
    hours: BusinessHours | None, t: datetime, seconds: float
) -> datetime | None:
    if hours is None:
        return t + timedelta(seconds=max(0.0, seconds))
    return hours.add_business_seconds(t, seconds)


def _instant(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """A wall time of `day` (24:00 is the next midnight) as a UTC instant."""
    extra, minutes = divmod(minutes, MINUTES_PER_DAY)
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz)
    if extra:
        local = datetime.combine(day + timedelta(days=extra), local.timetz())
    return local.astimezone(UTC)


@lru_cache(maxsize=256)
def _holidays(calendar: str, year: int) -> frozenset[date]:
    import holidays  # noqa: PLC0415 - loads its country tables only when an inbox names one

    return frozenset(holidays.country_holidays(calendar, years=year).keys())


def known_holiday_calendar(code: str) -> bool:
    import holidays  # noqa: PLC0415

    return code in holidays.list_supported_countries()


def parse_clock(text: str) -> int:
    """`HH:MM` (00:00 to 24:00) as minutes after midnight."""
    hours, _, minutes = text.partition(":")
    if not (len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"{text!r} is not HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return value


def from_json(raw: Mapping[str, object] | None) -> BusinessHours | None:
    """The stored form (the API's, validated on the way in) as a calendar;
    None (always open) for an inbox without business hours."""
    if not raw:
        return None
    weekly_raw = raw.get("weekly") or {}
    assert isinstance(weekly_raw, Mapping)
    weekly: dict[int, list[Slot]] = {}
    for index, name in enumerate(WEEKDAYS):
        slots = weekly_raw.get(name) or []
        assert isinstance(slots, list)
        weekly[index] = [(parse_clock(start), parse_clock(end)) for start, end in slots]
    closed = raw.get("closed_dates") or []
    assert isinstance(closed, list)
    calendar = raw.get("holiday_calendar")
    return BusinessHours(
        timezone=ZoneInfo(str(raw["timezone"])),
        weekly=weekly,
        closed_dates=frozenset(date.fromisoformat(str(d)) for d in closed),
        holiday_calendar=str(calendar) if calendar else None,
    )
