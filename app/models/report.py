"""What reports, SLA clocks and CSAT keep (app/reports/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.conversation import Conversation
from app.models.message import Message

# Opened conversations per period: the summary counts them by creation time.
Index("ix_conversations_created_at", Conversation.created_at)
# Messages in and out per period, counted from the index alone (the summary
# over a million messages reads no table rows for them).
Index(
    "ix_messages_report_counts",
    Message.created_at,
    Message.author_kind,
    Message.private,
    Message.inbox_id,
)


class ReportCursor(Base):
    """How far a conversation is folded into measurements: the messages up to
    `seq`, the resolution at `resolved_at`, the queue entry at `queued_at`."""

    __tablename__ = "report_cursors"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(default=0)
    # The first customer message not yet answered by an agent.
    awaiting_since: Mapped[datetime | None]
    responded: Mapped[bool] = mapped_column(default=False)
    resolved_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]


class ReportMeasurement(Base):
    """One measured duration, counted in the period where it ends."""

    __tablename__ = "report_measurements"
    __table_args__ = (
        # The idempotency key of a fold: each duration is measured once.
        UniqueConstraint("conversation_id", "kind", "ended_at", name="uq_report_measurements_once"),
        Index("ix_report_measurements_ended_at", "ended_at", "kind"),
        Index("ix_report_measurements_inbox_id_ended_at", "inbox_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # first_response | response | resolution | queue_wait
    kind: Mapped[str] = mapped_column(String(20))
    inbox_id: Mapped[int]
    channel: Mapped[str] = mapped_column(String(20))
    # Who answered (responses), or the assignee (resolution, queue wait).
    agent_id: Mapped[int | None]
    team_id: Mapped[int | None]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    wall_seconds: Mapped[float] = mapped_column(Float)
    business_seconds: Mapped[float] = mapped_column(Float)


class ServicePolicy(Base):
    """An inbox's service standards: SLA targets in business seconds (None:
    no target), CSAT on resolve, and the follow-up after it."""

    __tablename__ = "service_policies"

    inbox_id: Mapped[int] = mapped_column(
        ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True
    )
    first_response_seconds: Mapped[int | None]
    next_response_seconds: Mapped[int | None]
    resolution_seconds: Mapped[int | None]
    # The approaching-breach warning goes out at this share of a target.
    warning_ratio: Mapped[float] = mapped_column(Float, default=0.8)
    csat_enabled: Mapped[bool] = mapped_column(default=True)
    follow_up_seconds: Mapped[int | None]
    follow_up_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class SlaEvent(Base):
    """A clock that ran out (`breach`) or nearly did (`warning`): the mark on
    the conversation. Unique per clock, so a clock fires once."""

    __tablename__ = "sla_events"
    __table_args__ = (
        UniqueConstraint(
            "conversation_id", "target", "phase", "started_at", name="uq_sla_events_once"
        ),
        Index("ix_sla_events_fired_at", "fired_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    inbox_id: Mapped[int]
    # first_response | next_response | resolution
    target: Mapped[str] = mapped_column(String(20))
    # warning | breach
    phase: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]


class CsatRequest(Base):
    """A rating link sent to a customer: the token is stored as its digest,
    and works once, for its conversation only."""

    __tablename__ = "csat_requests"
    __table_args__ = (Index("ix_csat_requests_conversation_id", "conversation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
