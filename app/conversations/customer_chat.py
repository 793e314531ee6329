"""A customer's own view of their conversations in one inbox: the history they
may see, read marks and typing. Never anyone else's. (Their rating: app/reports/csat.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from app.conversations import repository as conversations_repo
from app.conversations.access import scope_of
from app.conversations.schemas import customer_view, stored_message_out
from app.db import Database, publish_after_commit
from app.errors import NotFound
from app.models import Conversation
from app.realtime.bus import EventBus
from app.realtime.events import ConversationRead, Typing

HISTORY_PAGE = 200


@dataclass(frozen=True, slots=True)
class CurrentChat:
    """The customer's latest chat thread in an inbox."""

    id: int
    status: str
    # How far agents have read it: the widget's "Read" marks after a reload.
    agent_read_seq: int


async def current_conversation(db: Database, inbox_id: int, customer_id: int) -> CurrentChat | None:
    async with db.read() as session:
        row = (
            await session.execute(
                select(Conversation.id, Conversation.status, Conversation.agent_last_read_seq)
                .where(
                    Conversation.inbox_id == inbox_id,
                    Conversation.customer_id == customer_id,
                    Conversation.thread_key == "",
                )
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        ).first()
    return None if row is None else CurrentChat(int(row[0]), str(row[1]), int(row[2] or 0))


async def _own(db: Database, inbox_id: int, customer_id: int, conversation_id: int) -> Conversation:
    async with db.read() as session:
        conversation = await conversations_repo.get(session, conversation_id)
    if (
        conversation is None
        or conversation.customer_id != customer_id
        or conversation.inbox_id != inbox_id
    ):
        raise NotFound("no such conversation")
    return conversation


async def history_pages(
    db: Database, inbox_id: int, customer_id: int, conversation_id: int, after_seq: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every message after `after_seq` the customer may see, as `message` frames,
    a page at a time: each page is read in a short transaction of its own, so a
    slow socket holds neither memory nor the database."""
    conversation = await _own(db, inbox_id, customer_id, conversation_id)
    while True:
        async with db.read() as session:
            rows = await conversations_repo.messages_after(
                session, conversation.id, after_seq, HISTORY_PAGE, include_private=False
            )
        if rows:
            yield [customer_view(stored_message_out(m, "web")) for m in rows]
            after_seq = rows[-1].seq
        if len(rows) < HISTORY_PAGE:
            return


async def mark_read(
    db: Database,
    inbox_id: int,
    inbox_team_ids: tuple[int, ...],
    customer_id: int,
    conversation_id: int,
    seq: int,
) -> None:
    async with db.write() as session:
        result = await session.execute(
            update(Conversation)
            .where(
                Conversation.id == conversation_id,
                Conversation.inbox_id == inbox_id,
                Conversation.customer_id == customer_id,
                Conversation.customer_last_read_seq < seq,
                Conversation.last_seq >= seq,
            )
            .values(customer_last_read_seq=seq)
            .returning(Conversation)
        )
        conversation = result.scalar_one_or_none()
        if conversation is not None:
            publish_after_commit(
                session, ConversationRead(scope=scope_of(conversation, inbox_team_ids), seq=seq)
            )


async def typing(
    db: Database,
    bus: EventBus,
    inbox_id: int,
    inbox_team_ids: tuple[int, ...],
    customer_id: int,
    customer_name: str | None,
    conversation_id: int,
    on: bool,
) -> None:
    conversation = await _own(db, inbox_id, customer_id, conversation_id)
    await bus.publish(
        Typing(
            scope=scope_of(conversation, inbox_team_ids),
            author_kind="customer",
            author_name=customer_name,
            on=on,
        )
    )
