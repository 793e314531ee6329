"""All SQL of canned responses."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CannedResponse

SHARED = "shared"


def own_scope(agent_id: int) -> str:
    return f"agent:{agent_id}"


async def usable_by(session: AsyncSession, agent_id: int) -> Sequence[CannedResponse]:
    """The shared ones and the agent's own, by shortcut (own first on a tie)."""
    result = await session.execute(
        select(CannedResponse)
        .where(or_(CannedResponse.scope == SHARED, CannedResponse.owner_agent_id == agent_id))
        .order_by(CannedResponse.shortcut, CannedResponse.owner_agent_id.is_(None))
    )
    return result.scalars().all()


async def get(session: AsyncSession, canned_id: int) -> CannedResponse | None:
    return await session.get(CannedResponse, canned_id)
