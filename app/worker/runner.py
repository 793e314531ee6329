"""Due-time jobs: leased from the jobs table, run by kind, retried with backoff.

A job is claimed by moving it to `running` with a lease and a lease token; only
the holder of that token may complete or reschedule it. A process that dies
mid-job leaves a lease that runs out, and the job is due again. PostgreSQL
claims with FOR UPDATE SKIP LOCKED so several processes share the table. The
worker wakes when jobs are committed (a `JobsQueued` event) and polls for the
ones that fall due later.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import ChannelPermanentError, ChannelRetriableError
from app.db import Database
from app.events.bus import publish_after_commit
from app.events.domain import Event, JobsQueued
from app.kit.background import BackgroundLoop
from app.kit.clock import clock
from app.kit.logs import redact
from app.models import Job
from app.runtime import Part

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
LEASE = timedelta(minutes=5)
BATCH = 20
# Why a job whose every attempt ended with its lease running out is dead.
LEASE_RAN_OUT = "every attempt ended without an answer (the process running it stopped)"


class JobHandler(Protocol):
    """Runs the jobs of one kind. `run` raises to retry (ChannelRetriableError or
    RetryLater say when); ChannelPermanentError, or running out of attempts,
    ends the job, and `give_up` records why where people see it."""

    async def run(self, payload: dict[str, Any]) -> None: ...

    async def give_up(self, payload: dict[str, Any], error: str) -> None: ...


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
    """Adds a job in the caller's transaction, so it exists iff the caller commits;
    the worker is woken after that commit."""
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
    publish_after_commit(session, JobsQueued())
    return job


class Worker:
    def __init__(
        self,
        db: Database,
        handlers: dict[str, JobHandler] | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.handlers: dict[str, JobHandler] = dict(handlers or {})
        self._loop = BackgroundLoop(self._round, name="job-worker", interval=poll_seconds, log=log)

    def register(self, kind: str, handler: JobHandler) -> None:
        self.handlers[kind] = handler

    def on_event(self, event: Event) -> None:
        """Bus subscriber: committed jobs wake the worker at once."""
        if isinstance(event, JobsQueued):
            self._loop.wake()

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _round(self) -> float:
        if await self.run_due():
            return 0.0  # a full batch may have left more due: at once
        return await self._idle_seconds()

    async def _idle_seconds(self) -> float:
        """Until the next job falls due (a retry's backoff), at most one poll."""
        try:
            async with self.db.read() as session:
                next_due = (
                    await session.execute(
                        select(func.min(Job.due_at)).where(
                            Job.state == "pending", Job.kind.in_(list(self.handlers))
                        )
                    )
                ).scalar_one_or_none()
        except Exception:  # noqa: BLE001 - a poll later is good enough
            log.exception("looking for the next due job failed")
            return self.poll_seconds
        if next_due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.0, (next_due - clock.now()).total_seconds()))

    async def _claim(self) -> tuple[str, list[Job]]:
        now = clock.now()
        token = secrets.token_hex(16)
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
            claimed: list[Job] = []
            exhausted: list[Job] = []
            for job in jobs:
                if job.state == "running" and job.attempts >= job.max_attempts:
                    # Its lease ran out on its last attempt: the process died
                    # while running it. A job that crashes the process it runs
                    # in must not be run for ever.
                    job.state = "dead"
                    job.last_error = LEASE_RAN_OUT
                    job.leased_until = None
                    job.lease_token = None
                    job.updated_at = now
                    exhausted.append(job)
                    continue
                job.state = "running"
                job.attempts += 1
                job.leased_until = now + LEASE
                job.lease_token = token
                job.updated_at = now
                claimed.append(job)
        for job in exhausted:
            log.warning("job %s (%s): %s", job.id, job.kind, LEASE_RAN_OUT)
            try:
                await self.handlers[job.kind].give_up(job.payload, LEASE_RAN_OUT)
            except Exception:  # noqa: BLE001 - the job is dead either way
                log.exception("job %s (%s): give_up failed", job.id, job.kind)
        return token, claimed

    async def run_due(self) -> int:
        """Runs the jobs due now, side by side; returns how many ran."""
        if not self.handlers:
            return 0
        token, jobs = await self._claim()
        await asyncio.gather(*(self._run_one(job, token) for job in jobs))
        return len(jobs)

    async def _run_one(self, job: Job, token: str) -> None:
        handler = self.handlers[job.kind]
        values: dict[str, Any]
        try:
            await handler.run(job.payload)
            values = {"state": "done", "last_error": None}
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            error = redact(f"{exc.__class__.__name__}: {exc}")[:2000]
            permanent = isinstance(exc, ChannelPermanentError)
            dead = permanent or job.attempts >= job.max_attempts
            if not isinstance(exc, RetryLater | ChannelRetriableError):
                log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
            values = {
                "state": "dead" if dead else "pending",
                "due_at": clock.now() + _defer(exc, job.attempts),
                "last_error": error,
            }
            if dead and await self._still_held(job, token):
                try:
                    await handler.give_up(job.payload, str(exc) or exc.__class__.__name__)
                except Exception:  # noqa: BLE001 - the job is dead either way
                    log.exception("job %s (%s): give_up failed", job.id, job.kind)
        async with self.db.write() as session:
            result = await session.execute(
                update(Job)
                .where(Job.id == job.id, Job.lease_token == token, Job.state == "running")
                .values(leased_until=None, lease_token=None, updated_at=clock.now(), **values)
            )
        if not getattr(result, "rowcount", 1):
            log.warning("job %s (%s): lease lost before it finished", job.id, job.kind)

    async def _still_held(self, job: Job, token: str) -> bool:
        async with self.db.read() as session:
            held = await session.execute(
                select(Job.id).where(
                    Job.id == job.id, Job.lease_token == token, Job.state == "running"
                )
            )
            return held.first() is not None


def _defer(exc: Exception, attempt: int) -> timedelta:
    if isinstance(exc, RetryLater):
        return timedelta(seconds=exc.defer_seconds)
    if isinstance(exc, ChannelRetriableError) and exc.defer_seconds is not None:
        return timedelta(seconds=exc.defer_seconds)
    return backoff(attempt)


WORKER: Part[Worker] = Part("worker")
