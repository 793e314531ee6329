"""All SQL about conversations and their messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, and_, exists, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.models import Agent, AgentTeam, Conversation, Customer, Inbox, InboxTeam, Message

ConversationRow = tuple[Conversation, Inbox, Customer, Agent | None]


async def open_thread(
    session: AsyncSession,
    inbox_id: int,
    customer_id: int,
    thread_key: str,
    now: datetime,
    subject: str | None = None,
) -> tuple[int, bool]:
    """The open conversation of this thread, created if there is none.

    Returns (id, created). The partial unique index decides races: the
    loser's insert does nothing and it reads the winner's row.
    """
    values = {
        "inbox_id": inbox_id,
        "customer_id": customer_id,
        "thread_key": thread_key,
        "status": "open",
        "subject": subject,
        "last_seq": 0,
        "customer_last_read_seq": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(Conversation)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["inbox_id", "customer_id", "thread_key"],
            # A literal, as in the index: PostgreSQL matches the partial
            # index by its predicate, and a bound parameter never matches.
            index_where=text("status <> 'resolved'"),
        )
        .returning(Conversation.id)
    )
    created_id = (await session.execute(stmt)).scalar_one_or_none()
    if created_id is not None:
        return created_id, True
    existing = await session.execute(
        select(Conversation.id).where(
            Conversation.inbox_id == inbox_id,
            Conversation.customer_id == customer_id,
            Conversation.thread_key == thread_key,
            Conversation.status != "resolved",
        )
    )
    return existing.scalar_one(), False


def _with_refs() -> Select[Conversation, Inbox, Customer, Agent]:
    assignee = aliased(Agent)
    return (
        select(Conversation, Inbox, Customer, assignee)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(assignee, assignee.id == Conversation.assignee_id)
    )


async def get_with_refs(
    session: AsyncSession, conversation_id: int, *, lock: bool = False
) -> ConversationRow | None:
    """With `lock`, the conversation row stays locked until commit (PostgreSQL;
    SQLite's single writer needs none), so two agents' changes serialise."""
    stmt = _with_refs().where(Conversation.id == conversation_id)
    if lock:
        stmt = stmt.with_for_update(of=Conversation)
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def get(session: AsyncSession, conversation_id: int) -> Conversation | None:
    return await session.get(Conversation, conversation_id)


def visible_to_agent(agent_id: int) -> object:
    """Conversations of inboxes the agent serves (no teams named, or a shared
    team), and any conversation assigned to the agent."""
    inbox_has_teams = exists().where(InboxTeam.inbox_id == Conversation.inbox_id)
    shares_team = exists().where(
        and_(
            InboxTeam.inbox_id == Conversation.inbox_id,
            AgentTeam.team_id == InboxTeam.team_id,
            AgentTeam.agent_id == agent_id,
        )
    )
    return or_(~inbox_has_teams, shares_team, Conversation.assignee_id == agent_id)


async def list_page(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    assignee: int | None | str,
    inbox_id: int | None,
    visible_to: int | None,
    customer_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[ConversationRow]:
    stmt = _with_refs().where(Conversation.status.in_(statuses))
    if assignee == "none":
        stmt = stmt.where(Conversation.assignee_id.is_(None))
    elif isinstance(assignee, int):
        stmt = stmt.where(Conversation.assignee_id == assignee)
    if inbox_id is not None:
        stmt = stmt.where(Conversation.inbox_id == inbox_id)
    if customer_id is not None:
        stmt = stmt.where(Conversation.customer_id == customer_id)
    if visible_to is not None:
        stmt = stmt.where(visible_to_agent(visible_to))  # type: ignore[arg-type]
    if before_id is not None:
        stmt = stmt.where(Conversation.id < before_id)
    stmt = stmt.order_by(Conversation.id.desc()).limit(limit)
    return [(r[0], r[1], r[2], r[3]) for r in await session.execute(stmt)]


async def messages_after(
    session: AsyncSession,
    conversation_id: int,
    after_seq: int,
    limit: int,
    *,
    include_private: bool,
) -> Sequence[Message]:
    stmt = select(Message).where(
        Message.conversation_id == conversation_id, Message.seq > after_seq
    )
    if not include_private:
        stmt = stmt.where(Message.private.is_(False))
    stmt = stmt.order_by(Message.seq).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def agent_team_ids(session: AsyncSession, agent_id: int) -> frozenset[int]:
    result = await session.execute(select(AgentTeam.team_id).where(AgentTeam.agent_id == agent_id))
    return frozenset(result.scalars())
