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


def _team_key(name: str) -> str:
    return name.strip().casefold()


async def _teams_by_key(session: AsyncSession) -> dict[str, Team]:
    # Read whole and matched here: SQLite's lower() folds ASCII only, and a
    # help desk has tens of teams, not thousands.
    result = await session.execute(select(Team).order_by(Team.id))
    found: dict[str, Team] = {}
    for team in result.scalars():
        found.setdefault(_team_key(team.name), team)
    return found


async def teams_by_name(session: AsyncSession, names: Sequence[str]) -> list[Team]:
    """The teams of these names, matched whatever their case ("billing" is
    the team "Billing"); a new one is made under the name first given. One
    each, in the order named."""
    if not names:
        return []
    found = await _teams_by_key(session)
    teams: list[Team] = []
    for name in names:
        key = _team_key(name)
        team = found.get(key)
        if team is None:
            team = found[key] = Team(name=name.strip())
            session.add(team)
        if team not in teams:
            teams.append(team)
    await session.flush()
    return teams


async def existing_teams(session: AsyncSession, names: Sequence[str]) -> list[Team]:
    """The known teams of these names, matched whatever their case."""
    found = await _teams_by_key(session)
    teams: list[Team] = []
    for name in names:
        team = found.get(_team_key(name))
        if team is not None and team not in teams:
            teams.append(team)
    return teams


async def list_teams(session: AsyncSession) -> Sequence[Team]:
    result = await session.execute(select(Team).order_by(Team.name, Team.id))
    return result.scalars().all()


async def transfer_targets(session: AsyncSession) -> Sequence[Agent]:
    """The active agents, by name: whom a conversation may be handed to."""
    result = await session.execute(
        select(Agent).where(Agent.is_active).order_by(Agent.name, Agent.id)
    )
    return result.scalars().all()


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
