"""All SQL about agents and teams (access tokens: app/auth/repository.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Agent, AgentTeam, Team


async def get_by_email(session: AsyncSession, email: str) -> Agent | None:
    result = await session.execute(select(Agent).where(Agent.email == email.lower()))
    return result.scalar_one_or_none()


async def get(session: AsyncSession, agent_id: int) -> Agent | None:
    return await session.get(Agent, agent_id)


async def teams_by_name(session: AsyncSession, names: Sequence[str]) -> list[Team]:
    if not names:
        return []
    result = await session.execute(select(Team).where(Team.name.in_(names)))
    found = {team.name: team for team in result.scalars()}
    for name in names:
        if name not in found:
            team = Team(name=name)
            session.add(team)
            found[name] = team
    await session.flush()
    return [found[name] for name in names]


async def existing_teams(session: AsyncSession, names: Sequence[str]) -> list[Team]:
    result = await session.execute(select(Team).where(Team.name.in_(names)))
    return list(result.scalars())


async def set_teams(session: AsyncSession, agent_id: int, team_ids: Sequence[int]) -> None:
    await session.execute(delete(AgentTeam).where(AgentTeam.agent_id == agent_id))
    session.add_all(AgentTeam(agent_id=agent_id, team_id=t) for t in team_ids)
    await session.flush()


async def team_names_of(session: AsyncSession, agent_ids: Sequence[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {a: [] for a in agent_ids}
    if not agent_ids:
        return names
    result = await session.execute(
        select(AgentTeam.agent_id, Team.name)
        .join(Team, Team.id == AgentTeam.team_id)
        .where(AgentTeam.agent_id.in_(agent_ids))
        .order_by(Team.name)
    )
    for agent_id, name in result:
        names[agent_id].append(name)
    return names


async def team_ids_of(session: AsyncSession, agent_id: int) -> frozenset[int]:
    result = await session.execute(select(AgentTeam.team_id).where(AgentTeam.agent_id == agent_id))
    return frozenset(result.scalars())


async def list_all(session: AsyncSession) -> Sequence[Agent]:
    result = await session.execute(select(Agent).order_by(Agent.id))
    return result.scalars().all()


async def active_admin_ids(session: AsyncSession) -> list[int]:
    """Locks the active admins' rows (PostgreSQL) until the transaction ends:
    two admins demoting each other at once cannot both see the other stay."""
    result = await session.execute(
        select(Agent.id)
        .where(Agent.role == "admin", Agent.is_active)
        .order_by(Agent.id)
        .with_for_update()
    )
    return list(result.scalars())


async def standing_of(
    session: AsyncSession, agent_ids: Collection[int]
) -> dict[int, tuple[str, bool, frozenset[int]]]:
    """Each agent's role, whether active, and team ids; gone agents are absent."""
    ids = sorted(agent_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Agent.id, Agent.role, Agent.is_active).where(Agent.id.in_(ids))
    )
    teams: dict[int, set[int]] = {}
    for agent_id, team_id in await session.execute(
        select(AgentTeam.agent_id, AgentTeam.team_id).where(AgentTeam.agent_id.in_(ids))
    ):
        teams.setdefault(agent_id, set()).add(team_id)
    return {
        agent_id: (role, bool(active), frozenset(teams.get(agent_id, ())))
        for agent_id, role, active in rows
    }
