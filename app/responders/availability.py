"""Whether an inbox is open now, when it next opens, and what reply time it
promises: the availability endpoint, the widget session's answer and the
widget's `availability` frames all say the same, from the calendar and the
one estimator (app/responders/estimate.py). An inbox without business hours
is open around the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.inboxes import calendar
from app.models import Inbox
from app.responders import estimate
from app.responders.estimate import QueueNow
from app.runtime import Part


class QueueSource(Protocol):
    """What availability needs of the queue (the router)."""

    async def queue_now(self, inbox_id: int) -> QueueNow: ...


QUEUE_SOURCE: Part[QueueSource] = Part("queue_source")


@dataclass(frozen=True, slots=True)
class AvailabilityNow:
    open: bool
    next_open_at: datetime | None
    expected_reply_seconds: int

    def as_json(self) -> dict[str, object]:
        return {
            "open": self.open,
            "next_open_at": self.next_open_at.isoformat() if self.next_open_at else None,
            "expected_reply_seconds": self.expected_reply_seconds,
        }


async def availability(
    inbox: Inbox, now: datetime, queue: QueueSource, first_answer_seconds: int
) -> AvailabilityNow:
    hours = calendar.from_json(inbox.business_hours)
    promise = estimate.promise(hours, now, await queue.queue_now(inbox.id), first_answer_seconds)
    return AvailabilityNow(
        open=promise.open,
        next_open_at=promise.next_open_at.astimezone(hours.timezone)
        if promise.next_open_at is not None and hours is not None
        else promise.next_open_at,
        expected_reply_seconds=promise.expected_reply_seconds,
    )
