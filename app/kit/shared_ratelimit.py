"""Rate limits shared by every process, as counters in Redis.

The limiters keep their synchronous interface (a socket's frame loop asks on
every message): each process counts locally and sends its counts to Redis a
moment later (INCRBY on a key per limit, client key and minute, expiring with
the window); the answer is the total over all processes, which the next check
reads. So a client spread over N processes gets at most about N flushes'
worth of events past a limit before every process refuses it. Windows are
whole wall-clock minutes, the same in every process.

While Redis is unreachable the counters are `degraded`: each process counts
for itself and holds every client to the limit divided by the number of
server processes (`server_processes`), so that N processes together still
allow about one limit, not N. The outage is logged once when it starts and
once when it ends, and shown as the `madoguchi_shared_limits_degraded` gauge;
what was counted meanwhile is sent once Redis answers again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import RateLimited
from app.kit.background import BackgroundLoop
from app.kit.ratelimit import WINDOW_SECONDS, RateLimiter, now_seconds

log = logging.getLogger(__name__)

PREFIX = "madoguchi:rate:"
# How long local counts wait before they are sent: small against a minute's
# window, large against a burst of frames, which it sends in one round trip.
FLUSH_SECONDS = 0.05
# While degraded, how often Redis is asked whether it is back, with or
# without counts to send: the gauge and the full limits come back within it.
PROBE_SECONDS = 1.0


class SharedCounters:
    """The process's link between its limiters and Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        # True from a failed round trip until one succeeds.
        self.degraded = False
        # The server processes that share these counters: while degraded, each
        # holds a client to its share of a limit.
        self.processes = 1
        # Counted here, not yet sent (a give-back is -1).
        self._pending: dict[str, int] = {}
        # Sent, its answer not back yet: still counted meanwhile, or a burst
        # would pass the checks for the length of a round trip.
        self._sending: dict[str, int] = {}
        # Counted while Redis was unreachable: sent once it is back.
        self._unsent: dict[str, int] = {}
        # The totals over all processes, as Redis last answered.
        self._totals: dict[str, int] = {}
        self._resets: set[str] = set()
        self._loop = BackgroundLoop(
            self._send, name="shared-rate-limits", settle=FLUSH_SECONDS, log=log
        )

    def count(self, key: str) -> int:
        return (
            self._totals.get(key, 0)
            + self._sending.get(key, 0)
            + self._unsent.get(key, 0)
            + self._pending.get(key, 0)
        )

    def add(self, key: str, events: int = 1) -> None:
        self._pending[key] = self._pending.get(key, 0) + events
        self._loop.wake()

    def reset(self, key: str) -> None:
        for counts in (self._pending, self._sending, self._unsent, self._totals):
            counts.pop(key, None)
        self._resets.add(key)
        self._loop.wake()

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _send(self) -> float | None:
        sending = self._unsent
        for key, events in self._pending.items():
            sending[key] = sending.get(key, 0) + events
        self._sending = {key: events for key, events in sending.items() if events}
        self._pending, self._unsent = {}, {}
        resets, self._resets = self._resets, set()
        if not self._sending and not resets and not self.degraded:
            return None  # the round at start: nothing counted yet
        try:
            if self._sending or resets:
                await self._flush(self._sending, resets)
            else:
                await self.redis.ping()
        except (RedisError, OSError) as exc:
            if not self.degraded:
                self.degraded = True
                log.warning(
                    "rate limits: Redis unreachable (%s); each process holds clients to "
                    "its share of every limit until it is back",
                    exc,
                )
            for key, events in self._sending.items():
                self._unsent[key] = self._unsent.get(key, 0) + events
            self._resets |= resets
            return PROBE_SECONDS
        finally:
            self._sending = {}
            self._evict()
        if self.degraded:
            self.degraded = False
            log.warning("rate limits: Redis is back; limits are shared again")
        return None

    async def _flush(self, sending: dict[str, int], resets: set[str]) -> None:
        keys = list(sending)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in resets:
                pipe.delete(key)
            for key in keys:
                pipe.incrby(key, sending[key])
                pipe.expire(key, int(WINDOW_SECONDS * 2))
            results = await pipe.execute()
        totals = results[len(resets) :: 2]
        for key, total in zip(keys, totals, strict=True):
            self._totals[key] = int(total)
        for key in resets:
            self._totals.pop(key, None)

    def _evict(self) -> None:
        current = _window(now_seconds())
        for counts in (self._totals, self._unsent):
            if len(counts) >= 10_000:
                for key in [k for k in counts if int(k.split(":")[3]) < current]:
                    del counts[key]


class SharedRateLimiter(RateLimiter):
    def __init__(self, per_minute: int, name: str, counters: SharedCounters) -> None:
        super().__init__(per_minute)
        self.name = name
        self.counters = counters

    @property
    def limit(self) -> int:
        if not self.counters.degraded:
            return self.per_minute
        # This process's share: at least one event, or a limit below the
        # process count would turn into no service at all.
        return max(1, self.per_minute // self.counters.processes)

    def _key(self, key: str, now: float) -> str:
        return f"{PREFIX}{self.name}:{_window(now)}:{key}"

    def check(self, key: str) -> None:
        if self.per_minute == 0:
            return
        now = now_seconds()
        if self.counters.count(self._key(key, now)) >= self.limit:
            raise RateLimited(max(1, math.ceil(WINDOW_SECONDS - now % WINDOW_SECONDS)))

    def hit(self, key: str) -> None:
        if self.per_minute == 0:
            return
        self.check(key)
        self.counters.add(self._key(key, now_seconds()))

    def reset(self, key: str) -> None:
        self.counters.reset(self._key(key, now_seconds()))

    def _take(self, key: str) -> Callable[[], None]:
        # The window's key, not the current one's: a give-back after the
        # minute turned uncounts the minute it was counted in.
        counted = self._key(key, now_seconds())
        self.counters.add(counted)
        return lambda: self.counters.add(counted, -1)


def _window(now: float) -> int:
    return int(now // WINDOW_SECONDS)
