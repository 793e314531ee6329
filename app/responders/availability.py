"""Whether an inbox is open now, when it next opens, and what reply time it
promises: the availability endpoint, the widget session's answer and the
widget's `availability` frames all say the same, from the calendar and the
one estimator (app/responders/estimate.py). An inbox without business hours
is open around the clock.

"Open" is `calendar.is_open`, the one answer the responders (greeting or
away), routing (no automatic assignment while closed) and this module read.
The next opening comes with the words the away message uses for it
(`templates.moment`, in the inbox's language unless the caller names the
customer's), so a widget shows what the away message says, not its own
rendering in the browser's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, get_args

from app.inboxes import calendar
from app.inboxes.calendar import BusinessHours
from app.models import Inbox
from app.responders import estimate, templates
from app.responders.estimate import QueueNow
from app.runtime import Part

LANGUAGES: tuple[templates.Language, ...] = get_args(templates.Language)


class QueueSource(Protocol):
    """What availability needs of the queue (the router)."""

    async def queue_now(self, inbox_id: int) -> QueueNow: ...


QUEUE_SOURCE: Part[QueueSource] = Part("queue_source")


@dataclass(frozen=True, slots=True)
class AvailabilityNow:
    open: bool
    next_open_at: datetime | None
    expected_reply_seconds: int
    # The inbox's IANA zone; None without business hours.
    time_zone: str | None = None
    # `next_open_at` as the away message words it ("Tuesday 8 December,
    # 09:00 (JST)"); None when open, or when it never opens.
    next_open_text: str | None = None
    # The same in every language the responders speak ({"en": …, "ja": …}):
    # a widget shows its own language's, whatever the inbox's is.
    next_open_texts: dict[str, str] | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "open": self.open,
            "next_open_at": self.next_open_at.isoformat() if self.next_open_at else None,
            "expected_reply_seconds": self.expected_reply_seconds,
            **extension(self.time_zone, self.next_open_text, self.next_open_texts),
        }


def extension(
    time_zone: str | None, next_open_text: str | None, next_open_texts: dict[str, str] | None
) -> dict[str, object]:
    """The fields added to the contract's availability, each only when it has
    a value: an inbox without business hours answers the contract's three
    fields exactly, as clients written against it may compare them."""
    found: dict[str, object] = {
        "time_zone": time_zone,
        "next_open_text": next_open_text,
        "next_open_texts": next_open_texts,
    }
    return {key: value for key, value in found.items() if value is not None}


def inbox_language(inbox: Inbox, told: str | None = None) -> templates.Language:
    """The language availability speaks: the customer's when told, else the
    inbox's responders' language, else English (as the away message)."""
    return templates.language_of(told, "", str((inbox.responders or {}).get("language") or ""))


def availability_at(
    hours: BusinessHours | None,
    now: datetime,
    queue: QueueNow,
    first_answer_seconds: int,
    language: templates.Language,
) -> AvailabilityNow:
    promise = estimate.promise(hours, now, queue, first_answer_seconds)
    next_open = promise.next_open_at
    if next_open is not None and hours is not None:
        next_open = next_open.astimezone(hours.timezone)
    return AvailabilityNow(
        open=promise.open,
        next_open_at=next_open,
        expected_reply_seconds=promise.expected_reply_seconds,
        time_zone=hours.timezone.key if hours is not None else None,
        next_open_text=templates.moment(next_open, hours, language)
        if next_open is not None
        else None,
        next_open_texts={lang: templates.moment(next_open, hours, lang) for lang in LANGUAGES}
        if next_open is not None
        else None,
    )


async def availability(
    inbox: Inbox,
    now: datetime,
    queue: QueueSource,
    first_answer_seconds: int,
    *,
    language: str | None = None,
) -> AvailabilityNow:
    """`language`: the customer's (a tag such as "ja-JP"), when known."""
    return availability_at(
        calendar.from_json(inbox.business_hours),
        now,
        await queue.queue_now(inbox.id),
        first_answer_seconds,
        inbox_language(inbox, language),
    )
