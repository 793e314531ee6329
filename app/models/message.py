from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_id_seq"),
        # The idempotency key: a platform's message id, or a client_id scoped to
        # its author, stored once per inbox however often it is delivered.
        UniqueConstraint("inbox_id", "external_id", name="uq_messages_inbox_id_external_id"),
        Index("ix_messages_created_at", "created_at"),
        Index("ix_messages_inbox_id_delivered_external_id", "inbox_id", "delivered_external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    seq: Mapped[int]
    author_kind: Mapped[str] = mapped_column(String(20))
    author_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    author_name: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(default=False)
    client_id: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(400))
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Outbound on a channel with its own send (the outbox): pending → sent | failed.
    # None for messages that need no delivery (inbound, widget, private notes).
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    # The platform's id of what we sent (an email Message-ID, a Telegram message
    # id): replies name it, and threading finds the conversation by it.
    delivered_external_id: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime]
    # When the customer sent it, by the platform's clock (never later than
    # created_at); the store time for everything else. History across channels
    # is ordered by it, so a platform's late retry still lands where it was said.
    sent_at: Mapped[datetime | None]


class CsatResponse(Base):
    __tablename__ = "csat_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    # 1 (poor) to 5 (great); one per conversation (app/reports/csat.py).
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Where the answer came from: web (the widget), email, line, ... (the link).
    channel: Mapped[str | None] = mapped_column(String(20))
    customer_id: Mapped[int | None]
