from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Inbox(Base):
    __tablename__ = "inboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(20), default="live")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    widget_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Later issues fill these: business hours and responder templates.
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    responders: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The routing policy and its timings (app/inboxes/routing_config.py); None: defaults.
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class InboxTeam(Base):
    __tablename__ = "inbox_teams"

    inbox_id: Mapped[int] = mapped_column(
        ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
