"""All SQL of routing: the queue, agents' room, and the assignment itself."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import TextualSelect, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Role
from app.db import publish_after_commit
from app.kit.clock import clock
from app.models import Agent, AgentTeam, Conversation, Customer, Inbox, InboxTeam, Job, Message
from app.models.base import UTCDateTime
from app.realtime.events import JobsQueued
from app.routing.config import RoutingConfig, config_of
from app.routing.language import skill_set
from app.routing.policies import Waiting

# -- agents ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentProfile:
    role: Role
    capacity: int
    skills: frozenset[str]
    team_ids: frozenset[int]
    last_routed_at: datetime | None


async def profiles(session: AsyncSession, agent_ids: Collection[int]) -> dict[int, AgentProfile]:
    """The active agents among `agent_ids`, as routing matches them."""
    if not agent_ids:
        return {}
    ids = sorted(agent_ids)
    teams: dict[int, set[int]] = {}
    for agent_id, team_id in await session.execute(
        select(AgentTeam.agent_id, AgentTeam.team_id).where(AgentTeam.agent_id.in_(ids))
    ):
        teams.setdefault(agent_id, set()).add(team_id)
    rows = await session.execute(
        select(Agent.id, Agent.role, Agent.capacity, Agent.skills, Agent.last_routed_at).where(
            Agent.id.in_(ids), Agent.is_active
        )
    )
    return {
        row.id: AgentProfile(
            role=Role(row.role),
            capacity=row.capacity,
            skills=skill_set(list(row.skills or [])),
            team_ids=frozenset(teams.get(row.id, ())),
            last_routed_at=row.last_routed_at,
        )
        for row in rows
    }


async def loads(session: AsyncSession) -> dict[int, int]:
    """Open conversations assigned to each agent: what counts against capacity.
    One scan of the (status, assignee) index rather than a list of ids."""
    result = await session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.status == "open", Conversation.assignee_id.is_not(None))
        .group_by(Conversation.assignee_id)
    )
    return {int(agent_id): int(count) for agent_id, count in result if agent_id is not None}


async def load_of(session: AsyncSession, agent_ids: Sequence[int]) -> dict[int, int]:
    result = await session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.status == "open", Conversation.assignee_id.in_(agent_ids))
        .group_by(Conversation.assignee_id)
    )
    return {int(agent_id): int(count) for agent_id, count in result if agent_id is not None}


_ROOM = text(
    "SELECT a.capacity, (SELECT count(*) FROM conversations AS c"
    " WHERE c.status = 'open' AND c.assignee_id = a.id)"
    " FROM agents AS a WHERE a.id = :agent_id AND a.is_active"
)
_LOCK_CAPACITY = text(
    "SELECT capacity FROM agents WHERE id = :agent_id AND is_active FOR UPDATE SKIP LOCKED"
)
_LIVE_COUNT = text(
    "SELECT count(*) FROM conversations WHERE status = 'open' AND assignee_id = :agent_id"
)


async def room_of(session: AsyncSession, agent_id: int, *, lock: bool) -> tuple[int, int] | None:
    """(capacity, open conversations) of an active agent, read now. With `lock`
    (PostgreSQL) the agent's row is locked first, until commit, and None comes
    back when another transaction holds it; the count is then a statement of
    its own, so it sees every assignment committed before the lock was ours.
    Without (SQLite, whose writer is serialised), one statement does."""
    conn = await session.connection()
    params = {"agent_id": agent_id}
    if not lock:
        row = (await conn.execute(_ROOM, params)).first()
        return None if row is None else (int(row[0]), int(row[1]))
    capacity = (await conn.execute(_LOCK_CAPACITY, params)).scalar_one_or_none()
    if capacity is None:
        return None
    count = (await conn.execute(_LIVE_COUNT, params)).scalar_one()
    return int(capacity), int(count)


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


# The hot path of every pass, as plain SQL: built and compiled once, where the
# composed select cost more than the query (measured: several times over).
_PAGE = (
    "SELECT c.id, c.inbox_id, c.customer_id, c.team_id, c.priority, c.queued_at,"
    " c.language, c.required_skill, c.escalated_to, c.passed_agent_id"
    " FROM conversations AS c JOIN inboxes AS i ON i.id = c.inbox_id"
    " WHERE c.status = 'open' AND c.assignee_id IS NULL AND c.queued_at IS NOT NULL"
    " AND i.mode = 'live'{after}"
    " ORDER BY c.priority DESC, c.queued_at, c.id LIMIT :limit{lock}"
)
_AFTER = (
    " AND (c.priority < :priority OR (c.priority = :priority AND (c.queued_at > :queued_at"
    " OR (c.queued_at = :queued_at AND c.id > :id))))"
)


def _page(after: bool, lock: bool) -> TextualSelect:
    sql = text(
        _PAGE.format(
            after=_AFTER if after else "", lock=" FOR UPDATE OF c SKIP LOCKED" if lock else ""
        )
    )
    if after:
        sql = sql.bindparams(bindparam("queued_at", type_=UTCDateTime()))
    return sql.columns(queued_at=UTCDateTime())


_PAGES = {(after, lock): _page(after, lock) for after in (False, True) for lock in (False, True)}

_LAST_AGENTS = (
    text(
        "SELECT customer_id, assignee_id, updated_at FROM conversations"
        " WHERE customer_id IN :customers AND assignee_id IS NOT NULL AND updated_at >= :since"
        " ORDER BY updated_at"
    )
    .bindparams(bindparam("customers", expanding=True), bindparam("since", type_=UTCDateTime()))
    .columns(updated_at=UTCDateTime())
)


async def waiting_page(
    session: AsyncSession,
    after: QueueKey | None,
    limit: int,
    *,
    lock: bool,
    sticky_since: datetime | None,
) -> list[Waiting]:
    """The next waiting conversations of live inboxes in queue order. With
    `lock` (PostgreSQL), their rows are locked until commit and rows another
    transaction holds are skipped: that one is assigning or changing them.
    With `sticky_since`, each comes with who helped the customer last in
    another conversation active since then (waiting ones have no assignee)."""
    conn = await session.connection()
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params.update(priority=after[0], queued_at=after[1], id=after[2])
    rows = (await conn.execute(_PAGES[after is not None, lock], params)).all()
    last: dict[int, tuple[int, datetime]] = {}
    if rows and sticky_since is not None:
        found = await conn.execute(
            _LAST_AGENTS, {"customers": sorted({r[2] for r in rows}), "since": sticky_since}
        )
        for customer_id, agent_id, updated_at in found:
            last[customer_id] = (agent_id, updated_at)
    page = []
    for row in rows:
        helper = last.get(row[2])
        page.append(
            Waiting(
                id=row[0],
                inbox_id=row[1],
                customer_id=row[2],
                team_id=row[3],
                priority=row[4],
                queued_at=row[5],
                language=row[6],
                required_skill=row[7],
                escalated_to=row[8],
                passed_agent_id=row[9],
                last_agent_id=helper[0] if helper else None,
                last_agent_at=helper[1] if helper else None,
            )
        )
    return page


async def queue(session: AsyncSession) -> list[tuple[int, int, int]]:
    """(id, inbox_id, customer_id) of every waiting conversation, in queue order,
    read from the queue's index alone (the caller drops non-live inboxes)."""
    result = await session.execute(
        select(Conversation.id, Conversation.inbox_id, Conversation.customer_id)
        .where(*_WAITING)
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


_ASSIGN = text(
    "UPDATE conversations SET assignee_id = :agent_id, assigned_at = :now, updated_at = :now,"
    " passed_agent_id = NULL, routing_attempts = routing_attempts + 1"
    " WHERE id = :id AND status = 'open' AND assignee_id IS NULL AND queued_at IS NOT NULL"
    " RETURNING routing_attempts"
).bindparams(bindparam("now", type_=UTCDateTime()))


async def assign(
    session: AsyncSession, conversation_id: int, agent_id: int, now: datetime
) -> int | None:
    """Gives a waiting conversation to the agent; its attempt number, or None
    when it is no longer waiting (taken, resolved) and nothing changed."""
    conn = await session.connection()
    result = await conn.execute(_ASSIGN, {"agent_id": agent_id, "now": now, "id": conversation_id})
    found = result.scalar_one_or_none()
    return int(found) if found is not None else None


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
