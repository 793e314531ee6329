"""Routing's SQL outside the assignment pass (that is app/routing/pass_store.py):
the queue as people see it, conversations taken back, timers, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Conversation, Inbox, Message
from app.routing import pass_store


async def one_pass_at_a_time(session: AsyncSession) -> None:
    """PostgreSQL: waits for any assignment pass to commit, and keeps the next
    from starting until this transaction commits (pass_store.PASS_LOCK)."""
    await session.run_sync(lambda sync: pass_store.one_pass_at_a_time(sync.connection()))


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

_QUEUE = text(
    "SELECT id, inbox_id, customer_id FROM conversations"
    " WHERE status = 'open' AND assignee_id IS NULL AND queued_at IS NOT NULL"
    " ORDER BY priority DESC, queued_at, id"
)


async def queue(session: AsyncSession) -> list[tuple[int, int, int]]:
    """(id, inbox_id, customer_id) of every waiting conversation, in queue order,
    read from the queue's index alone (the caller drops non-live inboxes)."""
    conn = await session.connection()
    return [(r[0], r[1], r[2]) for r in (await conn.execute(_QUEUE)).all()]


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


async def assigned_to(session: AsyncSession, agent_id: int) -> list[int]:
    """The agent's open conversations, oldest first."""
    result = await session.execute(
        select(Conversation.id)
        .where(Conversation.assignee_id == agent_id, Conversation.status == "open")
        .order_by(Conversation.id)
    )
    return list(result.scalars())


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


async def answered_since(session: AsyncSession, customer_id: int, since: datetime) -> bool:
    """Whether an agent wrote to the customer (not a private note) since then,
    in any of the customer's conversations: a reply by mail answers their
    chat too."""
    found = await session.execute(
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.customer_id == customer_id,
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
