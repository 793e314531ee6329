from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # A verified address only (from the email channel or a vouched-for widget
    # identity); what a customer merely typed in is `claimed_email`.
    email: Mapped[str | None] = mapped_column(String(320))
    # An unverified claim (pre-chat form): shown to agents, never matched on.
    claimed_email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    # Set when this customer was folded into another by a merge.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime]
    # The language the customer's widget or platform reported ("ja"): routing
    # prefers agents with it as a skill.
    language: Mapped[str | None] = mapped_column(String(20))
    # Set when an admin erased the customer's personal data (app/contacts/privacy.py):
    # the row stays, nameless, so reports keep their counts.
    erased_at: Mapped[datetime | None]
    # Where the customer's widget last was: page, browser, language, time zone
    # and when (app/contacts/context.py). The latest only; agents see it live.
    last_context: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Identity(Base):
    """How a customer is known on one channel: an email address, a LINE user id, ..."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint(
            "channel",
            "namespace",
            "external_id",
            name="uq_identities_channel_namespace_external_id",
        ),
        Index("ix_identities_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    # Where the external id is unique: "" for global ids (an email address, a
    # phone number); a web inbox's identity namespace for a site's own user ids,
    # which mean nothing outside the site that issued them.
    namespace: Mapped[str] = mapped_column(String(100), default="")
    external_id: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class WidgetSession(Base):
    __tablename__ = "widget_sessions"
    __table_args__ = (Index("ix_widget_sessions_customer_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The verified external id the session was opened for (None: anonymous); a
    # different verified user on the same browser gets a session of their own.
    verified_external_id: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]
    # When `digest`'s token was issued: a resume with it past the rotation age
    # gets a new one (app/auth/widget_sessions.py).
    token_issued_at: Mapped[datetime]
    # The last resume or socket opening, recorded at most once per
    # SEEN_RESOLUTION so that a resume stays read-only; idle too long, dead.
    last_seen_at: Mapped[datetime]
    # The token `digest` replaced: still good until `previous_until`, so that
    # the browser's other tabs and reconnecting sockets can switch over.
    previous_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_until: Mapped[datetime | None]
