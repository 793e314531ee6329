"""The one estimate of how long a customer waits: routing's `status` frames
(place in line, expected wait) and the responders' promised reply time both
come from here.

The queue moves at the pace of the agents who serve the inbox: together they
take `slots` conversations at once, and each takes `handling_seconds` (the
median from assignment to resolve, lately). A conversation that an agent
with free room takes at once is answered in about the first-answer time; one
further back waits for its turn. Only business time counts: closed now, the
clock starts at the next opening, and a wait that runs past closing time
resumes when the inbox opens again (app/inboxes/calendar.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.inboxes import calendar
from app.inboxes.calendar import BusinessHours

# What one conversation takes from assignment to resolve, until an inbox has
# enough history of its own (HANDLING_SAMPLES resolved in HANDLING_WINDOW).
DEFAULT_HANDLING_SECONDS = 300.0
HANDLING_SAMPLES = 5
HANDLING_WINDOW = timedelta(hours=24)
# Waits are told in steps, so a customer's widget is not redrawn for a second.
WAIT_STEP_SECONDS = 30
# Quick test chats (or bots) resolved in seconds would promise no wait at all.
MIN_HANDLING_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class QueueNow:
    """An inbox's queue as routing last saw it."""

    # Conversations waiting for an agent (not counting the one asking).
    waiting: int
    # The capacity of the online agents who serve the inbox, and what of it is free.
    slots: int
    free_slots: int
    handling_seconds: float = DEFAULT_HANDLING_SECONDS


def queue_wait(position: int, handling_seconds: float, slots: int) -> int:
    """About how long until the conversation at `position` is assigned: the
    agents serving the inbox take `slots` conversations at once, and each
    takes `handling_seconds`. Told in WAIT_STEP_SECONDS steps, at least one."""
    seconds = position * max(handling_seconds, MIN_HANDLING_SECONDS) / max(1, slots)
    return max(1, math.ceil(seconds / WAIT_STEP_SECONDS)) * WAIT_STEP_SECONDS


def reply_seconds(queue: QueueNow, first_answer_seconds: int) -> int:
    """Business seconds until a new conversation gets its first human reply:
    the first-answer time when an agent has room for it now, else its wait in
    line (the turn of the agent who frees up, answering included)."""
    position = queue.waiting + 1
    if position <= queue.free_slots:
        return first_answer_seconds
    wait = queue_wait(position - queue.free_slots, queue.handling_seconds, queue.slots)
    return max(first_answer_seconds, wait)


@dataclass(frozen=True, slots=True)
class Promise:
    open: bool
    next_open_at: datetime | None
    # When the first human reply is due; None when the inbox never opens.
    reply_by: datetime | None
    expected_reply_seconds: int


def promise(
    hours: BusinessHours | None, now: datetime, queue: QueueNow, first_answer_seconds: int
) -> Promise:
    """What the inbox promises a customer who writes now."""
    is_open = calendar.is_open(hours, now)
    next_open = None if is_open else calendar.next_opening(hours, now)
    seconds = reply_seconds(queue, first_answer_seconds)
    reply_by = calendar.add_business_seconds(hours, now, seconds)
    expected = (
        math.ceil((reply_by - now).total_seconds())
        if reply_by is not None
        else first_answer_seconds
    )
    return Promise(is_open, next_open, reply_by, expected)
