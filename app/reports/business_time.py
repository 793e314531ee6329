"""Business time for reports and SLA clocks: the one seam to the calendar.

Reports and SLA clocks ask two questions of an inbox's hours: how many open
seconds lie between two moments, and when a number of open seconds after a
moment is reached (an SLA target's due time). Both are answered by the
shared business-hours calendar (app/inboxes/calendar.py), the one the
responders and routing use, public holidays included; an inbox without
hours is open around the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.inboxes import calendar
from app.models import Inbox


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


def weekly_hours(raw: Mapping[str, Any] | None) -> BusinessCalendar:
    """The stored business-hours JSON as a calendar; open around the clock
    when there are none or they cannot be read."""
    try:
        hours = calendar.from_json(raw)
    except (ZoneInfoNotFoundError, ValueError, TypeError, KeyError, AssertionError):
        return ALWAYS_OPEN
    return hours if hours is not None else ALWAYS_OPEN


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
