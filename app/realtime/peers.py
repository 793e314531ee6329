"""Which processes are alive, in Redis, so that one that dies is noticed.

A process killed between committing messages and publishing their events
takes those events with it: Redis pub/sub keeps nothing, so the other
processes' sockets never hear of them. So each process keeps a key,
`madoguchi:process:{origin}`, whose short expiry its heartbeat refreshes, and
looks at the others' on every beat. When a peer's key is gone and the peer
did not say it left cleanly, this process resyncs: its sockets are closed
with 1012 and their clients reconnect and catch up from the store by seq.

A process that stops cleanly first publishes every event it has, then says
on the bus that it left (after its last event, in order), then deletes its
key: nothing was missed and nobody resyncs.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.kit.background import BackgroundLoop

log = logging.getLogger(__name__)

PREFIX = "madoguchi:process:"
# A process's key outlives this many missed heartbeats (a busy event loop must
# not pass for a dead process: that would reconnect every socket).
TTL_BEATS = 4


class PeerWatch:
    def __init__(
        self,
        redis: Redis,
        process: str,
        *,
        heartbeat_seconds: float,
        on_peer_died: Callable[[], None],
    ) -> None:
        self.redis = redis
        self.process = process
        self.heartbeat_seconds = heartbeat_seconds
        self.ttl_ms = max(1, math.ceil(TTL_BEATS * heartbeat_seconds * 1000))
        self.on_peer_died = on_peer_died
        # The peers seen on the last look; None until a look succeeds after
        # the start or after Redis was unreachable (its keys may be gone with
        # it): that look only learns who is there, and judges nobody.
        self._alive: set[str] | None = None
        self._missing: set[str] = set()
        self._left: set[str] = set()
        self._loop = BackgroundLoop(
            self._look, name="peer-watch", interval=heartbeat_seconds, log=log
        )
        self.deaths = 0

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.process}"

    def peer_left(self, process: str) -> None:
        """Bus hook: `process` stopped cleanly; its key's going is no death."""
        self._left.add(process)

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        """After the bus has said we left: the key goes now, not at expiry."""
        await self._loop.stop()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.key)

    async def _look(self) -> None:
        try:
            await self._beat()
        except (RedisError, OSError) as exc:
            log.debug("peer watch: Redis unreachable (%s)", exc)
            self._alive = None
            self._missing = set()

    async def _beat(self) -> None:
        await self.redis.set(self.key, "1", px=self.ttl_ms)
        alive: set[str] = set()
        async for raw in self.redis.scan_iter(match=f"{PREFIX}*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            process = key[len(PREFIX) :]
            if process != self.process:
                alive.add(process)
        known, self._alive = self._alive, alive
        if known is None:
            return
        missing = (known | self._missing) - alive - self._left
        # Gone on two looks in a row: a peer that stopped cleanly has said so
        # on the bus well before then (it says so before deleting its key).
        dead = missing & self._missing
        self._missing = missing - dead
        self._left &= alive
        if dead:
            self.deaths += len(dead)
            log.warning(
                "process %s stopped without leaving cleanly: resyncing sockets",
                ", ".join(sorted(dead)),
            )
            self.on_peer_died()
