from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

# What became of a promised reply time (app/responders/promises.py).
PROMISE_KEPT = "kept"
PROMISE_MISSED = "missed"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # One open thread per (inbox, customer, thread key): two tabs that open a
        # conversation at once race into this index, not into a check-then-insert.
        Index(
            "uq_conversations_open_thread",
            "inbox_id",
            "customer_id",
            "thread_key",
            unique=True,
            sqlite_where=text("status <> 'resolved'"),
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_conversations_status_assignee", "status", "assignee_id"),
        Index("ix_conversations_customer_id", "customer_id"),
        # The routing queue: the waiting (open, unassigned) in the order they
        # are served, with what the queue's positions need, index-only.
        Index(
            "ix_conversations_waiting",
            "status",
            "assignee_id",
            text("priority DESC"),
            "queued_at",
            "id",
            "inbox_id",
            "customer_id",
            sqlite_where=text("queued_at IS NOT NULL"),
            postgresql_where=text("queued_at IS NOT NULL"),
        ),
        # Promises kept and missed per inbox (app/responders/promises.py).
        Index(
            "ix_conversations_promises",
            "inbox_id",
            "promise_outcome",
            "promised_reply_by",
            sqlite_where=text("promised_reply_by IS NOT NULL"),
            postgresql_where=text("promised_reply_by IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # "" for channels with one running thread per customer (chat); the first
    # Message-ID for an email thread.
    thread_key: Mapped[str] = mapped_column(String(998), default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(998))
    # The highest seq handed out; bumped in the same transaction as the insert.
    last_seq: Mapped[int] = mapped_column(default=0)
    customer_last_read_seq: Mapped[int] = mapped_column(default=0)
    # The last agent message a widget customer who left was sent by email
    # (app/contacts/follow_up.py): each reply goes out once.
    customer_emailed_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    # The highest seq an agent has read: the customer's read mark, and the
    # console's unread mark (one mark per conversation, not per agent).
    agent_last_read_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_message_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # Routing (app/routing/). When the conversation started waiting: its place
    # in the queue, kept when it comes back (its agent went offline) so it
    # returns to that place, not the back.
    queued_at: Mapped[datetime | None]
    # When the current assignee got it; answering after this counts.
    assigned_at: Mapped[datetime | None]
    # Higher is served first; equal priorities are first come, first served.
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    # Automatic assignments so far: a timer names the one it watches.
    routing_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # The agent who let it wait unanswered: not offered it again straight away.
    # (No foreign key: agents are deactivated, not deleted, and a stale id
    # only ever excludes nobody.)
    passed_agent_id: Mapped[int | None]
    # The customer's language ("ja"), "" once looked for and not found.
    language: Mapped[str | None] = mapped_column(String(20))
    # Escalation: only agents with this skill, or only supervisors, take it.
    required_skill: Mapped[str | None] = mapped_column(String(100))
    escalated_to: Mapped[str | None] = mapped_column(String(20))
    # Responders (app/responders/): the first human reply promised by this
    # time (an acknowledgement or away message said so), and, once it came,
    # "kept" or "missed".
    promised_reply_by: Mapped[datetime | None]
    # PROMISE_KEPT or PROMISE_MISSED, set by the first human reply's commit.
    promise_outcome: Mapped[str | None] = mapped_column(String(10))
