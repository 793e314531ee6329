"""Due-time jobs: leased from the jobs table, run by kind, retried with backoff.

A job is claimed by moving it to `running` with a lease and a lease token; only
the holder of that token may complete or reschedule it. A process that dies
mid-job leaves a lease that runs out, and the job is due again. PostgreSQL
claims with FOR UPDATE SKIP LOCKED so several processes share the table. The
worker wakes when jobs are committed (a `JobsQueued` event) and polls for the
ones that fall due later. The outcomes of a round's jobs are written together
(`Coalescer`): one transaction for the jobs that finished at about the same
time, not one each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import ChannelPermanentError, ChannelRetriableError
from app.db import Database
from app.driver_sql import Params, db_time, execute, fetch_all
from app.events.bus import publish_after_commit
from app.events.domain import Event, JobsQueued
from app.kit.background import BackgroundLoop, Closing
from app.kit.clock import clock
from app.kit.coalesce import Coalescer
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


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job as a claim read it: what its handler and its outcome need."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run of a job ended, as the jobs table stores it: `due_at` None
    keeps the job's own."""

    job_id: int
    state: str
    due_at: datetime | None = None
    last_error: str | None = None


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
        for handler in self.handlers.values():
            if isinstance(handler, Closing):
                try:
                    await handler.aclose()
                except Exception:  # noqa: BLE001 - the others close all the same
                    log.exception("closing the %s handler failed", handler.__class__.__name__)

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

    async def _claim(self) -> tuple[str, list[ClaimedJob]]:
        token = secrets.token_hex(16)
        kinds = sorted(self.handlers)
        # A few statements over an index: small, inline where that is cheaper.
        claimed, exhausted = await self.db.write_batch(
            lambda conn: _claim_rows(conn, kinds, token, clock.now()), small=True
        )
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
        if not jobs:
            return 0
        # Outcomes are written as the jobs finish, coalesced (Coalescer): the
        # jobs that end together share one transaction, and a fast job's
        # outcome never waits for a slow sibling's (a relay's 30 s timeout)
        # to be stored, so a crash meanwhile cannot run it again.
        outcomes: Coalescer[Outcome, bool] = Coalescer(
            lambda batch: self.db.write_batch(
                lambda conn: _complete(conn, token, batch, clock.now()),
                small=len(batch) <= 2,
            )
        )
        try:
            await asyncio.gather(*(self._run_one(job, token, outcomes) for job in jobs))
        finally:
            # Stopped mid-round: what finished is still written (a job whose
            # mail left must not run again when its lease runs out).
            await outcomes.idle()
        return len(jobs)

    async def _run_one(
        self, job: ClaimedJob, token: str, outcomes: Coalescer[Outcome, bool]
    ) -> None:
        handler = self.handlers[job.kind]
        outcome: Outcome
        try:
            await handler.run(job.payload)
            outcome = Outcome(job.id, "done")
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
            error = redact(f"{exc.__class__.__name__}: {exc}")[:2000]
            permanent = isinstance(exc, ChannelPermanentError)
            dead = permanent or job.attempts >= job.max_attempts
            if not isinstance(exc, RetryLater | ChannelRetriableError):
                log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
            outcome = Outcome(
                job.id,
                "dead" if dead else "pending",
                due_at=clock.now() + _defer(exc, job.attempts),
                last_error=error,
            )
            if dead and await self._still_held(job, token):
                try:
                    await handler.give_up(job.payload, str(exc) or exc.__class__.__name__)
                except Exception:  # noqa: BLE001 - the job is dead either way
                    log.exception("job %s (%s): give_up failed", job.id, job.kind)
        if not await outcomes.submit(outcome):
            log.warning("job %s (%s): lease lost before it finished", job.id, job.kind)

    async def _still_held(self, job: ClaimedJob, token: str) -> bool:
        async with self.db.read() as session:
            held = await session.execute(
                select(Job.id).where(
                    Job.id == job.id, Job.lease_token == token, Job.state == "running"
                )
            )
            return held.first() is not None


def _claim_rows(
    conn: Connection, kinds: Sequence[str], token: str, now: datetime
) -> tuple[list[ClaimedJob], list[ClaimedJob]]:
    """Leases up to BATCH due jobs to `token` (attempts + 1); those whose lease
    ran out on their last attempt end dead instead. Returns (claimed, dead)."""
    if not kinds:
        return [], []
    p = Params(conn)
    stamp = db_time(conn, now)
    lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE SKIP LOCKED"
    due = fetch_all(
        conn,
        "SELECT id, kind, payload, state, attempts, max_attempts FROM jobs"  # noqa: S608 - placeholders only
        f" WHERE ((state = 'pending' AND due_at <= {p(stamp)})"
        f" OR (state = 'running' AND leased_until < {p(stamp)}))"
        f" AND kind IN ({', '.join(p(k) for k in kinds)})"
        f" ORDER BY due_at LIMIT {BATCH}{lock}",
        tuple(p.values),
    )
    claimed: list[ClaimedJob] = []
    exhausted: list[ClaimedJob] = []
    for job_id, kind, payload, state, attempts, max_attempts in due:
        if isinstance(payload, str | bytes):
            payload = json.loads(payload)
        if state == "running" and attempts >= max_attempts:
            # Its lease ran out on its last attempt: the process died while
            # running it. A job that crashes the process it runs in must not
            # be run for ever.
            exhausted.append(ClaimedJob(job_id, kind, payload, attempts, max_attempts))
        else:
            claimed.append(ClaimedJob(job_id, kind, payload, attempts + 1, max_attempts))
    if exhausted:
        p = Params(conn)
        execute(
            conn,
            f"UPDATE jobs SET state = 'dead', last_error = {p(LEASE_RAN_OUT)},"  # noqa: S608 - placeholders only
            f" leased_until = NULL, lease_token = NULL, updated_at = {p(stamp)}"
            f" WHERE id IN ({', '.join(p(j.id) for j in exhausted)})",
            tuple(p.values),
        )
    if claimed:
        p = Params(conn)
        execute(
            conn,
            "UPDATE jobs SET state = 'running', attempts = attempts + 1,"  # noqa: S608 - placeholders only
            f" leased_until = {p(db_time(conn, now + LEASE))}, lease_token = {p(token)},"
            f" updated_at = {p(stamp)} WHERE id IN ({', '.join(p(j.id) for j in claimed)})",
            tuple(p.values),
        )
    return claimed, exhausted


def _complete(
    conn: Connection, token: str, outcomes: Sequence[Outcome], now: datetime
) -> list[bool]:
    """Stores the outcomes in one statement, each only where `token` still
    holds the job's lease; whether it did, per outcome (a lost lease: the job
    ran out of time and another claim took it over, whose word stands)."""
    p = Params(conn)
    # Placeholders are handed out in the order they stand in the statement.
    head = (
        "UPDATE jobs SET state = v.column2, due_at = COALESCE(v.column3, jobs.due_at),"  # noqa: S608 - placeholders only
        " last_error = v.column4, leased_until = NULL, lease_token = NULL,"
        f" updated_at = {p(db_time(conn, now))}"
    )
    rows = ", ".join(
        f"({p.int(o.job_id)}, {p(o.state)},"
        f" {p.time(None if o.due_at is None else db_time(conn, o.due_at))}, {p(o.last_error)})"
        for o in outcomes
    )
    held = fetch_all(
        conn,
        f"{head} FROM (VALUES {rows}) AS v"  # noqa: S608 - placeholders only
        f" WHERE jobs.id = v.column1 AND jobs.lease_token = {p(token)}"
        " AND jobs.state = 'running' RETURNING jobs.id",
        tuple(p.values),
    )
    stored = {int(row[0]) for row in held}
    return [o.job_id in stored for o in outcomes]


def _defer(exc: Exception, attempt: int) -> timedelta:
    if isinstance(exc, RetryLater):
        return timedelta(seconds=exc.defer_seconds)
    if isinstance(exc, ChannelRetriableError) and exc.defer_seconds is not None:
        return timedelta(seconds=exc.defer_seconds)
    return backoff(attempt)


WORKER: Part[Worker] = Part("worker")
