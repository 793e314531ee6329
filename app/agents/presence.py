"""Who is online, in this process: an open socket and a chosen status.

An agent whose last socket closes stays online for the grace period, so a
page reload or a flaky network does not bounce their conversations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal, Protocol

from app.runtime import Part

Status = Literal["online", "away", "offline"]


class AgentPresence(Protocol):
    """Who is online: this process's memory (Presence), or shared by every
    process through Redis (app/agents/shared_presence.py)."""

    @property
    def grace_seconds(self) -> float: ...

    def status(self, agent_id: int) -> Status: ...

    def is_online(self, agent_id: int) -> bool: ...

    def online_agent_ids(self) -> list[int]: ...

    def connected(self, agent_id: int, chosen: Status) -> None: ...

    def disconnected(self, agent_id: int) -> None: ...

    def choose(self, agent_id: int, status: Status) -> None: ...


class Presence:
    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._sockets: dict[int, int] = {}
        self._chosen: dict[int, Status] = {}
        self._grace: dict[int, asyncio.TimerHandle] = {}
        self.on_change: Callable[[int, Status], None] | None = None

    def status(self, agent_id: int) -> Status:
        if self._sockets.get(agent_id) or agent_id in self._grace:
            return self._chosen.get(agent_id, "online")
        return "offline"

    def is_online(self, agent_id: int) -> bool:
        return self.status(agent_id) == "online"

    def present(self, agent_id: int) -> bool:
        """A socket open here, or closed within the grace period."""
        return bool(self._sockets.get(agent_id)) or agent_id in self._grace

    def present_agent_ids(self) -> set[int]:
        return set(self._sockets) | set(self._grace)

    def online_agent_ids(self) -> list[int]:
        return [a for a in set(self._sockets) | set(self._grace) if self.is_online(a)]

    def connected(self, agent_id: int, chosen: Status) -> None:
        before = self.status(agent_id)
        timer = self._grace.pop(agent_id, None)
        if timer is not None:
            timer.cancel()
        self._sockets[agent_id] = self._sockets.get(agent_id, 0) + 1
        # Opening the console means "I am here" unless the agent chose away.
        self._chosen[agent_id] = "away" if chosen == "away" else "online"
        self._changed(agent_id, before)

    def disconnected(self, agent_id: int) -> None:
        left = self._sockets.get(agent_id, 0) - 1
        if left > 0:
            self._sockets[agent_id] = left
            return
        self._sockets.pop(agent_id, None)
        if self.grace_seconds <= 0:
            self._expire(agent_id)
            return
        loop = asyncio.get_running_loop()
        self._grace[agent_id] = loop.call_later(self.grace_seconds, self._expire, agent_id)

    def choose(self, agent_id: int, status: Status) -> None:
        before = self.status(agent_id)
        self._chosen[agent_id] = status
        if status == "offline":
            timer = self._grace.pop(agent_id, None)
            if timer is not None:
                timer.cancel()
        self._changed(agent_id, before)

    def _expire(self, agent_id: int) -> None:
        before = self.status(agent_id)
        self._grace.pop(agent_id, None)
        self._changed(agent_id, before)

    def _changed(self, agent_id: int, before: Status) -> None:
        after = self.status(agent_id)
        if after != before and self.on_change is not None:
            self.on_change(agent_id, after)


PRESENCE: Part[AgentPresence] = Part("presence")
