"""This process's live sockets, and the fan-out of bus events to them."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging

import orjson
from starlette.websockets import WebSocket, WebSocketState

from app.agents.presence import Presence
from app.realtime.events import Audience, CloseAgentSockets, Event, Frame

log = logging.getLogger(__name__)

# A socket that cannot drain this many frames is too slow to keep up; it is
# closed (1013, try again later) and resumes by seq, instead of growing memory.
MAX_QUEUED_FRAMES = 1000

_ids = itertools.count(1)


class Connection:
    """One socket. Frames queue here and drain in order, with no task while idle."""

    __slots__ = (
        "agent_id",
        "customer_id",
        "id",
        "team_ids",
        "token_digest",
        "_queue",
        "_draining",
        "ws",
        "watching",
    )

    def __init__(
        self,
        ws: WebSocket,
        *,
        agent_id: int | None = None,
        customer_id: int | None = None,
        team_ids: frozenset[int] = frozenset(),
        token_digest: str | None = None,
    ) -> None:
        self.id = f"c{next(_ids)}"
        self.ws = ws
        self.agent_id = agent_id
        self.customer_id = customer_id
        self.team_ids = team_ids
        self.token_digest = token_digest
        # Created on first use: most sockets idle, and an empty deque is 0.7 KiB.
        self.watching: set[int] | None = None
        self._queue: collections.deque[str] | None = None
        self._draining = False

    def send(self, frame: Frame) -> None:
        self.send_text(encode(frame))

    def send_text(self, text: str) -> None:
        if self._queue is None:
            self._queue = collections.deque()
        elif len(self._queue) >= MAX_QUEUED_FRAMES:
            self.close(1013, "too slow; reconnect and resume")
            return
        self._queue.append(text)
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        assert self._queue is not None
        try:
            while self._queue:
                text = self._queue.popleft()
                if self.ws.application_state != WebSocketState.CONNECTED:
                    self._queue.clear()
                    return
                await self.ws.send_text(text)
        except Exception:  # noqa: BLE001 - a broken socket ends in its receive loop
            self._queue.clear()
        finally:
            self._draining = False

    def close(self, code: int, reason: str) -> None:
        if self._queue is not None:
            self._queue.clear()

        async def _close() -> None:
            try:
                await self.ws.close(code, reason)
            except Exception:  # noqa: BLE001, S110 - already closed
                pass

        asyncio.get_running_loop().create_task(_close())


class Hub:
    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self._agents: dict[int, set[Connection]] = {}
        self._customers: dict[int, set[Connection]] = {}
        self._watchers: dict[int, set[Connection]] = {}

    # -- registry --------------------------------------------------------

    def add(self, conn: Connection) -> None:
        if conn.agent_id is not None:
            self._agents.setdefault(conn.agent_id, set()).add(conn)
        if conn.customer_id is not None:
            self._customers.setdefault(conn.customer_id, set()).add(conn)

    def remove(self, conn: Connection) -> None:
        for index, key in ((self._agents, conn.agent_id), (self._customers, conn.customer_id)):
            if key is not None and key in index:
                index[key].discard(conn)
                if not index[key]:
                    del index[key]
        for conversation_id in list(conn.watching or ()):
            self.unwatch(conn, conversation_id)

    def watch(self, conn: Connection, conversation_id: int) -> None:
        if conn.watching is None:
            conn.watching = set()
        conn.watching.add(conversation_id)
        self._watchers.setdefault(conversation_id, set()).add(conn)

    def unwatch(self, conn: Connection, conversation_id: int) -> None:
        if conn.watching is not None:
            conn.watching.discard(conversation_id)
        watchers = self._watchers.get(conversation_id)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self._watchers[conversation_id]

    def customer_connection_count(self) -> int:
        return sum(len(c) for c in self._customers.values())

    def agent_connection_count(self) -> int:
        return sum(len(c) for c in self._agents.values())

    # -- fan-out ---------------------------------------------------------

    def dispatch(self, event: Event | CloseAgentSockets) -> None:
        if isinstance(event, CloseAgentSockets):
            for conn in list(self._agents.get(event.agent_id, ())):
                if event.token_digest is None or conn.token_digest == event.token_digest:
                    conn.close(1008, event.reason)
            return
        audience = event.audience
        if event.customer_frame is not None and audience.customer_id is not None:
            customers = [
                conn
                for conn in self._customers.get(audience.customer_id, ())
                if conn.id != audience.exclude_connection
            ]
            if customers:
                text = encode(event.customer_frame)
                for conn in customers:
                    conn.send_text(text)
        if event.agent_frame is not None:
            recipients = self._agent_recipients(audience)
            if recipients:
                text = encode(event.agent_frame)
                for conn in recipients:
                    conn.send_text(text)

    def _agent_recipients(self, audience: Audience) -> set[Connection]:
        recipients: set[Connection] = set()
        if audience.assignee_id is not None:
            recipients.update(self._agents.get(audience.assignee_id, ()))
        elif audience.offer_when_unassigned and audience.inbox_id is not None:
            teams = set(audience.inbox_team_ids)
            for agent_id, conns in self._agents.items():
                if not self.presence.is_online(agent_id):
                    continue
                for conn in conns:
                    if not teams or teams & conn.team_ids:
                        recipients.add(conn)
        for agent_id in audience.agent_ids:
            recipients.update(self._agents.get(agent_id, ()))
        if audience.conversation_id is not None:
            recipients.update(self._watchers.get(audience.conversation_id, ()))
        return recipients


def encode(frame: Frame) -> str:
    return orjson.dumps(frame).decode()
