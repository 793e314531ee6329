"""Due-time jobs: leased from the jobs table, run by kind, retried with backoff.

A job is claimed by moving it to `running` with a lease; a process that dies
mid-job leaves a lease that runs out, and the job is due again. PostgreSQL
claims with FOR UPDATE SKIP LOCKED so several processes share the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.kit.clock import clock
from app.models import Job

log = logging.getLogger(__name__)

JobHandler = Callable[[Database, dict[str, Any]], Awaitable[None]]

POLL_SECONDS = 1.0
LEASE = timedelta(minutes=5)
BATCH = 20


class RetryLater(Exception):
    def __init__(self, detail: str, defer_seconds: float) -> None:
        super().__init__(detail)
        self.defer_seconds = defer_seconds


def backoff(attempt: int) -> timedelta:
    # 10 s, 20 s, 40 s ... capped at one hour.
    return timedelta(seconds=min(3600, 10 * 2 ** max(0, attempt - 1)))


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 8,
) -> Job:
    """Adds a job in the caller's transaction, so it exists iff the caller commits."""
    now = clock.now()
    job = Job(
        kind=kind,
        payload=payload,
        state="pending",
        due_at=due_at or now,
        attempts=0,
        max_attempts=max_attempts,
        dedupe_key=dedupe_key,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    await session.flush()
    return job


class Worker:
    def __init__(self, db: Database, handlers: dict[str, JobHandler] | None = None) -> None:
        self.db = db
        self.handlers: dict[str, JobHandler] = dict(handlers or {})
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: JobHandler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="job-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                ran = await self.run_due()
            except Exception:  # noqa: BLE001 - keep polling through a bad moment
                log.exception("job poll failed")
                ran = 0
            if ran:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass

    async def _claim(self) -> list[Job]:
        now = clock.now()
        async with self.db.write() as session:
            stmt = (
                select(Job)
                .where(
                    or_(
                        (Job.state == "pending") & (Job.due_at <= now),
                        (Job.state == "running") & (Job.leased_until < now),
                    ),
                    Job.kind.in_(list(self.handlers)),
                )
                .order_by(Job.due_at)
                .limit(BATCH)
            )
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            jobs = list((await session.execute(stmt)).scalars())
            for job in jobs:
                job.state = "running"
                job.attempts += 1
                job.leased_until = now + LEASE
                job.updated_at = now
        return jobs

    async def run_due(self) -> int:
        """Runs the jobs due now; returns how many ran."""
        if not self.handlers:
            return 0
        jobs = await self._claim()
        for job in jobs:
            await self._run_one(job)
        return len(jobs)

    async def _run_one(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        values: dict[str, Any]
        try:
            await handler(self.db, job.payload)
            values = {"state": "done", "last_error": None}
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            defer = (
                timedelta(seconds=exc.defer_seconds)
                if isinstance(exc, RetryLater)
                else backoff(job.attempts)
            )
            dead = job.attempts >= job.max_attempts
            if not isinstance(exc, RetryLater):
                log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            values = {
                "state": "dead" if dead else "pending",
                "due_at": clock.now() + defer,
                "last_error": f"{exc.__class__.__name__}: {exc}"[:2000],
            }
        async with self.db.write() as session:
            await session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(leased_until=None, updated_at=clock.now(), **values)
            )
