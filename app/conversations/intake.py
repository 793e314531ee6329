"""Intake of customer messages: threaded, stored once, then fanned out.

The web widget comes first; the other channels' InboundMessages enter here too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from app.conversations import repository as conversations_repo
from app.conversations import service as conversations
from app.conversations.schemas import customer_message_frame
from app.conversations.writer import ConversationClosed, MessageWriter, NewMessage, StoredMessage
from app.db import Database, publish_after_commit
from app.errors import NotFound
from app.kit.clock import clock
from app.models import Conversation, CsatResponse
from app.realtime.events import Audience, Event

RESUME_PAGE = 200


@dataclass(slots=True)
class WidgetChat:
    """One customer's chat in one web inbox, as a widget socket sees it."""

    db: Database
    writer: MessageWriter
    # Plain values, not the ORM row: thousands of idle sockets each hold one.
    inbox_id: int
    channel: str
    inbox_team_ids: tuple[int, ...]
    customer_id: int
    customer_name: str | None
    conversation_id: int | None = None
    _opening: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current_conversation(self) -> Conversation | None:
        async with self.db.read() as session:
            result = await session.execute(
                select(Conversation)
                .where(
                    Conversation.inbox_id == self.inbox_id,
                    Conversation.customer_id == self.customer_id,
                    Conversation.thread_key == "",
                )
                .order_by(Conversation.id.desc())
                .limit(1)
            )
            conversation = result.scalar_one_or_none()
        if conversation is not None and conversation.status != "resolved":
            self.conversation_id = conversation.id
        return conversation

    async def _conversation_id(self) -> int:
        async with self._opening:
            if self.conversation_id is None:
                self.conversation_id = await conversations.open_conversation(
                    self.db, self.inbox_id, self.customer_id
                )
            return self.conversation_id

    def _new_message(
        self, conversation_id: int, client_id: str, body: str, origin: str
    ) -> NewMessage:
        return NewMessage(
            conversation_id=conversation_id,
            inbox_id=self.inbox_id,
            channel=self.channel,
            author_kind="customer",
            author_name=self.customer_name,
            body=body,
            client_id=client_id,
            # client_id is the customer's idempotency key, scoped to them.
            external_id=f"web:{self.customer_id}:{client_id}",
            require_open=True,
            inbox_team_ids=self.inbox_team_ids,
            origin_connection=origin,
        )

    async def send(self, client_id: str, body: str, origin: str) -> StoredMessage:
        """Stores a customer message; after a resolve it opens a new conversation."""
        conversation_id = await self._conversation_id()
        try:
            return await self.writer.append(
                self._new_message(conversation_id, client_id, body, origin)
            )
        except ConversationClosed:
            if self.conversation_id == conversation_id:
                self.conversation_id = None
            conversation_id = await self._conversation_id()
            return await self.writer.append(
                self._new_message(conversation_id, client_id, body, origin)
            )

    async def history(self, conversation_id: int | None, after_seq: int) -> list[dict[str, Any]]:
        """Every message after `after_seq` the customer may see, oldest first."""
        target = conversation_id or self.conversation_id
        if target is None:
            latest = await self.current_conversation()
            if latest is None:
                return []
            target = latest.id
        frames: list[dict[str, Any]] = []
        async with self.db.read() as session:
            conversation = await conversations_repo.get(session, target)
            if (
                conversation is None
                or conversation.customer_id != self.customer_id
                or conversation.inbox_id != self.inbox_id
            ):
                raise NotFound("no such conversation")
            while True:
                rows = await conversations_repo.messages_after(
                    session, target, after_seq, RESUME_PAGE, include_private=False
                )
                frames.extend(customer_message_frame(row) for row in rows)
                if len(rows) < RESUME_PAGE:
                    return frames
                after_seq = rows[-1].seq

    async def mark_read(self, seq: int) -> None:
        conversation_id = self.conversation_id
        if conversation_id is None:
            return
        async with self.db.write() as session:
            result = await session.execute(
                update(Conversation)
                .where(
                    Conversation.id == conversation_id,
                    Conversation.customer_last_read_seq < seq,
                    Conversation.last_seq >= seq,
                )
                .values(customer_last_read_seq=seq)
                .returning(Conversation.assignee_id)
            )
            row = result.one_or_none()
            if row is not None:
                publish_after_commit(
                    session,
                    Event(
                        audience=Audience(
                            conversation_id=conversation_id,
                            inbox_id=self.inbox_id,
                            assignee_id=row[0],
                            inbox_team_ids=self.inbox_team_ids,
                        ),
                        agent_frame={
                            "type": "conversation.read",
                            "conversation_id": conversation_id,
                            "seq": seq,
                        },
                    ),
                )

    async def typing(self, on: bool) -> None:
        conversation_id = self.conversation_id
        if conversation_id is None:
            return
        async with self.db.read() as session:
            conversation = await conversations_repo.get(session, conversation_id)
        if conversation is None:
            return
        await self.db.bus.publish(
            Event(
                audience=Audience(
                    conversation_id=conversation_id,
                    inbox_id=self.inbox_id,
                    assignee_id=conversation.assignee_id,
                    inbox_team_ids=self.inbox_team_ids,
                ),
                agent_frame={
                    "type": "typing",
                    "conversation_id": conversation_id,
                    "author": {"kind": "customer", "name": self.customer_name},
                    "on": on,
                },
            )
        )

    async def rate(self, rating: int, comment: str | None) -> int:
        """Records CSAT for the customer's latest conversation; a second rating replaces it."""
        conversation = await self.current_conversation()
        if conversation is None:
            raise NotFound("there is no conversation to rate")
        async with self.db.write() as session:
            existing = (
                await session.execute(
                    select(CsatResponse).where(CsatResponse.conversation_id == conversation.id)
                )
            ).scalar_one_or_none()
            if existing is None:
                session.add(
                    CsatResponse(
                        conversation_id=conversation.id,
                        rating=rating,
                        comment=comment,
                        created_at=clock.now(),
                    )
                )
            else:
                existing.rating, existing.comment = rating, comment
                existing.created_at = clock.now()
        return conversation.id
