"""A claimed batch's outcomes are stored together, each under its own rules:
done, retried when the platform asked, dead and given up, or left alone
where the lease was lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from app.channels.base import ChannelPermanentError, ChannelRetriableError
from app.db import Database
from app.kit.clock import clock
from app.models import Job
from app.worker.runner import BATCH, Worker, enqueue
from tests.harness import migrated_database


class ByPayload:
    """Fails as each payload says: `fail` in ("retry", "permanent"), or not."""

    def __init__(self) -> None:
        self.ran: list[int] = []
        self.gave_up: list[tuple[int, str]] = []

    async def run(self, payload: dict[str, Any]) -> None:
        self.ran.append(int(payload["n"]))
        if payload.get("fail") == "retry":
            raise ChannelRetriableError("429 too many requests", defer_seconds=300)
        if payload.get("fail") == "permanent":
            raise ChannelPermanentError("blocked by the user")

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        self.gave_up.append((int(payload["n"]), error))


def count_writes(db: Database) -> list[int]:
    """How many transactions `write_batch` ran (the worker's claims and outcome writes)."""
    calls: list[int] = []
    real = db.write_batch

    async def counted(work: Any, *, small: bool = False) -> Any:
        calls.append(1)
        return await real(work, small=small)

    db.write_batch = counted  # type: ignore[method-assign]
    return calls


async def _jobs(db: Database) -> dict[int, Job]:
    async with db.read() as session:
        return {
            int(j.payload["n"]): j for j in (await session.execute(select(Job))).scalars().all()
        }


async def test_a_batch_finishing_together_is_stored_in_one_transaction(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    handler = ByPayload()
    worker = Worker(db, {"send": handler})
    async with db.write() as session:
        for n in range(BATCH):
            await enqueue(session, "send", {"n": n})
    writes = count_writes(db)
    assert await worker.run_due() == BATCH
    # One transaction claims the batch, one stores every outcome.
    assert len(writes) == 2
    assert {job.state for job in (await _jobs(db)).values()} == {"done"}
    await db.dispose()


async def test_each_outcome_of_a_mixed_batch_is_stored_by_its_rule(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    handler = ByPayload()
    worker = Worker(db, {"send": handler})
    async with db.write() as session:
        for n in range(BATCH):
            fail = "retry" if n % 5 == 1 else "permanent" if n % 5 == 2 else None
            await enqueue(session, "send", {"n": n, "fail": fail})
    writes = count_writes(db)
    before = clock.now()
    assert await worker.run_due() == BATCH
    # The dead ones are given up first (their handler records why), so
    # they may come in a write of their own: still fewer writes than jobs.
    assert len(writes) < 1 + BATCH
    jobs = await _jobs(db)
    assert sorted(handler.ran) == list(range(BATCH))
    for n, job in jobs.items():
        assert job.lease_token is None
        assert job.leased_until is None
        if n % 5 == 1:
            assert job.state == "pending"
            assert 299 <= (job.due_at - before).total_seconds() <= 310
            assert job.last_error is not None
            assert "429" in job.last_error
        elif n % 5 == 2:
            assert job.state == "dead"
            assert job.last_error is not None
            assert "blocked" in job.last_error
        else:
            assert job.state == "done"
            assert job.last_error is None
    assert sorted(n for n, _ in handler.gave_up) == [n for n in range(BATCH) if n % 5 == 2]
    # Nothing is left to run until the retries fall due.
    assert await worker.run_due() == 0
    await db.dispose()


async def test_a_lost_lease_in_a_batch_leaves_that_job_to_its_new_holder(tmp_path: Path) -> None:
    """One job of the batch was taken over meanwhile (its lease ran out and
    another claim holds it): its late outcome changes nothing, the others' stand."""
    db = await migrated_database(tmp_path)
    taken: dict[str, int] = {}

    class TakenOver(ByPayload):
        async def run(self, payload: dict[str, Any]) -> None:
            if payload["n"] == 0:
                async with db.write() as session:
                    await session.execute(
                        update(Job)
                        .where(Job.id == taken["id"])
                        .values(lease_token="someone-else", attempts=Job.attempts + 1)
                    )
            await super().run(payload)

    handler = TakenOver()
    worker = Worker(db, {"send": handler})
    async with db.write() as session:
        first = await enqueue(session, "send", {"n": 0, "fail": "retry"})
        for n in range(1, 4):
            await enqueue(session, "send", {"n": n})
    taken["id"] = first.id
    assert await worker.run_due() == 4
    jobs = await _jobs(db)
    assert jobs[0].state == "running"
    assert jobs[0].lease_token == "someone-else"
    assert jobs[0].last_error is None
    assert [jobs[n].state for n in range(1, 4)] == ["done"] * 3
    await db.dispose()


async def test_retried_jobs_run_again_when_due(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    handler = ByPayload()
    worker = Worker(db, {"send": handler})
    async with db.write() as session:
        await enqueue(session, "send", {"n": 1, "fail": "retry"}, max_attempts=2)
        await enqueue(session, "send", {"n": 2})
    assert await worker.run_due() == 2
    clock.advance(timedelta(minutes=6))
    try:
        assert await worker.run_due() == 1
    finally:
        clock.advance(-timedelta(minutes=6))
    jobs = await _jobs(db)
    assert handler.ran == [1, 2, 1]
    assert jobs[1].state == "dead"
    assert jobs[1].attempts == 2
    assert [n for n, _ in handler.gave_up] == [1]
    await db.dispose()
