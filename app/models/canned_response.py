"""Saved replies agents insert into the reply box by a shortcut."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class CannedResponse(Base):
    """A reply kept for reuse: an agent's own, or shared with every agent (made
    by an admin). A shortcut is unique within its scope; an agent's own one
    shadows a shared one of the same shortcut in that agent's console."""

    __tablename__ = "canned_responses"
    __table_args__ = (
        Index("uq_canned_responses_scope_shortcut", "scope", "shortcut", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "shared", or "agent:<id>" for one agent's own: what makes the shortcut
    # unique, as a plain column (a NULL owner would not take part in a unique index).
    scope: Mapped[str] = mapped_column(String(40))
    owner_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    shortcut: Mapped[str] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
