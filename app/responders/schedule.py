"""Tells widgets when their inbox opens or closes, without anyone polling.

One task per process sleeps until the earliest next transition (an opening
or a closing) of any inbox with business hours, publishes an
`AvailabilityChanged` for it (the hub sends its widget sockets an
`availability` frame), and plans that inbox's next transition. An admin's
change of an inbox's hours (`InboxSettingsChanged`) plans it again at once
and tells its widgets the new state.

Every process runs its own schedule, so `AvailabilityChanged` goes to this
process's sockets only (`tell_local`), never through a shared bus: over
Redis each widget would get one frame per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from app.db import Database
from app.events.domain import AvailabilityChanged, Event, InboxSettingsChanged
from app.inboxes import calendar
from app.inboxes import repository as inboxes_repo
from app.inboxes.calendar import BusinessHours
from app.kit.background import BackgroundLoop
from app.kit.clock import clock
from app.responders.auto_reply import QueueSource
from app.responders.availability import availability_at, inbox_language
from app.responders.planner import responder_settings
from app.responders.templates import Language

log = logging.getLogger(__name__)

# The longest sleep: a clock moved by a test or by NTP is noticed this soon.
MAX_SLEEP_SECONDS = 60.0


class AvailabilitySchedule:
    def __init__(
        self,
        db: Database,
        tell_local: Callable[[Event], None],
        queue: QueueSource,
        first_answer_seconds: int,
    ) -> None:
        self.db = db
        self.tell_local = tell_local
        self.queue = queue
        self.first_answer_seconds = first_answer_seconds
        # inbox id → (its hours, the next moment it opens or closes)
        self._plans: dict[int, tuple[BusinessHours, datetime | None]] = {}
        # inbox id → the language its widgets are told the next opening in
        self._languages: dict[int, Language] = {}
        self._changed: set[int] = set()
        self._loop = BackgroundLoop(self._round, name="availability-schedule", log=log)
        self.published = 0

    async def start(self) -> None:
        async with self.db.read() as session:
            inboxes = await inboxes_repo.list_all(session)
        now = clock.now()
        for inbox in inboxes:
            hours = calendar.from_json(inbox.business_hours)
            if hours is not None:
                self._plans[inbox.id] = (hours, _next_transition(hours, now))
                self._languages[inbox.id] = inbox_language(inbox)
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def on_event(self, event: Event) -> None:
        """Bus subscriber (synchronous): an inbox's settings changed."""
        if isinstance(event, InboxSettingsChanged):
            responder_settings.prime(event.inbox_id, event.business_hours, event.responders)
            self._changed.add(event.inbox_id)
            self._loop.wake()

    async def _round(self) -> float:
        try:
            await self._replan_changed()
            await self._publish_due()
        except Exception:  # noqa: BLE001 - the schedule outlives one bad read
            # Caught here, not by the loop: after a bad read the schedule
            # still wakes for the next transition.
            log.exception("availability schedule failed")
        return self._sleep_seconds()

    def _sleep_seconds(self) -> float:
        due = [at for _, at in self._plans.values() if at is not None]
        if not due:
            return MAX_SLEEP_SECONDS
        left = (min(due) - clock.now()).total_seconds()
        return min(MAX_SLEEP_SECONDS, max(0.0, left))

    async def _replan_changed(self) -> None:
        changed, self._changed = self._changed, set()
        for inbox_id in sorted(changed):
            async with self.db.read() as session:
                inbox = await inboxes_repo.get(session, inbox_id)
            hours = calendar.from_json(inbox.business_hours) if inbox is not None else None
            now = clock.now()
            if hours is None:
                self._plans.pop(inbox_id, None)
            else:
                self._plans[inbox_id] = (hours, _next_transition(hours, now))
            if inbox is not None:
                self._languages[inbox_id] = inbox_language(inbox)
                await self._publish(inbox_id, hours, now)

    async def _publish_due(self) -> None:
        now = clock.now()
        for inbox_id, (hours, at) in list(self._plans.items()):
            if at is None or at > now:
                continue
            # Judged at the transition itself: waking a hair early or late
            # still reports the state the inbox just entered.
            self._plans[inbox_id] = (hours, _next_transition(hours, max(at, now)))
            await self._publish(inbox_id, hours, max(at, now))

    async def _publish(self, inbox_id: int, hours: BusinessHours | None, at: datetime) -> None:
        queue = await self.queue.queue_now(inbox_id)
        now = availability_at(
            hours, at, queue, self.first_answer_seconds, self._languages.get(inbox_id, "en")
        )
        self.published += 1
        self.tell_local(
            AvailabilityChanged(
                inbox_id=inbox_id,
                open=now.open,
                next_open_at=now.next_open_at.isoformat() if now.next_open_at else None,
                expected_reply_seconds=now.expected_reply_seconds,
                time_zone=now.time_zone,
                next_open_text=now.next_open_text,
                next_open_texts=now.next_open_texts,
            )
        )


def _next_transition(hours: BusinessHours, now: datetime) -> datetime | None:
    if hours.is_open(now):
        return hours.next_closing(now)
    return hours.next_opening(now)
