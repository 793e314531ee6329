"""Requests to confirm an address typed into the widget (app/contacts/email_confirmation.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class EmailConfirmation(Base):
    """One mail asking whether a typed-in address wants the chat's replies.
    Only the token's SHA-256 is kept: the database alone confirms nothing."""

    __tablename__ = "email_confirmations"
    __table_args__ = (
        Index("ix_email_confirmations_customer_id", "customer_id"),
        Index("ix_email_confirmations_address", "address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # Lowercased, as identities key addresses.
    address: Mapped[str] = mapped_column(String(320))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
