"""All SQL of routing: the queue, agents' room, and the assignment itself."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Role
from app.db import publish_after_commit
from app.kit.clock import clock
from app.models import Agent, AgentTeam, Conversation, Customer, Inbox, InboxTeam, Job, Message
from app.realtime.events import JobsQueued
from app.routing.config import RoutingConfig, config_of
from app.routing.language import skill_set
from app.routing.policies import Candidate, Waiting

# -- agents ------------------------------------------------------------------


async def candidates(session: AsyncSession, agent_ids: Collection[int]) -> list[Candidate]:
    """The active agents among `agent_ids`, with their live load and teams."""
    if not agent_ids:
        return []
    ids = sorted(agent_ids)
    rows = (
        await session.execute(
            select(Agent.id, Agent.role, Agent.capacity, Agent.skills, Agent.last_routed_at).where(
                Agent.id.in_(ids), Agent.is_active
            )
        )
    ).all()
    loads = await load_of(session, ids)
    teams: dict[int, set[int]] = {}
    for agent_id, team_id in await session.execute(
        select(AgentTeam.agent_id, AgentTeam.team_id).where(AgentTeam.agent_id.in_(ids))
    ):
        teams.setdefault(agent_id, set()).add(team_id)
    return [
        Candidate(
            id=row.id,
            role=Role(row.role),
            capacity=row.capacity,
            load=loads.get(row.id, 0),
            skills=skill_set(list(row.skills or [])),
            team_ids=frozenset(teams.get(row.id, ())),
            last_routed_at=row.last_routed_at,
        )
        for row in rows
    ]


async def load_of(session: AsyncSession, agent_ids: Sequence[int]) -> dict[int, int]:
    """Open conversations assigned to each agent: what counts against capacity."""
    result = await session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.status == "open", Conversation.assignee_id.in_(agent_ids))
        .group_by(Conversation.assignee_id)
    )
    return {int(agent_id): int(count) for agent_id, count in result if agent_id is not None}


async def lock_agent(session: AsyncSession, agent_id: int) -> bool:
    """PostgreSQL: locks the agent's row until commit, unless another
    transaction holds it (then False: another pass is filling that room)."""
    found = await session.execute(
        select(Agent.id).where(Agent.id == agent_id).with_for_update(skip_locked=True)
    )
    return found.first() is not None


async def lock_agent_waiting(session: AsyncSession, agent_id: int) -> None:
    """PostgreSQL: locks the agent's row until commit, waiting for whoever holds it."""
    await session.execute(select(Agent.id).where(Agent.id == agent_id).with_for_update())


async def touch_agents(session: AsyncSession, agent_ids: Collection[int], now: datetime) -> None:
    if agent_ids:
        await session.execute(
            update(Agent).where(Agent.id.in_(sorted(agent_ids))).values(last_routed_at=now)
        )


# -- inboxes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxRouting:
    live: bool
    config: RoutingConfig
    team_ids: tuple[int, ...]


async def inboxes(session: AsyncSession) -> dict[int, InboxRouting]:
    teams: dict[int, list[int]] = {}
    for inbox_id, team_id in await session.execute(
        select(InboxTeam.inbox_id, InboxTeam.team_id).order_by(InboxTeam.team_id)
    ):
        teams.setdefault(inbox_id, []).append(team_id)
    return {
        row.id: InboxRouting(
            live=row.mode == "live",
            config=config_of(row.routing),
            team_ids=tuple(teams.get(row.id, ())),
        )
        for row in await session.execute(select(Inbox.id, Inbox.mode, Inbox.routing))
    }


async def set_inbox_routing(session: AsyncSession, inbox_id: int, raw: dict[str, Any]) -> bool:
    result = await session.execute(update(Inbox).where(Inbox.id == inbox_id).values(routing=raw))
    return bool(getattr(result, "rowcount", 0))


# -- the queue ---------------------------------------------------------------

_WAITING = (
    Conversation.status == "open",
    Conversation.assignee_id.is_(None),
    Conversation.queued_at.is_not(None),
)
_ORDER = (Conversation.priority.desc(), Conversation.queued_at, Conversation.id)

QueueKey = tuple[int, datetime, int]


def queue_key(waiting: Waiting) -> QueueKey:
    return (waiting.priority, waiting.queued_at, waiting.id)


async def waiting_page(
    session: AsyncSession, after: QueueKey | None, limit: int, *, lock: bool
) -> list[Waiting]:
    """The next waiting conversations of live inboxes in queue order. With
    `lock` (PostgreSQL), their rows are locked until commit and rows another
    transaction holds are skipped: that one is assigning or changing them."""
    stmt = (
        select(
            Conversation.id,
            Conversation.inbox_id,
            Conversation.customer_id,
            Conversation.team_id,
            Conversation.priority,
            Conversation.queued_at,
            Conversation.language,
            Conversation.required_skill,
            Conversation.escalated_to,
            Conversation.passed_agent_id,
        )
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(*_WAITING, Inbox.mode == "live")
        .order_by(*_ORDER)
        .limit(limit)
    )
    if after is not None:
        priority, queued_at, conversation_id = after
        stmt = stmt.where(
            or_(
                Conversation.priority < priority,
                and_(
                    Conversation.priority == priority,
                    or_(
                        Conversation.queued_at > queued_at,
                        and_(
                            Conversation.queued_at == queued_at, Conversation.id > conversation_id
                        ),
                    ),
                ),
            )
        )
    if lock:
        stmt = stmt.with_for_update(of=Conversation, skip_locked=True)
    return [
        Waiting(
            id=row.id,
            inbox_id=row.inbox_id,
            customer_id=row.customer_id,
            team_id=row.team_id,
            priority=row.priority,
            queued_at=row.queued_at,
            language=row.language,
            required_skill=row.required_skill,
            escalated_to=row.escalated_to,
            passed_agent_id=row.passed_agent_id,
        )
        for row in await session.execute(stmt)
    ]


async def queue(session: AsyncSession) -> list[tuple[int, int, int]]:
    """(id, inbox_id, customer_id) of every waiting conversation, in queue order."""
    result = await session.execute(
        select(Conversation.id, Conversation.inbox_id, Conversation.customer_id)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(*_WAITING, Inbox.mode == "live")
        .order_by(*_ORDER)
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in result]


async def queue_of_inbox(
    session: AsyncSession, inbox_id: int, offset: int, limit: int
) -> list[Conversation]:
    result = await session.execute(
        select(Conversation)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .where(*_WAITING, Inbox.mode == "live", Conversation.inbox_id == inbox_id)
        .order_by(*_ORDER)
        .offset(offset)
        .limit(limit)
    )
    return list(result.scalars())


async def first_customer_words(
    session: AsyncSession, conversation_id: int
) -> tuple[dict[str, Any] | None, str, str | None]:
    """(meta, body) of the conversation's first customer message, and the
    customer's own language."""
    row = (
        await session.execute(
            select(Message.meta, Message.body, Customer.language)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(Message.conversation_id == conversation_id, Message.author_kind == "customer")
            .order_by(Message.seq)
            .limit(1)
        )
    ).first()
    if row is None:
        return None, "", None
    return row[0], row[1], row[2]


async def set_language(session: AsyncSession, conversation_id: int, language: str) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(language=language)
    )


async def last_agents(
    session: AsyncSession, customer_ids: Collection[int], since: datetime
) -> dict[int, tuple[int, datetime]]:
    """Who helped each customer last, in a conversation active since `since`:
    {customer id: (agent id, when)}. Waiting conversations have no assignee,
    so only the customer's other conversations answer."""
    if not customer_ids:
        return {}
    result = await session.execute(
        select(Conversation.customer_id, Conversation.assignee_id, Conversation.updated_at)
        .where(
            Conversation.customer_id.in_(sorted(customer_ids)),
            Conversation.assignee_id.is_not(None),
            Conversation.updated_at >= since,
        )
        .order_by(Conversation.updated_at)
    )
    latest: dict[int, tuple[int, datetime]] = {}
    for customer_id, agent_id, updated_at in result:
        if agent_id is not None:
            latest[customer_id] = (agent_id, updated_at)
    return latest


async def assign(
    session: AsyncSession, conversation_id: int, agent_id: int, now: datetime
) -> int | None:
    """Gives a waiting conversation to the agent; its attempt number, or None
    when it is no longer waiting (taken, resolved) and nothing changed."""
    result = await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, *_WAITING)
        .values(
            assignee_id=agent_id,
            assigned_at=now,
            updated_at=now,
            passed_agent_id=None,
            routing_attempts=Conversation.routing_attempts + 1,
        )
        .returning(Conversation.routing_attempts)
    )
    return result.scalar_one_or_none()


async def take_back(session: AsyncSession, agent_id: int, now: datetime) -> list[int]:
    """Returns the agent's open conversations of live inboxes to the queue, at
    the place each first had (queued_at is kept)."""
    ids = list(
        (
            await session.execute(
                select(Conversation.id)
                .join(Inbox, Inbox.id == Conversation.inbox_id)
                .where(
                    Conversation.assignee_id == agent_id,
                    Conversation.status == "open",
                    Inbox.mode == "live",
                )
                .order_by(Conversation.id)
                .with_for_update(of=Conversation)
            )
        ).scalars()
    )
    if ids:
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_(ids), Conversation.assignee_id == agent_id)
            .values(
                assignee_id=None,
                assigned_at=None,
                updated_at=now,
                queued_at=func.coalesce(Conversation.queued_at, Conversation.created_at),
            )
        )
    return ids


async def release(
    session: AsyncSession,
    conversation_id: int,
    agent_id: int,
    now: datetime,
    *,
    passed: bool = False,
) -> bool:
    """Takes one open conversation back from the agent into the queue, at its
    old place; with `passed`, that agent is not offered it again straight away."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.assignee_id == agent_id,
            Conversation.status == "open",
        )
        .values(
            assignee_id=None,
            assigned_at=None,
            updated_at=now,
            queued_at=func.coalesce(Conversation.queued_at, Conversation.created_at),
            passed_agent_id=agent_id if passed else None,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def answered_since(session: AsyncSession, conversation_id: int, since: datetime) -> bool:
    """Whether an agent wrote to the customer (not a private note) since then."""
    found = await session.execute(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            Message.author_kind == "agent",
            Message.private.is_(False),
            Message.created_at >= since,
        )
        .limit(1)
    )
    return found.first() is not None


async def handling_seconds(
    session: AsyncSession, inbox_id: int, since: datetime, limit: int
) -> list[float]:
    """How long recent conversations of the inbox took from assignment to resolve."""
    result = await session.execute(
        select(Conversation.assigned_at, Conversation.resolved_at)
        .where(
            Conversation.inbox_id == inbox_id,
            Conversation.status == "resolved",
            Conversation.resolved_at >= since,
            Conversation.assigned_at.is_not(None),
        )
        .order_by(Conversation.resolved_at.desc())
        .limit(limit)
    )
    return [
        (resolved - assigned).total_seconds()
        for assigned, resolved in result
        if assigned is not None and resolved is not None and resolved >= assigned
    ]


# -- timers ------------------------------------------------------------------


async def enqueue_once(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    due_at: datetime,
    dedupe_key: str,
    is_postgres: bool,
) -> None:
    """A due-time job in the caller's transaction, unless one with this key
    exists (a second pass asking for the same timer adds nothing)."""
    now = clock.now()
    values = {
        "kind": kind,
        "payload": payload,
        "state": "pending",
        "due_at": due_at,
        "attempts": 0,
        "max_attempts": 8,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
    }
    insert = pg_insert(Job) if is_postgres else sqlite_insert(Job)
    await session.execute(insert.values(**values).on_conflict_do_nothing())
    publish_after_commit(session, JobsQueued())
