"""The event bus. In-process now; a Redis bus implements the same interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from app.realtime.events import CloseAgentSockets, Event

Handler = Callable[[Event | CloseAgentSockets], None]


class EventBus(Protocol):
    """Fans events out to every process's hub. Publish only after commit."""

    def subscribe(self, handler: Handler) -> None: ...

    async def publish(self, event: Event | CloseAgentSockets) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class MemoryBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: Event | CloseAgentSockets) -> None:
        for handler in self._handlers:
            handler(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
