"""One live socket: frames queue and drain in order, and the close codes
the server uses.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import secrets

import orjson
from starlette.websockets import WebSocket, WebSocketState

from app.conversations.access import Viewer
from app.events.domain import Frame
from app.realtime.ws_protocol import direct_sender

# A socket that cannot drain this many frames is too slow to keep up; it is
# closed (1013, try again later) and resumes by seq, instead of growing memory.
# MADOGUCHI_WS_MAX_QUEUED_FRAMES sets it.
MAX_QUEUED_FRAMES = 1000
# Paced senders (a resume) wait while this many frames are queued, well below
# the limit, so live frames still have room.
PACE_QUEUED_FRAMES = 64
TRY_AGAIN_LATER = 1013
SERVICE_RESTART = 1012
# An agent socket whose session ended (logout, password, deactivation): the
# console signs out instead of reconnecting.
POLICY_VIOLATION = 1008
DEACTIVATED = "account deactivated"
# A private close code: the socket's customer changed (a merge, or its undo).
# The widget reconnects at once, and its session now resolves to the right customer.
CUSTOMER_CHANGED = 4001
# A widget socket of an erased customer: its session is gone, so the widget
# starts a new one (a new customer) rather than reconnecting.
SESSION_ENDED = "the session ended: the customer's data was erased"

# Unique across the processes that share one bus: a random part per process.
_PROCESS = secrets.token_hex(4)
_ids = itertools.count(1)


class Connection:
    """One socket. Frames queue here and drain in order, with no task while idle.

    Once the socket is found too slow, nothing more is sent on it: a client that
    then resumes from the highest seq it saw misses nothing. While it replays
    history (`resume`), live messages of that conversation wait, so the socket
    carries each conversation's messages in seq order.
    """

    __slots__ = (
        "customer_id",
        "id",
        "inbox_id",
        "session_id",
        "token_digest",
        "viewer",
        "watching",
        "ws",
        "_closing",
        "_direct",
        "_drained",
        "_draining",
        "_held",
        "_limit",
        "_queue",
    )

    def __init__(
        self,
        ws: WebSocket,
        *,
        viewer: Viewer | None = None,
        customer_id: int | None = None,
        inbox_id: int | None = None,
        session_id: int | None = None,
        token_digest: str | None = None,
        max_queued_frames: int = MAX_QUEUED_FRAMES,
    ) -> None:
        self.id = f"{_PROCESS}-{next(_ids)}"
        self._limit = max_queued_frames
        self.ws = ws
        self.viewer = viewer
        self.customer_id = customer_id
        self.inbox_id = inbox_id
        # The widget session's id (a customer's socket); None for an agent's.
        self.session_id = session_id
        self.token_digest = token_digest
        # Created on first use: most sockets idle, and an empty deque is 0.7 KiB.
        self.watching: set[int] | None = None
        self._queue: collections.deque[str] | None = None
        self._draining = False
        self._closing = False
        self._drained: asyncio.Event | None = None
        self._held: dict[int, list[tuple[int, str]]] | None = None
        self._direct = direct_sender(getattr(ws, "scope", None))

    @property
    def agent_id(self) -> int | None:
        return self.viewer.agent_id if self.viewer is not None else None

    def send(self, frame: Frame) -> None:
        self.send_text(encode(frame))

    def send_text(self, text: str) -> None:
        if self._closing:
            return
        # Nothing queued ahead of it: written at once where the server can
        # (app/realtime/ws_protocol.py), with no task or ASGI layers.
        if not self._draining and self._direct is not None and self._direct(text):
            return
        if self._queue is None:
            self._queue = collections.deque()
        elif len(self._queue) >= self._limit:
            self.close(TRY_AGAIN_LATER, "too slow; reconnect and resume")
            return
        self._queue.append(text)
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())

    async def send_paced(self, frame: Frame) -> None:
        """Queues a frame, first waiting for the queue to drain below the pace
        mark: a long replay goes out as fast as the client reads, no faster."""
        while not self._closing and self._queue is not None and len(self._queue) >= self._pace:
            if self._drained is None:
                self._drained = asyncio.Event()
            self._drained.clear()
            await self._drained.wait()
        self.send(frame)

    @property
    def _pace(self) -> int:
        return min(PACE_QUEUED_FRAMES, self._limit // 4)

    # -- replay ordering ---------------------------------------------------

    def hold(self, conversation_id: int) -> None:
        """Live messages of this conversation wait until `release`."""
        if self._held is None:
            self._held = {}
        self._held.setdefault(conversation_id, [])

    def release(self, conversation_id: int, replayed_to_seq: int) -> None:
        """Sends the held messages the replay did not already carry, in seq order."""
        if self._held is None:
            return
        held = self._held.pop(conversation_id, [])
        if not self._held:
            self._held = None
        for seq, text in sorted(held, key=lambda item: item[0]):
            if seq > replayed_to_seq:
                self.send_text(text)

    def send_message(self, conversation_id: int, seq: int, text: str) -> None:
        held = self._held.get(conversation_id) if self._held is not None else None
        if held is None:
            self.send_text(text)
        elif len(held) >= self._limit:
            self.close(TRY_AGAIN_LATER, "too slow; reconnect and resume")
        else:
            held.append((seq, text))

    # -- draining ----------------------------------------------------------

    async def _drain(self) -> None:
        assert self._queue is not None
        try:
            while self._queue and not self._closing:
                text = self._queue.popleft()
                if self.ws.application_state != WebSocketState.CONNECTED:
                    self._queue.clear()
                    return
                await self.ws.send_text(text)
                if self._drained is not None and len(self._queue) < self._pace:
                    self._drained.set()
        except Exception:  # noqa: BLE001 - a broken socket ends in its receive loop
            self._queue.clear()
        finally:
            self._draining = False
            if self._drained is not None:
                self._drained.set()

    def close(self, code: int, reason: str) -> None:
        """Closes the socket; from now on nothing else is sent on it."""
        if self._closing:
            return
        self._closing = True
        if self._queue is not None:
            self._queue.clear()
        self._held = None
        if self._drained is not None:
            self._drained.set()

        async def _close() -> None:
            try:
                await self.ws.close(code, reason)
            except Exception:  # noqa: BLE001, S110 - already closed
                pass

        asyncio.get_running_loop().create_task(_close())


def encode(frame: Frame) -> str:
    return orjson.dumps(frame).decode()
