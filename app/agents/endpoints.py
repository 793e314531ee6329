from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.agents import repository as agents_repo
from app.agents import service as agents_service
from app.agents.presence import PRESENCE
from app.agents.schemas import (
    AgentCreate,
    AgentUpdate,
    PasswordChange,
    PasswordReset,
    StatusUpdate,
)
from app.auth import service as auth_service
from app.auth.dependencies import Admin, CurrentAgent, Supervisor
from app.kit.numbers import DbId
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.post("", status_code=201)
async def create_agent(body: AgentCreate, _: Admin, runtime: RuntimeDep) -> dict[str, Any]:
    agent = await agents_service.create_agent(runtime.db, body)
    async with runtime.db.read() as session:
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


@router.get("")
async def list_agents(_: Supervisor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.db.read() as session:
        agents = await agents_repo.list_all(session)
        teams = await agents_repo.team_names_of(session, [a.id for a in agents])
    items = [agents_service.agent_json(a, teams[a.id], runtime[PRESENCE]) for a in agents]
    return {"items": items, "next_cursor": None}


@router.get("/me")
async def me(agent: CurrentAgent, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


@router.put("/me/status")
async def set_status(
    body: StatusUpdate, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        agent = await agents_repo.get(session, agent.id) or agent
        agents_service.choose_status(agent, body.status, runtime[PRESENCE])
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


@router.patch("/{agent_id}")
async def update_agent(
    agent_id: DbId, body: AgentUpdate, _: Admin, runtime: RuntimeDep
) -> dict[str, Any]:
    # Routing hears of it through the `AgentChanged` event, in every process:
    # more room, or a new skill, may let waiting conversations go now.
    async with runtime.db.write() as session:
        agent = await agents_service.update_agent(session, agent_id, body)
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


@router.post("/{agent_id}/password", status_code=204)
async def reset_password(
    agent_id: DbId, body: PasswordReset, _: Admin, runtime: RuntimeDep
) -> None:
    await auth_service.reset_password(runtime.db, agent_id, body.password)


@router.put("/me/password")
async def change_password(
    body: PasswordChange, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    issued = await auth_service.change_password(
        runtime.db, agent, body.current_password, body.new_password
    )
    return {"access_token": issued.token, "token_type": "bearer"}
