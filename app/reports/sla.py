"""SLA clocks: per-inbox targets in business time, timed by due-time jobs.

A clock starts when a customer starts waiting (the fold in rollup.py sees
it): first_response and next_response run from the first unanswered
customer message, resolution from the conversation's opening. Each clock is
two jobs in the jobs table, committed with the fold that started it: a
warning at `warning_ratio` of the target and the breach at the target, both
in the inbox's business time. They survive a restart like any job.

When a job falls due it looks again: an agent's public reply since the
clock started, or a resolved conversation, stops it. Otherwise it writes
the mark (`sla_events`, unique per clock and phase) and, only when that
insert is new, publishes `SlaAlert` to the agents. A job run twice (a crash
after the commit, before the job was marked done) finds the mark and stays
quiet: a clock fires once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import access
from app.db import Database
from app.errors import NotFound
from app.events.bus import publish_after_commit
from app.events.domain import SlaAlert
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.models import Conversation, Inbox, Job, Message, ServicePolicy, SlaEvent
from app.reports.business_time import calendars_for
from app.reports.rollup import WaitStarted
from app.reports.schemas import ServicePolicyIn
from app.worker.runner import enqueue

log = logging.getLogger(__name__)

SLA_CHECK = "sla.check"
TARGETS = ("first_response", "next_response", "resolution")
Phase = Literal["warning", "breach"]


# -- policies ----------------------------------------------------------------


def policy_out(inbox_id: int, policy: ServicePolicy | None) -> dict[str, Any]:
    if policy is None:
        return {"inbox_id": inbox_id, **ServicePolicyIn().model_dump()}
    return {
        "inbox_id": inbox_id,
        "first_response_seconds": policy.first_response_seconds,
        "next_response_seconds": policy.next_response_seconds,
        "resolution_seconds": policy.resolution_seconds,
        "warning_ratio": policy.warning_ratio,
        "csat_enabled": policy.csat_enabled,
        "follow_up_seconds": policy.follow_up_seconds,
        "follow_up_message": policy.follow_up_message,
    }


async def get_policy(db: Database, inbox_id: int) -> dict[str, Any]:
    async with db.read() as session:
        if await session.get(Inbox, inbox_id) is None:
            raise NotFound("no such inbox")
        return policy_out(inbox_id, await session.get(ServicePolicy, inbox_id))


async def set_policy(db: Database, inbox_id: int, body: ServicePolicyIn) -> dict[str, Any]:
    """Replaces the inbox's standards. Clocks already running keep the target
    they started with; new waits get the new one."""
    async with db.write() as session:
        if await session.get(Inbox, inbox_id) is None:
            raise NotFound("no such inbox")
        policy = await session.get(ServicePolicy, inbox_id)
        if policy is None:
            policy = ServicePolicy(inbox_id=inbox_id)
            session.add(policy)
        for name, value in body.model_dump().items():
            setattr(policy, name, value)
        policy.updated_at = clock.now()
        await session.flush()
        return policy_out(inbox_id, policy)


def _target_seconds(policy: ServicePolicy, target: str) -> int | None:
    seconds: int | None = getattr(policy, f"{target}_seconds")
    return seconds


# -- starting clocks ---------------------------------------------------------


async def start_clocks(session: AsyncSession, waits: Sequence[WaitStarted]) -> None:
    """The fold's hook: the jobs of each clock a policy sets, in its transaction."""
    inbox_ids = {wait.inbox_id for wait in waits}
    policies = {
        p.inbox_id: p
        for p in (
            await session.execute(
                select(ServicePolicy).where(ServicePolicy.inbox_id.in_(inbox_ids))
            )
        ).scalars()
    }
    if not policies:
        return
    calendars = await calendars_for(session, policies)
    planned: list[tuple[str, datetime, dict[str, Any]]] = []
    for wait in waits:
        policy = policies.get(wait.inbox_id)
        seconds = _target_seconds(policy, wait.target) if policy is not None else None
        if policy is None or seconds is None:
            continue
        calendar = calendars[wait.inbox_id]
        due = calendar.add_business_seconds(wait.started_at, seconds)
        if due is None:
            continue
        warn = calendar.add_business_seconds(wait.started_at, seconds * policy.warning_ratio)
        phases: list[tuple[Phase, datetime]] = [("breach", due)]
        if warn is not None and 0 < policy.warning_ratio < 1:
            phases.append(("warning", warn))
        for phase, at in phases:
            key = f"sla:{wait.conversation_id}:{wait.target}:{phase}:{wait.started_at.isoformat()}"
            payload = {
                "conversation_id": wait.conversation_id,
                "target": wait.target,
                "phase": phase,
                "started_at": wait.started_at.isoformat(),
                "due_at": due.isoformat(),
            }
            planned.append((key, at, payload))
    if not planned:
        return
    existing = set(
        (
            await session.execute(
                select(Job.dedupe_key).where(Job.dedupe_key.in_([key for key, _, _ in planned]))
            )
        ).scalars()
    )
    for key, at, payload in planned:
        if key not in existing:
            await enqueue(session, SLA_CHECK, payload, due_at=at, dedupe_key=key)


# -- the clock running out ---------------------------------------------------


class SlaCheck:
    """The `sla.check` job: marks and announces a clock that is still running."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(self, payload: dict[str, Any]) -> None:
        conversation_id = int(payload["conversation_id"])
        target = str(payload["target"])
        phase: Phase = "breach" if payload["phase"] == "breach" else "warning"
        started_at = datetime.fromisoformat(payload["started_at"])
        due_at = datetime.fromisoformat(payload["due_at"])
        async with self.db.write() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or not await _still_running(
                session, conversation, target, started_at
            ):
                return
            try:
                async with session.begin_nested():
                    session.add(
                        SlaEvent(
                            conversation_id=conversation_id,
                            inbox_id=conversation.inbox_id,
                            target=target,
                            phase=phase,
                            started_at=started_at,
                            due_at=due_at,
                            fired_at=clock.now(),
                        )
                    )
            except IntegrityError:
                return  # fired before: once is enough
            scope = access.scope_of(
                conversation, await inboxes_repo.team_ids(session, conversation.inbox_id)
            )
            publish_after_commit(
                session,
                SlaAlert(
                    scope=scope,
                    target=target,
                    phase=phase,
                    started_at=started_at.isoformat(),
                    due_at=due_at.isoformat(),
                ),
            )

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        log.warning("SLA clock %s not checked: %s", payload, error)


async def _still_running(
    session: AsyncSession, conversation: Conversation, target: str, started_at: datetime
) -> bool:
    if conversation.status == "resolved":
        return False
    if target == "resolution":
        return True
    answered = await session.execute(
        select(
            exists().where(
                Message.conversation_id == conversation.id,
                Message.author_kind == "agent",
                Message.private.is_(False),
                Message.created_at >= started_at,
            )
        )
    )
    return not answered.scalar_one()


async def conversation_sla(session: AsyncSession, conversation_id: int) -> list[dict[str, Any]]:
    """The marks on a conversation, oldest first."""
    rows = await session.execute(
        select(SlaEvent).where(SlaEvent.conversation_id == conversation_id).order_by(SlaEvent.id)
    )
    return [
        {
            "target": e.target,
            "phase": e.phase,
            "started_at": e.started_at.isoformat(),
            "due_at": e.due_at.isoformat(),
            "fired_at": e.fired_at.isoformat(),
        }
        for e in rows.scalars()
    ]
