"""The writer's queue is bounded: a flood waits to be queued instead of growing memory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from app.conversations import writer as writer_module
from app.conversations.writer import MAX_QUEUED, MessageWriter, NewMessage, StoredMessage
from tests.harness import migrated_database


class _StalledWriter(MessageWriter):
    """A writer whose database is stuck: nothing it takes is ever committed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stuck = asyncio.Event()

    async def _commit(
        self, batch: list[writer_module._Pending]
    ) -> list[StoredMessage | BaseException]:
        await self.stuck.wait()
        raise RuntimeError("never committed")


async def test_a_flood_meets_backpressure(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)

    async def nothing(_: Sequence[StoredMessage]) -> None:
        return None

    writer = _StalledWriter(db, nothing)
    await writer.start()
    flood = MAX_QUEUED + writer_module.MAX_BATCH + 50
    appends = [
        asyncio.create_task(
            writer.append(
                NewMessage(
                    inbox_id=1,
                    channel="web",
                    author_kind="customer",
                    body=str(n),
                    conversation_id=1,
                )
            )
        )
        for n in range(flood)
    ]
    await asyncio.sleep(0.2)
    # One batch is with the (stuck) database, the queue is full, the rest wait.
    assert writer._queue.qsize() == MAX_QUEUED
    assert not any(task.done() for task in appends)
    writer.stuck.set()
    results = await asyncio.gather(*appends, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results), "every caller hears back"
    await writer.stop()
    await db.dispose()
