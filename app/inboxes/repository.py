"""All SQL about inboxes and the teams that serve them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Inbox, InboxTeam, Team


async def get(session: AsyncSession, inbox_id: int) -> Inbox | None:
    return await session.get(Inbox, inbox_id)


async def by_widget_key(session: AsyncSession, widget_key: str) -> Inbox | None:
    result = await session.execute(select(Inbox).where(Inbox.widget_key == widget_key))
    return result.scalar_one_or_none()


async def add(session: AsyncSession, inbox: Inbox) -> Inbox:
    session.add(inbox)
    await session.flush()
    return inbox


async def list_all(session: AsyncSession) -> Sequence[Inbox]:
    result = await session.execute(select(Inbox).order_by(Inbox.id))
    return result.scalars().all()


async def set_teams(session: AsyncSession, inbox_id: int, team_ids: Sequence[int]) -> None:
    await session.execute(delete(InboxTeam).where(InboxTeam.inbox_id == inbox_id))
    session.add_all(InboxTeam(inbox_id=inbox_id, team_id=t) for t in team_ids)
    await session.flush()


async def team_ids(session: AsyncSession, inbox_id: int) -> tuple[int, ...]:
    result = await session.execute(
        select(InboxTeam.team_id).where(InboxTeam.inbox_id == inbox_id).order_by(InboxTeam.team_id)
    )
    return tuple(result.scalars())


async def team_names(session: AsyncSession, inbox_id: int) -> list[str]:
    result = await session.execute(
        select(Team.name)
        .join(InboxTeam, InboxTeam.team_id == Team.id)
        .where(InboxTeam.inbox_id == inbox_id)
        .order_by(Team.name)
    )
    return list(result.scalars())
