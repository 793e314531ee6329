"""Signed chat links that were followed (app/contacts/chat_link.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class ChatLinkUse(Base):
    """A chat link's nonce, written in the transaction that opened a session
    with the link: the primary key lets one use through, however many
    requests race for it."""

    __tablename__ = "chat_links_used"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # The link's own expiry: a row past it guards nothing (the signature
    # check refuses the link first) and may be deleted.
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime]
