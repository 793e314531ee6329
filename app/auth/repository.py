"""All SQL about agents' access tokens, and the agent a login names."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AccessToken, Agent


async def agent_by_email(session: AsyncSession, email: str) -> Agent | None:
    result = await session.execute(select(Agent).where(Agent.email == email.lower()))
    return result.scalar_one_or_none()


async def get_by_token_digest(session: AsyncSession, digest: str, now: datetime) -> Agent | None:
    result = await session.execute(
        select(Agent)
        .join(AccessToken, AccessToken.agent_id == Agent.id)
        .where(AccessToken.digest == digest, AccessToken.expires_at > now, Agent.is_active)
    )
    return result.scalar_one_or_none()


async def add_token(session: AsyncSession, token: AccessToken) -> None:
    session.add(token)
    await session.flush()


async def delete_token(session: AsyncSession, digest: str) -> None:
    await session.execute(delete(AccessToken).where(AccessToken.digest == digest))


async def delete_tokens_of(session: AsyncSession, agent_id: int) -> None:
    await session.execute(delete(AccessToken).where(AccessToken.agent_id == agent_id))


async def live_digests(session: AsyncSession, digests: Collection[str], now: datetime) -> set[str]:
    """Which of these token digests still sign an active agent in."""
    if not digests:
        return set()
    result = await session.execute(
        select(AccessToken.digest)
        .join(Agent, Agent.id == AccessToken.agent_id)
        .where(
            AccessToken.digest.in_(sorted(digests)), AccessToken.expires_at > now, Agent.is_active
        )
    )
    return set(result.scalars())
