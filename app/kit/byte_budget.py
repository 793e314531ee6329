"""Bytes per client key and wall-clock hour: what one client may upload.

The rate limiters count events per minute; a file is a number of bytes, and
a budget that lets a 10 MB file through must be counted over a longer window
than a minute to mean anything, so this is a limiter of its own. It is asked
once per upload, in an HTTP request, so unlike the frame limiters it may
await: with Redis every upload adds its size to the shared total in one round
trip, and no client gets past its budget however many processes it spreads
its uploads over. Windows
are whole wall-clock hours, the same in every process; a client can spend at
most twice the budget across the turn of an hour.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import RateLimited
from app.kit.clock import clock

log = logging.getLogger(__name__)

HOUR_SECONDS = 3600.0
PREFIX = "madoguchi:bytes:"
# How long Redis's last total for a key refuses a body before it is read;
# after that the upload is read and asks Redis again.
SEEN_SECONDS = 10.0
# An upload waits this long for Redis at most, then counts locally: a lost
# Redis must slow uploads down no more than this.
REDIS_SECONDS = 2.0
# Keys past this many are swept of past hours: one idle process keeps few.
MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Spent:
    """Bytes counted against a key in one hour: what `give_back` uncounts."""

    key: str
    hour: int
    size: int


class ByteBudget:
    """Counted in this process (one process is the embedded default)."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        # key -> (hour, bytes counted in that hour)
        self._used: dict[str, tuple[int, int]] = {}

    def check(self, key: str, size: int) -> None:
        """Raises RateLimited when `size` more bytes would pass the budget;
        counts nothing. Cheap: asked before a body is read at all."""
        if self.per_hour == 0:
            return
        now = _now()
        if self._counted(key, _hour(now)) + size > self.per_hour:
            raise _refusal(now)

    async def take(self, key: str, size: int) -> Spent:
        """Checks and counts `size` bytes for `key`."""
        hour = _hour(_now())
        if self.per_hour == 0:
            return Spent(key, hour, 0)
        self.check(key, size)
        self._remember(key, hour, self._counted(key, hour) + size)
        return Spent(key, hour, size)

    async def give_back(self, spent: Spent) -> None:
        """Uncounts bytes taken for an upload that was then not stored. In
        the hour they were counted in only: a new hour starts from nothing."""
        used = self._counted(spent.key, spent.hour)
        if spent.size and used:
            self._remember(spent.key, spent.hour, max(0, used - spent.size))

    def _counted(self, key: str, hour: int) -> int:
        counted_hour, used = self._used.get(key, (hour, 0))
        return used if counted_hour == hour else 0

    def _remember(self, key: str, hour: int, used: int) -> None:
        self._used[key] = (hour, used)
        if len(self._used) > MAX_KEYS:
            for stale in [k for k, (h, _) in self._used.items() if h != hour]:
                del self._used[stale]


class SharedByteBudget(ByteBudget):
    """Counted in Redis, across every process. While Redis is unreachable each
    process goes on counting for itself."""

    def __init__(self, per_hour: int, name: str, redis: Redis) -> None:
        super().__init__(per_hour)
        self.name = name
        self.redis = redis
        # key -> (hour, when read, total): Redis's last answer.
        self._seen: dict[str, tuple[int, float, int]] = {}

    def _key(self, key: str, hour: int) -> str:
        return f"{PREFIX}{self.name}:{hour}:{key}"

    def check(self, key: str, size: int) -> None:
        # What this process counted while Redis was unreachable, then the
        # last total Redis told, while it is fresh: another process may have
        # given bytes back since, so an old total must not refuse.
        super().check(key, size)
        if self.per_hour == 0:
            return
        now = _now()
        seen = self._seen.get(key)
        if (
            seen is not None
            and seen[0] == _hour(now)
            and _now() - seen[1] < SEEN_SECONDS
            and seen[2] + size > self.per_hour
        ):
            raise _refusal(now)

    async def take(self, key: str, size: int) -> Spent:
        now = _now()
        hour = _hour(now)
        if self.per_hour == 0:
            return Spent(key, hour, 0)
        shared_key = self._key(key, hour)
        try:
            async with asyncio.timeout(REDIS_SECONDS), self.redis.pipeline() as pipe:
                pipe.incrby(shared_key, size)
                pipe.expire(shared_key, int(HOUR_SECONDS * 2))
                total, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("upload budget: Redis unreachable (%s); counting locally", exc)
            return await super().take(key, size)
        total = int(total)
        if total > self.per_hour:
            # Not taken after all. A failed undo leaves an overcount that
            # expires with the hour: it can only refuse, never let more in.
            try:
                async with asyncio.timeout(REDIS_SECONDS):
                    total = int(await self.redis.decrby(shared_key, size))
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("upload budget: Redis unreachable (%s)", exc)
            self._see(key, hour, total)
            raise _refusal(now)
        self._see(key, hour, total)
        return Spent(key, hour, size)

    async def give_back(self, spent: Spent) -> None:
        if not spent.size:
            return
        if spent.hour != _hour(_now()):
            return  # its key expires with its hour; a new hour starts from nothing
        try:
            async with asyncio.timeout(REDIS_SECONDS):
                total = int(await self.redis.decrby(self._key(spent.key, spent.hour), spent.size))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("upload budget: Redis unreachable (%s); counting locally", exc)
            await super().give_back(spent)
            return
        self._see(spent.key, spent.hour, total)

    def _see(self, key: str, hour: int, total: int) -> None:
        now = _now()
        self._seen[key] = (hour, now, total)
        if len(self._seen) > MAX_KEYS:
            for stale in [k for k, (_, at, _) in self._seen.items() if now - at >= SEEN_SECONDS]:
                del self._seen[stale]


def _now() -> float:
    # The one clock, so tests can move an hour past its end.
    return clock.now().timestamp()


def _hour(now: float) -> int:
    return int(now // HOUR_SECONDS)


def _refusal(now: float) -> RateLimited:
    return RateLimited(max(1, math.ceil(HOUR_SECONDS - now % HOUR_SECONDS)))
