"""The event bus: in-process (the embedded default) or over Redis
(app/events/redis_bus.py, when MADOGUCHI_REDIS_URL is set)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.domain import Event

Handler = Callable[[Event], None]


class EventBus(Protocol):
    """Fans domain events out to every process's subscribers. Publish only after commit."""

    def subscribe(self, handler: Handler, *, local_only: bool = False) -> None:
        """`local_only`: only the events this process publishes (work that one
        process does for each event, whichever: the reports' fold)."""
        ...

    async def publish(self, event: Event) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def degraded(self) -> bool:
        """True while events may not reach the other processes (Redis lost)."""
        ...


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler, *, local_only: bool = False) -> None:
        self._handlers.append(handler)  # every event is this process's own

    async def publish(self, event: Event) -> None:
        for handler in self._handlers:
            handler(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def degraded(self) -> bool:
        return False


_in_flight: set[asyncio.Task[None]] = set()


def publish_soon(bus: EventBus, event: Event) -> None:
    """Publishes from synchronous code (a presence timer); the task is kept
    referenced until it is done."""
    task = asyncio.get_running_loop().create_task(bus.publish(event))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)


_PENDING = "madoguchi.pending_events"


def publish_after_commit(session: AsyncSession, event: Event) -> None:
    """Queues `event` on the session: `Database.write` publishes it once the
    transaction committed, and drops it when it did not."""
    session.info.setdefault(_PENDING, []).append(event)


def events_after_commit(session: AsyncSession) -> list[Event]:
    """Takes what the transaction queued (for `Database.write`, after commit)."""
    pending: list[Event] = session.info.pop(_PENDING, [])
    return pending
