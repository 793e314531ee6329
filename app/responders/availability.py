"""Whether an inbox is open now, when it next opens, and what reply time it promises.

An inbox without business hours is open around the clock. Business hours,
holidays and the promised reply time grow here with the responders issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import Inbox


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


def availability(
    inbox: Inbox, now: datetime, default_expected_reply_seconds: int
) -> AvailabilityNow:
    return AvailabilityNow(
        open=True, next_open_at=None, expected_reply_seconds=default_expected_reply_seconds
    )
