"""Due-time jobs run once when due, retry with backoff, and end dead after their attempts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.channels.base import ChannelPermanentError, ChannelRetriableError
from app.db import Database
from app.kit.clock import clock
from app.models import Job
from app.worker.runner import RetryLater, Worker, enqueue
from tests.harness import migrated_database


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
    db = await migrated_database(tmp_path)
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
    db = await migrated_database(tmp_path)
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

    db = await migrated_database(tmp_path)
    async with db.write() as session:
        await enqueue(session, "ack", {}, dedupe_key="ack:message:1")
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await enqueue(session, "ack", {}, dedupe_key="ack:message:1")
    await db.dispose()


async def test_only_the_lease_holder_completes_a_job(tmp_path: Path) -> None:
    """A worker whose lease ran out (it stalled) finds the job taken over: its
    late completion changes nothing."""
    db = await migrated_database(tmp_path)
    release = asyncio.Event()
    started = asyncio.Event()

    class Stalling(Recorder):
        async def run(self, payload: dict[str, Any]) -> None:
            started.set()
            await release.wait()
            raise RuntimeError("finished far too late")

    slow = Worker(db, {"send": Stalling()})
    fresh = Recorder()
    other = Worker(db, {"send": fresh})
    async with db.write() as session:
        job = await enqueue(session, "send", {"n": 1})
    stalled = asyncio.create_task(slow.run_due())
    await started.wait()
    clock.advance(timedelta(minutes=10))  # the lease runs out
    try:
        assert await other.run_due() == 1
        assert fresh.ran == [{"n": 1}]
        release.set()
        await stalled
    finally:
        clock.advance(-timedelta(minutes=10))
    stored = await _job(db, job.id)
    assert stored.state == "done"
    assert stored.last_error is None
    await db.dispose()


async def test_a_job_that_kills_its_process_on_every_attempt_ends_dead(tmp_path: Path) -> None:
    """Each attempt's process died mid-job: the lease ran out with nobody
    finishing. With attempts left the job runs again; after its last one it
    is dead and given up, not claimed again for ever."""
    db = await migrated_database(tmp_path)
    handler = Recorder()
    worker = Worker(db, {"crash": handler})
    async with db.write() as session:
        retried = await enqueue(session, "crash", {"n": 1}, max_attempts=3)
        spent = await enqueue(session, "crash", {"n": 2}, max_attempts=3)
    async with db.write() as session:
        for job, attempts in ((retried, 2), (spent, 3)):
            stored = await session.get(Job, job.id)
            assert stored is not None
            # As the worker claimed it, before its process died.
            stored.state, stored.attempts = "running", attempts
            stored.leased_until = clock.now() - timedelta(seconds=1)
            stored.lease_token = "gone"
    assert await worker.run_due() == 1
    assert await worker.run_due() == 0
    assert handler.ran == [{"n": 1}]
    assert (await _job(db, retried.id)).state == "done"
    dead = await _job(db, spent.id)
    assert dead.state == "dead"
    assert dead.lease_token is None
    assert dead.last_error is not None
    assert "stopped" in dead.last_error
    assert len(handler.gave_up) == 1
    await db.dispose()


async def test_errors_are_stored_without_secrets(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    failing = Recorder(
        fail=ChannelPermanentError(
            "POST https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
            " ?access_token=EAAGm0PX4ZCps -- Authorization: Bearer s3cr3t-t0ken"
        )
    )
    worker = Worker(db, {"send": failing})
    async with db.write() as session:
        job = await enqueue(session, "send", {})
    await worker.run_due()
    stored = await _job(db, job.id)
    assert stored.state == "dead", "a permanent error is not retried"
    assert stored.last_error is not None
    for secret in ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "EAAGm0PX4ZCps", "s3cr3t-t0ken"):
        assert secret not in stored.last_error
    assert "sendMessage" in stored.last_error
    assert len(failing.gave_up) == 1
    await db.dispose()


async def test_retriable_channel_error_waits_as_the_platform_asked(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    worker = Worker(db, {"send": Recorder(fail=ChannelRetriableError("429", defer_seconds=120))})
    async with db.write() as session:
        job = await enqueue(session, "send", {})
    before = clock.now()
    await worker.run_due()
    stored = await _job(db, job.id)
    assert stored.state == "pending"
    waited = (stored.due_at - before).total_seconds()
    assert 119 <= waited <= 130
    await db.dispose()
