"""All SQL about conversations and their messages."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    String,
    bindparam,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from app.models import (
    Agent,
    Conversation,
    CsatResponse,
    Customer,
    Inbox,
    InboxTeam,
    Message,
    WidgetSession,
)

ConversationRow = tuple[Conversation, Inbox, Customer, Agent | None]


@functools.cache
def _with_refs() -> Select[Conversation, Inbox, Customer, Agent]:
    """Built once: the statement is immutable (`.where` makes a new one), and
    building it (the alias, its column proxies) cost more than running it
    (13-22 % of a busy server's time in a profile of bench/compressed_day.py)."""
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


async def get_many_with_refs(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, ConversationRow]:
    rows = await session.execute(_with_refs().where(Conversation.id.in_(list(conversation_ids))))
    return {r[0].id: (r[0], r[1], r[2], r[3]) for r in rows}


async def get(session: AsyncSession, conversation_id: int) -> Conversation | None:
    return await session.get(Conversation, conversation_id)


async def list_page(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    assignee: int | None | str,
    inbox_id: int | None,
    visible: ColumnElement[bool] | None,
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
    if visible is not None:
        stmt = stmt.where(visible)
    if before_id is not None:
        stmt = stmt.where(Conversation.id < before_id)
    stmt = stmt.order_by(Conversation.id.desc()).limit(limit)
    return [(r[0], r[1], r[2], r[3]) for r in await session.execute(stmt)]


def _messages_after(
    conversation_id: int, after_seq: int, limit: int, include_private: bool
) -> Select[Message]:
    stmt = select(Message).where(
        Message.conversation_id == conversation_id, Message.seq > after_seq
    )
    if not include_private:
        stmt = stmt.where(Message.private.is_(False))
    return stmt.order_by(Message.seq).limit(limit)


async def messages_after(
    session: AsyncSession,
    conversation_id: int,
    after_seq: int,
    limit: int,
    *,
    include_private: bool,
) -> Sequence[Message]:
    stmt = _messages_after(conversation_id, after_seq, limit, include_private)
    return (await session.execute(stmt)).scalars().all()


def customer_history_page(
    conn: Connection,
    inbox_id: int,
    customer_id: int,
    conversation_id: int,
    after_seq: int,
    limit: int,
) -> Sequence[Message] | None:
    """A page of what the customer may see of their conversation after
    `after_seq`, on a plain connection (`Database.read_sync`); None when the
    conversation is not this customer's in this inbox."""
    with Session(bind=conn) as session:
        conversation = session.get(Conversation, conversation_id)
        if (
            conversation is None
            or conversation.customer_id != customer_id
            or conversation.inbox_id != inbox_id
        ):
            return None
        stmt = _messages_after(conversation_id, after_seq, limit, False)
        return session.execute(stmt).scalars().all()


# Built once, like _SOCKET_OPENING: every widget's `resume` runs it, and
# building it (and its cache key) anew cost more than running it.
_LATEST_CHAT_THREAD = (
    select(Conversation.id, Conversation.status, Conversation.agent_last_read_seq)
    .where(
        Conversation.inbox_id == bindparam("inbox_id"),
        Conversation.customer_id == bindparam("customer_id"),
        Conversation.thread_key == "",
    )
    .order_by(Conversation.id.desc())
    .limit(1)
)


def latest_chat_thread(
    conn: Connection, inbox_id: int, customer_id: int
) -> tuple[int, str, int] | None:
    """(id, status, agents' read mark) of the customer's latest chat thread in the inbox."""
    row = conn.execute(
        _LATEST_CHAT_THREAD, {"inbox_id": inbox_id, "customer_id": customer_id}
    ).first()
    return None if row is None else (int(row[0]), str(row[1]), int(row[2] or 0))


async def message(session: AsyncSession, message_id: int) -> Message | None:
    return await session.get(Message, message_id)


async def latest_customer_message(session: AsyncSession, conversation_id: int) -> Message | None:
    result = await session.execute(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.author_kind == "customer")
        .order_by(Message.seq.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def latest_customer_sent_at(
    session: AsyncSession, inbox_id: int, customer_id: int
) -> datetime | None:
    """When the customer last wrote on this inbox, by the platform's clock."""
    result = await session.execute(
        select(Message.sent_at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.inbox_id == inbox_id,
            Conversation.customer_id == customer_id,
            Message.author_kind == "customer",
        )
        .order_by(Message.sent_at.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def platform_ids(session: AsyncSession, conversation_id: int, limit: int) -> list[str]:
    """The platform ids of the conversation's latest messages, oldest first:
    theirs (external ids) and ours (what the platform gave back on sending)."""
    result = await session.execute(
        select(Message.author_kind, Message.external_id, Message.delivered_external_id)
        .where(
            Message.conversation_id == conversation_id,
            or_(Message.author_kind == "customer", Message.delivered_external_id.is_not(None)),
        )
        .order_by(Message.seq.desc())
        .limit(limit)
    )
    ids = []
    for kind, external_id, delivered in result:
        found = external_id if kind == "customer" else delivered
        if found:
            ids.append(found)
    return ids[::-1]


async def message_id_by_delivered_id(
    session: AsyncSession, inbox_id: int, delivered_external_id: str
) -> int | None:
    result = await session.execute(
        select(Message.id).where(
            Message.inbox_id == inbox_id, Message.delivered_external_id == delivered_external_id
        )
    )
    return result.scalars().first()


async def last_messages(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, Message]:
    """Each conversation's list preview: its newest message a person wrote
    (the customer or an agent), else its newest message. A greeting, an
    auto-reply or a handover note is not what an agent scans the list for:
    a new chat shows the customer's question, not the greeting after it."""
    if not conversation_ids:
        return {}
    ids = list(conversation_ids)
    by_person = (
        select(Message.conversation_id, func.max(Message.seq).label("seq"))
        .where(Message.conversation_id.in_(ids), Message.author_kind != "system")
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = await session.execute(
        select(Message).join(
            by_person,
            (by_person.c.conversation_id == Message.conversation_id)
            & (by_person.c.seq == Message.seq),
        )
    )
    found = {m.conversation_id: m for m in rows.scalars()}
    rest = [i for i in ids if i not in found]
    if rest:
        rows = await session.execute(
            select(Message)
            .join(
                Conversation,
                (Conversation.id == Message.conversation_id)
                & (Conversation.last_seq == Message.seq),
            )
            .where(Conversation.id.in_(rest))
        )
        found.update({m.conversation_id: m for m in rows.scalars()})
    return found


async def mark_agent_read(session: AsyncSession, conversation_id: int, seq: int) -> bool:
    """Moves the agents' read mark forward to `seq` (never back, never past the
    last message); False when it did not move."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.agent_last_read_seq < seq,
            Conversation.last_seq >= seq,
        )
        .values(agent_last_read_seq=seq)
    )
    return bool(getattr(result, "rowcount", 0))


async def csat_of(session: AsyncSession, conversation_id: int) -> CsatResponse | None:
    return (
        await session.execute(
            select(CsatResponse).where(CsatResponse.conversation_id == conversation_id)
        )
    ).scalar_one_or_none()


def _socket_opening() -> Select[Any]:
    latest = (
        select(Conversation.id)
        .where(
            Conversation.inbox_id == WidgetSession.inbox_id,
            Conversation.customer_id == WidgetSession.customer_id,
            Conversation.thread_key == "",
        )
        .order_by(Conversation.id.desc())
        .limit(1)
        .correlate(WidgetSession)
        .scalar_subquery()
    )
    teams = (
        select(func.aggregate_strings(cast(InboxTeam.team_id, String), ","))
        .where(InboxTeam.inbox_id == WidgetSession.inbox_id)
        .correlate(WidgetSession)
        .scalar_subquery()
    )
    return (
        select(
            WidgetSession.id.label("session_id"),
            WidgetSession.inbox_id,
            WidgetSession.customer_id,
            WidgetSession.verified_external_id,
            Customer.merged_into_id,
            Customer.name.label("customer_name"),
            Inbox.channel,
            Inbox.mode,
            Inbox.config,
            Inbox.business_hours,
            Inbox.responders,
            teams.label("team_ids"),
            Conversation.id.label("conversation_id"),
            Conversation.status.label("conversation_status"),
            Conversation.agent_last_read_seq.label("agent_read_seq"),
            # Whether the token is still good (auth/widget_sessions.py).
            (WidgetSession.digest == bindparam("digest")).label("current"),
            WidgetSession.last_seen_at,
            WidgetSession.previous_until,
        )
        .join(Customer, Customer.id == WidgetSession.customer_id)
        .join(Inbox, Inbox.id == WidgetSession.inbox_id)
        .outerjoin(Conversation, Conversation.id == latest)
        .where(
            or_(
                WidgetSession.digest == bindparam("digest"),
                WidgetSession.previous_digest == bindparam("digest"),
            )
        )
    )


# Built once: constructing it anew cost about as much as running it.
_SOCKET_OPENING = _socket_opening()


def socket_opening(conn: Connection, digest: str) -> Row[Any] | None:
    """A widget socket's session, its customer and inbox, the inbox's teams (as
    "1,2"), and the customer's latest chat thread, in one query on a plain
    connection (`Database.read_sync`): a reconnect storm opens thousands of
    these a second."""
    return conn.execute(_SOCKET_OPENING, {"digest": digest}).first()
