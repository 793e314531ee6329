"""One background task's lifecycle: start, stop, wake, and the loop between.

The rollup, worker, router, writer, schedules and Redis heartbeats each run
rounds of work in a task of their own: a round now, then a wait until woken
or until the round is next due. They differ in their rounds, not in how the
task is started, stopped, woken, or kept alive through a bad round, so that
lives here once.

A round returns how long until it is next due: seconds (0: again at once),
or None for the loop's `interval` (None there too: only when woken). A round
that raises is logged and the loop goes on: after `backoff(n)` seconds for
the n-th failure in a row when given (however often it is woken meanwhile:
a failing database is not retried in a spin), else after `interval` or a wake.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

Round = Callable[[], Awaitable[float | None]]

_log = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs `work`, a round at a time, in a task of its own: a round at
    `start()`, then whenever it is woken or due. `stop()` cancels the round
    in progress and waits for it to unwind; with `drain`, it lets rounds run
    until one leaves nothing to do (no wake pending, not due again at once)."""

    def __init__(
        self,
        work: Round,
        *,
        name: str,
        interval: float | None = None,
        settle: float = 0.0,
        backoff: Callable[[int], float] | None = None,
        drain: bool = False,
        log: logging.Logger = _log,
    ) -> None:
        self.name = name
        self.interval = interval
        # After a wake, this pause gathers a burst of wakes into one round.
        self.settle = settle
        self._work = work
        self._backoff = backoff
        self._drain = drain
        self._log = log
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        if self._drain:
            self._stopping = True
            self._wake.set()
        else:
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            # The loop's own end is swallowed; a cancel of the caller is not.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        finally:
            if self._task is task:
                self._task = None
                self._stopping = False

    def wake(self) -> None:
        """Runs the next round now (after `settle`), not when it falls due."""
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            seconds: float | None
            try:
                seconds = await self._work()
            except Exception:  # noqa: BLE001 - the loop outlives any one bad round
                failures += 1
                self._log.exception("%s: a round failed", self.name)
                seconds = self.interval
                if self._backoff is not None:
                    await asyncio.sleep(self._backoff(failures))
                    self._wake.set()
            else:
                failures = 0
                if seconds is None:
                    seconds = self.interval
            if seconds is not None and seconds <= 0:
                continue
            if self._stopping and not self._wake.is_set():
                return
            if await self._wait(seconds) and self.settle and not self._stopping:
                await asyncio.sleep(self.settle)

    async def _wait(self, seconds: float | None) -> bool:
        """Until woken (True) or `seconds` passed (False)."""
        if seconds is None:
            # The writer waits here between batches: no timeout to arm.
            await self._wake.wait()
            return True
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            return False
        return True


@runtime_checkable
class Closing(Protocol):
    """A handler (or what it sends through) holding connections open between
    jobs: closed when the worker stops."""

    async def aclose(self) -> None: ...
