"""Business time for reports and SLA clocks: the one seam to the calendar.

Reports and SLA clocks ask two questions of an inbox's hours: how many open
seconds lie between two moments, and when a number of open seconds after a
moment is reached (an SLA target's due time). Everything here goes through
`calendars_for`, so the shared business-hours calendar (the responders'
module) replaces `WeeklyHours` below by changing this file alone.

`WeeklyHours` reads the contract's business-hours JSON (`timezone`, `weekly`,
`closed_dates`) and takes public holidays as a set of dates; an inbox without
hours is open around the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Inbox

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A deadline further than this is never reached (an inbox closed for good).
SEARCH_DAYS = 400


class BusinessCalendar(Protocol):
    """An inbox's open hours, as reports and SLA clocks use them."""

    def business_seconds(self, t1: datetime, t2: datetime) -> float:
        """Open seconds in [t1, t2); 0 when t2 <= t1."""
        ...

    def add_business_seconds(self, t: datetime, seconds: float) -> datetime | None:
        """The moment `seconds` open seconds after `t`; None if never reached."""
        ...


class AlwaysOpen:
    """An inbox without business hours: every second is a business second."""

    def business_seconds(self, t1: datetime, t2: datetime) -> float:
        return max(0.0, (t2 - t1).total_seconds())

    def add_business_seconds(self, t: datetime, seconds: float) -> datetime | None:
        return t + timedelta(seconds=seconds)


ALWAYS_OPEN = AlwaysOpen()

# (start, end) in minutes after local midnight; end up to 24 * 60.
Slot = tuple[int, int]


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    timezone: ZoneInfo
    # weekly[0] is Monday; a weekday without slots is closed.
    weekly: Mapping[int, Sequence[Slot]]
    closed_dates: frozenset[date] = field(default_factory=frozenset)

    def periods(
        self, start: datetime, end: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Open periods, as aware UTC instants, overlapping [start, end)."""
        day = start.astimezone(self.timezone).date() - timedelta(days=1)
        last = (end or start + timedelta(days=SEARCH_DAYS)).astimezone(self.timezone).date()
        while day <= last:
            if day not in self.closed_dates:
                for a, b in self.weekly.get(day.weekday(), ()):
                    p1, p2 = _instant(day, a, self.timezone), _instant(day, b, self.timezone)
                    if p2 > start and (end is None or p1 < end):
                        yield p1, p2
            day += timedelta(days=1)

    def business_seconds(self, t1: datetime, t2: datetime) -> float:
        if t2 <= t1:
            return 0.0
        return sum((min(p2, t2) - max(p1, t1)).total_seconds() for p1, p2 in self.periods(t1, t2))

    def add_business_seconds(self, t: datetime, seconds: float) -> datetime | None:
        left = seconds
        for p1, p2 in self.periods(t):
            begin = max(p1, t)
            span = (p2 - begin).total_seconds()
            if span >= left:
                return begin + timedelta(seconds=left)
            left -= span
        return None


def _instant(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    # Wall time in the inbox's zone (a 09:00-18:00 day keeps its hours across DST).
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)  # noqa: DTZ001
    return wall.replace(tzinfo=tz).astimezone(UTC)


def _clock(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes)


def weekly_hours(raw: Mapping[str, Any] | None, holidays: Iterable[date] = ()) -> BusinessCalendar:
    """The contract's business-hours JSON as a calendar; open around the clock
    when there are none or they cannot be read."""
    if not raw or not isinstance(raw.get("weekly"), Mapping):
        return ALWAYS_OPEN
    try:
        tz = ZoneInfo(str(raw.get("timezone") or "UTC"))
        weekly = {
            WEEKDAYS.index(name): [(_clock(a), _clock(b)) for a, b in slots]
            for name, slots in raw["weekly"].items()
            if name in WEEKDAYS
        }
        closed = {date.fromisoformat(d) for d in raw.get("closed_dates") or ()}
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return ALWAYS_OPEN
    return WeeklyHours(tz, weekly, frozenset(closed | set(holidays)))


async def calendars_for(
    session: AsyncSession, inbox_ids: Iterable[int]
) -> dict[int, BusinessCalendar]:
    """Each inbox's calendar; an inbox without hours (or unknown) is always open."""
    ids = sorted(set(inbox_ids))
    if not ids:
        return {}
    rows = await session.execute(select(Inbox.id, Inbox.business_hours).where(Inbox.id.in_(ids)))
    found: dict[int, BusinessCalendar] = {
        int(inbox_id): weekly_hours(hours) for inbox_id, hours in rows
    }
    return {inbox_id: found.get(inbox_id, ALWAYS_OPEN) for inbox_id in ids}
