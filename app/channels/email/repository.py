"""All SQL of the email channel: inboxes by address, what a mail brought
(raw source, attachments), references into threads, IMAP cursors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import clock
from app.models import Attachment, Conversation, ImapCursor, Inbox, MailSource, Message


async def email_inboxes(session: AsyncSession) -> Sequence[Inbox]:
    result = await session.execute(select(Inbox).where(Inbox.channel == "email").order_by(Inbox.id))
    return result.scalars().all()


async def stored_message_id(session: AsyncSession, inbox_id: int, external_id: str) -> int | None:
    result = await session.execute(
        select(Message.id).where(Message.inbox_id == inbox_id, Message.external_id == external_id)
    )
    return result.scalars().first()


async def reference_owners(
    session: AsyncSession, inbox_id: int, references: Sequence[str]
) -> set[int]:
    """The customers whose conversations hold a message that `references` name."""
    result = await session.execute(
        select(Conversation.customer_id)
        .join(Message, Message.conversation_id == Conversation.id)
        .where(
            Message.inbox_id == inbox_id,
            or_(
                Message.external_id.in_(list(references)),
                Message.delivered_external_id.in_(list(references)),
            ),
        )
        .distinct()
    )
    return set(result.scalars())


def write_source(
    conn: Connection,
    message_id: int,
    *,
    raw: bytes,
    text: str,
    html: str | None,
    headers: dict[str, Any],
    via: str,
    attachments: Sequence[tuple[str, str, str, bytes]],
) -> None:
    """In the writer's transaction (a `WithRows` hook): the mail as it came and
    its files, given as (id, filename, content type, content)."""
    now = clock.now()
    conn.execute(
        insert(MailSource),
        {
            "message_id": message_id,
            "raw": raw,
            "text": text,
            "html": html,
            "headers": headers,
            "received_via": via,
            "created_at": now,
        },
    )
    if attachments:
        conn.execute(
            insert(Attachment),
            [
                {
                    "id": attachment_id,
                    "message_id": message_id,
                    "filename": filename,
                    "content_type": content_type,
                    "size": len(content),
                    "content": content,
                    "created_at": now,
                }
                for attachment_id, filename, content_type, content in attachments
            ],
        )


async def mail_source(session: AsyncSession, message_id: int) -> MailSource | None:
    return await session.get(MailSource, message_id)


async def attachment(session: AsyncSession, attachment_id: str) -> Attachment | None:
    return await session.get(Attachment, attachment_id)


async def cursor(session: AsyncSession, inbox_id: int) -> ImapCursor | None:
    return await session.get(ImapCursor, inbox_id)


async def save_cursor(
    session: AsyncSession, inbox_id: int, folder: str, uidvalidity: int, last_uid: int
) -> None:
    found = await session.get(ImapCursor, inbox_id, with_for_update=True)
    if found is None:
        session.add(
            ImapCursor(
                inbox_id=inbox_id,
                folder=folder,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                updated_at=clock.now(),
            )
        )
    else:
        found.folder = folder
        found.uidvalidity = uidvalidity
        found.last_uid = last_uid
        found.updated_at = clock.now()
