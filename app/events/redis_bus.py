"""The bus over Redis pub/sub, for several processes or machines.

Every event is handed to this process's subscribers at once (the same path
and speed as the in-process bus) and published on one Redis channel, in order,
by one sender task; the other processes deliver it to theirs. The events
queued meanwhile leave as one message (every process reads every message, so
per-message work is paid N times: a PUBLISH per event cost each process
15 % of its time at 300 msgs/s). Our own messages coming back from Redis are
skipped by their origin prefix, unparsed (app/events/wire.py).

Redis pub/sub keeps nothing: what is published while a process has lost its
link is gone for that process. The store has every message, so when the link
returns the process *resyncs*: its sockets are closed with 1012 (service
restart) and clients reconnect and `resume` by seq from the store, which
delivers every message once, in order. It also tells the other processes,
whose sockets missed what this one could not publish meanwhile. Until then
`degraded` is true and /healthz says so; the process keeps serving and
storing, and its own sockets still get its own events.

A process killed before publishing what it committed is noticed by the
others through its liveness key (app/realtime/peers.py), and they resync the
same way; one that stops cleanly says so on the channel after its last event.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.events.bus import Handler
from app.events.domain import Event
from app.events.wire import BadWireEvent, decode_event, encode_event, loads, message, origin_of

log = logging.getLogger(__name__)

CHANNEL = "madoguchi:events"
# Events waiting to be published while Redis is slow; past this the link is
# taken as lost (the store has the messages; sockets resync when it returns).
MAX_OUTBOX = 100_000
# Events sent per round trip, in one message: a burst's events go together.
BATCH = 500
# A dead link is noticed within this many seconds even when nothing is sent.
PING_SECONDS = 2.0
RECONNECT_MAX_SECONDS = 2.0
STARTUP_GRACE_SECONDS = 5.0


def connect(url: str) -> Redis:
    """A client that fails fast: a lost Redis must degrade, not hang, requests."""
    client: Redis = Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10
    )
    return client


class RedisBus:
    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        # Unique per process: our own events come back and are skipped.
        self.origin = secrets.token_hex(8)
        self.redis = connect(url)
        self._handlers: list[Handler] = []
        self._local_handlers: list[Handler] = []
        self._resync_handlers: list[Callable[[], None]] = []
        self._left_handlers: list[Callable[[str], None]] = []
        # An event's wire form, or a control envelope (resync, left) of its own.
        self._outbox: collections.deque[tuple[bool, dict[str, Any]]] = collections.deque()
        self._wake = asyncio.Event()
        self._broken = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sending = 0
        # Degraded from the start until the first subscription stands.
        self._degraded_since: float | None = time.monotonic()
        self._connected_once = False
        self.published = 0
        self.received = 0
        self.dropped = 0
        self.resyncs = 0

    # -- the EventBus interface ---------------------------------------------

    def subscribe(self, handler: Handler, *, local_only: bool = False) -> None:
        (self._local_handlers if local_only else self._handlers).append(handler)

    def on_resync(self, handler: Callable[[], None]) -> None:
        """Called when events may have been missed: the link came back, or
        another process says its own did."""
        self._resync_handlers.append(handler)

    def on_peer_left(self, handler: Callable[[str], None]) -> None:
        """Called with a process's origin when it says it stopped cleanly."""
        self._left_handlers.append(handler)

    def resync(self) -> None:
        """Events may have been missed (another process died before publishing
        what it had committed): this process's sockets reconnect and resume."""
        self._resync()

    async def publish(self, event: Event) -> None:
        for handler in self._handlers:
            handler(event)
        for handler in self._local_handlers:
            handler(event)
        self._send(encode_event(event), event=True)

    @property
    def degraded(self) -> bool:
        return self._degraded_since is not None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="redis-bus-listen"),
            asyncio.create_task(self._sender(), name="redis-bus-send"),
        ]
        # Give a reachable Redis a moment, so a fresh process starts healthy;
        # an unreachable one does not hold the start-up (it serves degraded).
        for _ in range(40):
            if not self.degraded:
                break
            await asyncio.sleep(0.05)

    async def leave(self, timeout: float = 2.0) -> None:
        """Stopping cleanly: publish every queued event, then say we left, in
        order, so that the others don't take our going for a death."""
        self._send({"left": True})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._outbox or self._sending) and not self.degraded and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # -- sending --------------------------------------------------------------

    def _send(self, item: dict[str, Any], *, event: bool = False) -> None:
        if self.degraded:
            self.dropped += 1
            return
        if len(self._outbox) >= MAX_OUTBOX:
            self._lost("publishing fell too far behind")
            return
        self._outbox.append((event, item))
        self._wake.set()

    def _messages(self, batch: list[tuple[bool, dict[str, Any]]]) -> list[bytes]:
        """Consecutive events as one message, each control envelope as its
        own, in order."""
        messages: list[bytes] = []
        events: list[dict[str, Any]] = []
        for event, item in batch:
            if event:
                events.append(item)
                continue
            if events:
                messages.append(message(self.origin, {"es": events}))
                events = []
            messages.append(message(self.origin, item))
        if events:
            messages.append(message(self.origin, {"es": events}))
        return messages

    async def _sender(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                count = min(BATCH, len(self._outbox))
                batch = [self._outbox.popleft() for _ in range(count)]
                self._sending = count
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for raw in self._messages(batch):
                            pipe.publish(self.channel, raw)
                        await pipe.execute()
                    self.published += count
                except (RedisError, OSError) as exc:
                    self.dropped += count + len(self._outbox)
                    self._outbox.clear()
                    self._lost(f"publish failed: {exc}")
                finally:
                    self._sending = 0

    # -- receiving ------------------------------------------------------------

    async def _listen(self) -> None:
        delay = 0.05
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._broken.clear()
                self._recovered()
                delay = 0.05
                last_ping = time.monotonic()
                while not self._broken.is_set():
                    message = await pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        self._received(message["data"])
                    elif time.monotonic() - last_ping > PING_SECONDS:
                        await pubsub.ping()
                        last_ping = time.monotonic()
            except (RedisError, OSError) as exc:
                self._lost(str(exc))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            await asyncio.sleep(delay)
            delay = min(RECONNECT_MAX_SECONDS, delay * 2)

    def _received(self, raw: bytes) -> None:
        origin, body = origin_of(raw)
        if origin == self.origin:
            return
        try:
            envelope = loads(body)
            if envelope.get("resync"):
                log.info("another process lost Redis for a while: resyncing sockets")
                self._resync()
                return
            if envelope.get("left"):
                for on_left in self._left_handlers:
                    on_left(origin)
                return
            wire_events = envelope["es"]
            if not isinstance(wire_events, list):
                raise BadWireEvent("no events")
        except (BadWireEvent, KeyError) as exc:
            log.warning("skipped a message on %s: %s", self.channel, exc)
            return
        for data in wire_events:
            try:
                event = decode_event(data) if isinstance(data, dict) else None
            except BadWireEvent as exc:
                event = None
                log.warning("skipped an event on %s: %s", self.channel, exc)
            if event is None:
                continue
            self.received += 1
            for handler in self._handlers:
                try:
                    handler(event)
                except Exception:  # noqa: BLE001 - one subscriber must not stop the bus
                    log.exception("bus subscriber failed on %s", type(event).__name__)

    # -- the link's state -----------------------------------------------------

    def _lost(self, why: str) -> None:
        self._broken.set()
        if self._degraded_since is None:
            self._degraded_since = time.monotonic()
            log.warning("Redis lost (%s): serving degraded; sockets resync when it returns", why)

    def _recovered(self) -> None:
        since = self._degraded_since
        if since is None:
            return
        self._degraded_since = None
        first, self._connected_once = not self._connected_once, True
        if first and time.monotonic() - since < STARTUP_GRACE_SECONDS:
            return  # connected as it started: nothing was missed
        log.warning("Redis back after %.1f s: resyncing sockets", time.monotonic() - since)
        self._resync()
        self._send({"resync": True})

    def _resync(self) -> None:
        self.resyncs += 1
        for handler in self._resync_handlers:
            try:
                handler()
            except Exception:  # noqa: BLE001
                log.exception("resync handler failed")
