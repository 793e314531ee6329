"""All SQL of uploaded files: written in the message's own commit, read by id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from app.driver_sql import db_time
from app.kit.clock import clock
from app.models import Attachment, Message


def write_files(
    conn: Connection, message_id: int, files: Sequence[tuple[str, str, str, bytes]]
) -> None:
    """A `WithRows` hook: the files of a new message, given as (id, filename,
    content type, content), in the writer's transaction (plain driver SQL, as
    the writer's own statements)."""
    postgres = conn.dialect.name == "postgresql"
    marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, 8))
    stamp = db_time(conn, clock.now())
    conn.exec_driver_sql(
        "INSERT INTO attachments (id, message_id, filename, content_type, size, content,"  # noqa: S608 - placeholders only
        f" created_at) VALUES ({marks})",
        [
            (file_id, message_id, filename, content_type, len(content), content, stamp)
            for file_id, filename, content_type, content in files
        ],
    )


async def with_message(
    session: AsyncSession, attachment_id: str
) -> tuple[Attachment, Message] | None:
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None:
        return None
    message = await session.get(Message, attachment.message_id)
    return None if message is None else (attachment, message)
