"""Agents: created by admins, with teams, skills, capacity and a chosen status."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository as agents_repo
from app.agents.presence import AgentPresence, Status
from app.agents.schemas import AgentCreate, AgentUpdate
from app.auth import service as auth_service
from app.auth.passwords import hash_password
from app.auth.roles import Role
from app.db import Database
from app.errors import Conflict, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import AgentChanged
from app.kit.clock import clock
from app.models import Agent
from app.runtime import Part


class AgentChanges(Protocol):
    """Told when an agent's capacity, skills or teams changed (the router reads
    them again and routes)."""

    def agent_changed(self, agent_id: int) -> None: ...


AGENT_CHANGES: Part[AgentChanges] = Part("agent_changes")


async def create_agent(db: Database, data: AgentCreate) -> Agent:
    """Hashes the password first: inside the write transaction the hash would
    hold SQLite's write lock for its whole length."""
    password_hash = await hash_password(data.password)
    email = data.email.lower()
    async with db.write() as session:
        if await agents_repo.get_by_email(session, email) is not None:
            raise Conflict(f"an agent with email {email} exists")
        agent = Agent(
            email=email,
            name=data.name,
            password_hash=password_hash,
            role=data.role.value,
            capacity=data.capacity,
            skills=list(dict.fromkeys(data.skills)),
            chosen_status="online",
            is_active=True,
            created_at=clock.now(),
        )
        session.add(agent)
        await session.flush()
        teams = await agents_repo.teams_by_name(session, list(dict.fromkeys(data.teams)))
        await agents_repo.set_teams(session, agent.id, [t.id for t in teams])
    return agent


class LastAdmin(Conflict):
    code = "last_admin"


async def update_agent(session: AsyncSession, agent_id: int, data: AgentUpdate) -> Agent:
    """Applies an admin's change. Deactivating ends every session of the agent
    (tokens deleted: a reactivation does not bring them back); once committed,
    `AgentChanged` tells every process: sockets close or take the new role and
    teams, routing reads the agent again and takes back a deactivated agent's
    live conversations."""
    agent = await agents_repo.get(session, agent_id)
    if agent is None:
        raise NotFound("no such agent")
    role = data.role.value if data.role is not None else agent.role
    active = data.active if data.active is not None else agent.is_active
    if agent.role == Role.ADMIN and agent.is_active and (role != Role.ADMIN or not active):
        others = [a for a in await agents_repo.active_admin_ids(session) if a != agent.id]
        if not others:
            raise LastAdmin("the last active admin cannot be deactivated or demoted")
    if data.name is not None:
        agent.name = data.name
    if data.capacity is not None:
        agent.capacity = data.capacity
    if data.skills is not None:
        agent.skills = list(dict.fromkeys(data.skills))
    if data.teams is not None:
        teams = await agents_repo.teams_by_name(session, list(dict.fromkeys(data.teams)))
        await agents_repo.set_teams(session, agent.id, [t.id for t in teams])
    if agent.is_active and not active:
        await auth_service.end_sessions(session, agent.id, "account deactivated")
    agent.role, agent.is_active = role, active
    await session.flush()
    team_ids = await agents_repo.team_ids_of(session, agent.id)
    publish_after_commit(session, AgentChanged(agent.id, role, tuple(sorted(team_ids)), active))
    return agent


async def agent_out(session: AsyncSession, agent: Agent, presence: AgentPresence) -> dict[str, Any]:
    teams = await agents_repo.team_names_of(session, [agent.id])
    return agent_json(agent, teams[agent.id], presence)


def agent_json(agent: Agent, teams: list[str], presence: AgentPresence) -> dict[str, Any]:
    return {
        "id": agent.id,
        "email": agent.email,
        "name": agent.name,
        "role": agent.role,
        "capacity": agent.capacity,
        "teams": teams,
        "skills": agent.skills,
        "status": presence.status(agent.id),
        "chosen_status": agent.chosen_status,
        "active": agent.is_active,
    }


def transfer_target(agent: Agent, teams: list[str], presence: AgentPresence) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "role": agent.role,
        "status": presence.status(agent.id),
        "teams": teams,
    }


def choose_status(agent: Agent, status: Status, presence: AgentPresence) -> None:
    """Records the choice on the agent (the caller's transaction stores it) and
    applies it to this process's presence."""
    agent.chosen_status = status
    presence.choose(agent.id, status)
