"""What happened to customers as people were recognised as one: merges (with
what moved, so they can be undone), suggested merges, erasures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CustomerMerge(Base):
    """One customer folded into another: the ids of what moved, and what the
    kept customer took over, so an undo puts back exactly that."""

    __tablename__ = "customer_merges"
    __table_args__ = (
        Index("ix_customer_merges_kept_customer_id", "kept_customer_id"),
        Index("ix_customer_merges_merged_customer_id", "merged_customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kept_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    merged_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # None: the server joined them on a verified fact (a vouched-for email).
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # "agent", "suggestion", "verified_email" ("chat_link" in merges made
    # before links stopped merging)
    reason: Mapped[str] = mapped_column(String(40))
    # {"identity_ids": [...], "conversation_ids": [...], "resolved_conversation_ids": [...],
    #  "fields": {"name": ..., ...}} (the fields the kept customer had empty and took over).
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    undone_at: Mapped[datetime | None]
    undone_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )


class MergeSuggestion(Base):
    """An unverified claim that two customers are one person (an email typed
    into the pre-chat form that another customer owns): an agent decides, and
    until then neither sees the other's history."""

    __tablename__ = "merge_suggestions"
    __table_args__ = (
        Index("ix_merge_suggestions_state", "state", "id"),
        Index(
            "uq_merge_suggestions_pair",
            "customer_id",
            "other_customer_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The customer who owns the claimed fact (kept on accept) and the claimant.
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    other_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # What the claim was ("claimed_email"); never the claimed value itself.
    reason: Mapped[str] = mapped_column(String(40))
    # pending → accepted | rejected
    state: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    merge_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_merges.id", ondelete="SET NULL")
    )


class CustomerErasure(Base):
    """The record of an erasure: who, when, and the anonymous counts kept."""

    __tablename__ = "customer_erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # {"customers": n, "conversations": n, "messages": n, "identities": n,
    #  "mail_sources": n, "attachments": n}
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
