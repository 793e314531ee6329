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


async def replies_to_unverified(
    session: AsyncSession, address: str, domain: str, since: datetime
) -> tuple[int, int]:
    """Automatic replies written since `since` to unverified senders at
    `address`, and at any address of `domain` (auto_reply.py's limits)."""
    to_address = Message.meta["unverified_recipient"].as_string()
    to_domain = Message.meta["unverified_domain"].as_string()
    result = await session.execute(
        select(func.count().filter(to_address == address), func.count()).where(
            Message.author_kind == "system",
            Message.created_at >= since,
            to_domain == domain,
        )
    )
    by_address, by_domain = result.one()
    return int(by_address or 0), int(by_domain or 0)


async def last_agent_reply_at(session: AsyncSession, conversation_id: int) -> datetime | None:
    result = await session.execute(
        select(func.max(Message.created_at)).where(
            Message.conversation_id == conversation_id,
            Message.author_kind == "agent",
            Message.private.is_(False),
        )
    )
    return result.scalar_one_or_none()
