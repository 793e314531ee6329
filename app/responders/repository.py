"""The responders' SQL: what a conversation already heard, and from whom."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Message


def auto_reply_key(responder: str, conversation_id: int, period: int) -> str:
    """An automatic message's idempotency key (messages.external_id): a rerun of
    its job, or a second job in the same window, finds it stored."""
    return f"auto:{responder}:{conversation_id}:{period}"


async def last_auto_reply_at(
    session: AsyncSession, conversation_id: int, responder: str
) -> datetime | None:
    result = await session.execute(
        select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation_id,
            Message.author_kind == "system",
            Message.external_id.like(f"auto:{responder}:%"),
        )
    )
    return result.scalar_one_or_none()


async def last_agent_reply_at(session: AsyncSession, conversation_id: int) -> datetime | None:
    result = await session.execute(
        select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation_id,
            Message.author_kind == "agent",
            Message.private.is_(False),
        )
    )
    return result.scalar_one_or_none()
