"""Due-time jobs run once when due, retry with backoff, and end dead after their attempts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.kit.clock import clock
from app.migrate import upgrade_to_head
from app.models import Job
from app.realtime.bus import MemoryBus
from app.worker.runner import RetryLater, Worker, enqueue
from tests.harness import base_database_url, fresh_postgres_database


async def _database(tmp_path: Path) -> Database:
    base = base_database_url()
    settings = Settings(
        data_dir=tmp_path, database_url=await fresh_postgres_database(base) if base else None
    )
    # Alembic runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade_to_head, settings)
    return Database(settings, MemoryBus())


class Recorder:
    """A job handler that records its calls, and fails with `fail` when given."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.ran: list[dict[str, Any]] = []
        self.gave_up: list[str] = []

    async def run(self, payload: dict[str, Any]) -> None:
        self.ran.append(payload)
        if self.fail is not None:
            raise self.fail

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        self.gave_up.append(error)


async def _job(db: Database, job_id: int) -> Job:
    async with db.read() as session:
        return (await session.execute(select(Job).where(Job.id == job_id))).scalar_one()


async def test_job_runs_when_due_and_only_once(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    handler = Recorder()
    worker = Worker(db, {"greet": handler})
    async with db.write() as session:
        later = await enqueue(session, "greet", {"n": 1}, due_at=clock.now() + timedelta(hours=1))
        now = await enqueue(session, "greet", {"n": 2})
    assert await worker.run_due() == 1
    assert await worker.run_due() == 0
    assert handler.ran == [{"n": 2}]
    assert (await _job(db, now.id)).state == "done"
    assert (await _job(db, later.id)).state == "pending"
    await db.dispose()


async def test_failing_job_retries_then_goes_dead(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    flaky = Recorder(fail=RetryLater("platform busy", defer_seconds=0))
    worker = Worker(db, {"send": flaky})
    async with db.write() as session:
        job = await enqueue(session, "send", {}, max_attempts=3)
    for _ in range(5):
        await worker.run_due()
    stored = await _job(db, job.id)
    assert len(flaky.ran) == 3
    assert flaky.gave_up == ["platform busy"]
    assert stored.state == "dead"
    assert stored.attempts == 3
    assert stored.last_error is not None
    assert "platform busy" in stored.last_error
    await db.dispose()


async def test_dedupe_key_keeps_one_job(tmp_path: Path) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    db = await _database(tmp_path)
    async with db.write() as session:
        await enqueue(session, "ack", {}, dedupe_key="ack:message:1")
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await enqueue(session, "ack", {}, dedupe_key="ack:message:1")
    await db.dispose()
