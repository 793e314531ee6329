"""Fixed-window counters per key, in memory (one process is the embedded default)."""

from __future__ import annotations

import math
import time

from app.errors import RateLimited

WINDOW_SECONDS = 60.0


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
        now = time.monotonic()
        started, count = self._current(key, now)
        if count >= self.per_minute:
            raise RateLimited(max(1, math.ceil(WINDOW_SECONDS - (now - started))))

    def hit(self, key: str) -> None:
        """Checks and counts one event for `key`."""
        if self.per_minute == 0:
            return
        self.check(key)
        now = time.monotonic()
        started, count = self._current(key, now)
        self._windows[key] = (started, count + 1)
        if len(self._windows) > 100_000:
            self._evict(now)

    def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def _evict(self, now: float) -> None:
        stale = [k for k, (s, _) in self._windows.items() if now - s >= WINDOW_SECONDS]
        for k in stale:
            del self._windows[k]
