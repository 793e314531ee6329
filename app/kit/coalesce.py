"""Many concurrent callers, one round trip: what tasks submit at about the
same moment is handled in one call (a write transaction, a read)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Hands what concurrent tasks submit to `flush` together, in the order
    submitted; each submitter gets its own item's result (or the flush's error).

    The first submission starts a flush on the next turn of the loop, so the
    tasks that finish together (a gathered batch) share it; what comes in
    while a flush runs goes in the next one. Nobody waits for a timer or for
    a slow sibling: a lone submission is written at once."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[R]]]) -> None:
        self._flush = flush
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        # A cancelled submitter cancels only its wait: its item is written all the same.
        return await future

    async def idle(self) -> None:
        """Until what was submitted is written (a stop waits for it)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        await asyncio.sleep(0)
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to each submitter
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
