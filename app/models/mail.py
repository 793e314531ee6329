"""What the email channel keeps beside a message: the mail as it arrived, its
attachments, and where each IMAP mailbox was read up to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class MailSource(Base):
    """The raw mail of an inbound email message, written in the message's own
    commit (the writer's row hook), so a mail answered 250 is never without it."""

    __tablename__ = "mail_sources"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # The whole text, quoted history included (the message body is the new part).
    text: Mapped[str] = mapped_column(Text)
    # Sanitised with nh3: safe to show; the raw HTML is only in `raw`.
    html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # "smtp" or "imap"
    received_via: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]


class Attachment(Base):
    """A file that came with a message; downloadable by agents who may see its
    conversation. The id is random, so it is also the download's name."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_message_id", "message_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class ImapCursor(Base):
    """How far an inbox's IMAP folder has been read: every UID up to `last_uid`
    under this UIDVALIDITY is stored (or was deliberately skipped)."""

    __tablename__ = "imap_cursors"

    inbox_id: Mapped[int] = mapped_column(
        ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True
    )
    # The folder the cursor belongs to: a changed folder starts afresh.
    folder: Mapped[str] = mapped_column(String(200))
    # Both are 32-bit unsigned in IMAP: past a signed INTEGER.
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
