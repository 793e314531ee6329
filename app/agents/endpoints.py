from __future__ import annotations

from fastapi import APIRouter

from app.agents import repository as agents_repo
from app.agents import service as agents_service
from app.agents.presence import PRESENCE
from app.agents.schemas import (
    AgentCreate,
    AgentList,
    AgentOut,
    AgentUpdate,
    PasswordChange,
    PasswordReset,
    StatusUpdate,
    TeamList,
    TokenOut,
    TransferTargetList,
)
from app.auth import service as auth_service
from app.auth.dependencies import Admin, CurrentAgent, Supervisor
from app.kit.api_schema import errors
from app.kit.numbers import DbId
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


@router.post("", status_code=201, response_model=AgentOut, responses=errors(409, 503))
async def create_agent(body: AgentCreate, _: Admin, runtime: RuntimeDep) -> object:
    agent = await agents_service.create_agent(runtime.db, body)
    async with runtime.db.read() as session:
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


@router.get("", response_model=AgentList)
async def list_agents(_: Supervisor, runtime: RuntimeDep) -> object:
    async with runtime.db.read() as session:
        agents = await agents_repo.list_all(session)
        teams = await agents_repo.team_names_of(session, [a.id for a in agents])
    items = [agents_service.agent_json(a, teams[a.id], runtime[PRESENCE]) for a in agents]
    return {"items": items, "next_cursor": None}


@router.get("/transfer-targets", response_model=TransferTargetList)
async def transfer_targets(_: CurrentAgent, runtime: RuntimeDep) -> object:
    """Whom any agent may hand a conversation to: the active agents with their
    status and teams (the transfer itself checks they serve its inbox)."""
    async with runtime.db.read() as session:
        agents = await agents_repo.transfer_targets(session)
        teams = await agents_repo.team_names_of(session, [a.id for a in agents])
    items = [agents_service.transfer_target(a, teams[a.id], runtime[PRESENCE]) for a in agents]
    return {"items": items, "next_cursor": None}


@router.get("/teams", response_model=TeamList)
async def list_teams(_: CurrentAgent, runtime: RuntimeDep) -> object:
    """The known teams, for choosing one (matched whatever the case)."""
    async with runtime.db.read() as session:
        teams = await agents_repo.list_teams(session)
    return {"items": [{"id": t.id, "name": t.name} for t in teams], "next_cursor": None}


@router.get("/me", response_model=AgentOut)
async def me(agent: CurrentAgent, runtime: RuntimeDep) -> object:
    async with runtime.db.read() as session:
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


@router.put("/me/status", response_model=AgentOut)
async def set_status(body: StatusUpdate, agent: CurrentAgent, runtime: RuntimeDep) -> object:
    async with runtime.db.write() as session:
        agent = await agents_repo.get(session, agent.id) or agent
        agents_service.choose_status(agent, body.status, runtime[PRESENCE])
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


# `:int`: `PATCH /agents/me` is no agent id but a method `/me` lacks (405).
@router.patch("/{agent_id:int}", response_model=AgentOut, responses=errors(409))
async def update_agent(agent_id: DbId, body: AgentUpdate, _: Admin, runtime: RuntimeDep) -> object:
    # Routing hears of it through the `AgentChanged` event, in every process:
    # more room, or a new skill, may let waiting conversations go now.
    async with runtime.db.write() as session:
        agent = await agents_service.update_agent(session, agent_id, body)
        return await agents_service.agent_out(session, agent, runtime[PRESENCE])


@router.post("/{agent_id:int}/password", status_code=204, responses=errors(503))
async def reset_password(
    agent_id: DbId, body: PasswordReset, _: Admin, runtime: RuntimeDep
) -> None:
    await auth_service.reset_password(runtime.db, agent_id, body.password)


@router.put("/me/password", response_model=TokenOut, responses=errors(403, 503))
async def change_password(body: PasswordChange, agent: CurrentAgent, runtime: RuntimeDep) -> object:
    issued = await auth_service.change_password(
        runtime.db, agent, body.current_password, body.new_password
    )
    return {"access_token": issued.token, "token_type": "bearer"}
