"""Fixed-window counters per key, in memory (one process is the embedded default).

Besides `hit` (count an event), a limiter can `reserve` an attempt whose
outcome comes later (a login's password hash): the attempt counts toward the
limit from the moment it is reserved, so a burst that arrives while earlier
attempts are still running is refused at once instead of all passing the
check together. A reservation that turns out fine is given back.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from app.errors import RateLimited
from app.kit.clock import clock

WINDOW_SECONDS = 60.0


def now_seconds() -> float:
    """Seconds from the one clock, so tests can move a window past its end."""
    return clock.now().timestamp()


class Reservation:
    """Attempts counted before their outcome is known, one per key. They stay
    counted (a failure) unless `release()` gives them back (a success)."""

    __slots__ = ("_give_backs",)

    def __init__(self, give_backs: list[Callable[[], None]]) -> None:
        self._give_backs = give_backs

    def release(self) -> None:
        give_backs, self._give_backs = self._give_backs, []
        for give_back in give_backs:
            give_back()


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, tuple[float, int]] = {}

    def _current(self, key: str, now: float) -> tuple[float, int]:
        started, count = self._windows.get(key, (now, 0))
        if now - started >= WINDOW_SECONDS:
            started, count = now, 0
        return started, count

    def check(self, key: str) -> None:
        """Raises RateLimited when `key` is at its limit; counts nothing."""
        if self.per_minute == 0:
            return
        now = now_seconds()
        started, count = self._current(key, now)
        if count >= self.per_minute:
            raise RateLimited(max(1, math.ceil(WINDOW_SECONDS - (now - started))))

    def hit(self, key: str) -> None:
        """Checks and counts one event for `key`."""
        if self.per_minute == 0:
            return
        self.check(key)
        self._count(key)

    def reserve(self, *keys: str) -> Reservation:
        """Checks every key, then counts one attempt against each of them.

        Raises RateLimited, counting nothing, when any key is at its limit
        (its failures in the window plus the attempts still in flight). With no
        await between the checks and the counts, concurrent callers cannot all
        pass the same check."""
        if self.per_minute == 0:
            return Reservation([])
        for key in keys:
            self.check(key)
        return Reservation([self._take(key) for key in keys])

    def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _count(self, key: str) -> float:
        """Counts one event for `key`; when its window started."""
        now = now_seconds()
        started, count = self._current(key, now)
        self._windows[key] = (started, count + 1)
        if len(self._windows) > 100_000:
            self._evict(now)
        return started

    def _take(self, key: str) -> Callable[[], None]:
        """Counts one event for `key`; returns what uncounts it."""
        started = self._count(key)

        def give_back() -> None:
            current = self._windows.get(key)
            # A window that has ended since took its count with it.
            if current is not None and current[0] == started and current[1] > 0:
                self._windows[key] = (started, current[1] - 1)

        return give_back

    def _evict(self, now: float) -> None:
        stale = [k for k, (s, _) in self._windows.items() if now - s >= WINDOW_SECONDS]
        for k in stale:
            del self._windows[k]
