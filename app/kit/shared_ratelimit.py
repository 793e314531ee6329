"""Rate limits shared by every process, as counters in Redis.

The limiters keep their synchronous interface (a socket's frame loop asks on
every message): each process counts locally and sends its counts to Redis a
moment later (INCRBY on a key per limit, client key and minute, expiring with
the window); the answer is the total over all processes, which the next check
reads. So a client spread over N processes gets at most about N flushes'
worth of events past a limit before every process refuses it. Windows are
whole wall-clock minutes, the same in every process. While Redis is
unreachable each process goes on counting for itself.
"""

from __future__ import annotations

import logging
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import RateLimited
from app.kit.background import BackgroundLoop
from app.kit.ratelimit import WINDOW_SECONDS, RateLimiter

log = logging.getLogger(__name__)

PREFIX = "madoguchi:rate:"
# How long local counts wait before they are sent: small against a minute's
# window, large against a burst of frames, which it sends in one round trip.
FLUSH_SECONDS = 0.05


class SharedCounters:
    """The process's link between its limiters and Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._pending: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._resets: set[str] = set()
        self._loop = BackgroundLoop(
            self._send, name="shared-rate-limits", settle=FLUSH_SECONDS, log=log
        )

    def count(self, key: str) -> int:
        return self._totals.get(key, 0) + self._pending.get(key, 0)

    def add(self, key: str) -> None:
        self._pending[key] = self._pending.get(key, 0) + 1
        self._loop.wake()

    def reset(self, key: str) -> None:
        self._pending.pop(key, None)
        self._totals.pop(key, None)
        self._resets.add(key)
        self._loop.wake()

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _send(self) -> None:
        pending, self._pending = self._pending, {}
        resets, self._resets = self._resets, set()
        if not pending and not resets:
            return  # the round at start: nothing counted yet
        try:
            await self._flush(pending, resets)
        except (RedisError, OSError) as exc:
            log.warning("rate limits: Redis unreachable (%s); counting locally", exc)
            for key, hits in pending.items():
                self._totals[key] = self._totals.get(key, 0) + hits
        self._evict()

    async def _flush(self, pending: dict[str, int], resets: set[str]) -> None:
        keys = list(pending)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in resets:
                pipe.delete(key)
            for key in keys:
                pipe.incrby(key, pending[key])
                pipe.expire(key, int(WINDOW_SECONDS * 2))
            results = await pipe.execute()
        totals = results[len(resets) :: 2]
        for key, total in zip(keys, totals, strict=True):
            self._totals[key] = int(total)
        for key in resets:
            self._totals.pop(key, None)

    def _evict(self) -> None:
        if len(self._totals) < 10_000:
            return
        current = _window(time.time())
        for key in [k for k in self._totals if int(k.split(":")[3]) < current]:
            del self._totals[key]


class SharedRateLimiter(RateLimiter):
    def __init__(self, per_minute: int, name: str, counters: SharedCounters) -> None:
        super().__init__(per_minute)
        self.name = name
        self.counters = counters

    def _key(self, key: str, now: float) -> str:
        return f"{PREFIX}{self.name}:{_window(now)}:{key}"

    def check(self, key: str) -> None:
        if self.per_minute == 0:
            return
        now = time.time()
        if self.counters.count(self._key(key, now)) >= self.per_minute:
            raise RateLimited(max(1, math.ceil(WINDOW_SECONDS - now % WINDOW_SECONDS)))

    def hit(self, key: str) -> None:
        if self.per_minute == 0:
            return
        self.check(key)
        self.counters.add(self._key(key, time.time()))

    def reset(self, key: str) -> None:
        self.counters.reset(self._key(key, time.time()))


def _window(now: float) -> int:
    return int(now // WINDOW_SECONDS)
