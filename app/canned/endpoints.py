from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import CurrentAgent
from app.canned import repository as canned_repo
from app.canned import service as canned
from app.canned.schemas import CannedCreate, CannedList, CannedOut, CannedUpdate, canned_out
from app.kit.api_schema import errors
from app.kit.numbers import DbId
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/canned-responses", tags=["canned responses"])


@router.get("", response_model=CannedList)
async def list_canned(agent: CurrentAgent, runtime: RuntimeDep) -> object:
    """Every canned response the agent may use (the shared ones and their own),
    by shortcut; a handful per team, so one page holds them all."""
    async with runtime.db.read() as session:
        found = await canned_repo.usable_by(session, agent.id)
    return {"items": [canned_out(c) for c in found], "next_cursor": None}


# 403: only admins share; 409: the shortcut is taken.
@router.post("", status_code=201, response_model=CannedOut, responses=errors(403, 409))
async def create_canned(body: CannedCreate, agent: CurrentAgent, runtime: RuntimeDep) -> object:
    async with runtime.db.write() as session:
        return await canned.create(session, agent, body)


@router.patch("/{canned_id}", response_model=CannedOut, responses=errors(403, 409))
async def update_canned(
    canned_id: DbId, body: CannedUpdate, agent: CurrentAgent, runtime: RuntimeDep
) -> object:
    async with runtime.db.write() as session:
        return await canned.update(session, agent, canned_id, body)


@router.delete("/{canned_id}", status_code=204, responses=errors(403))
async def delete_canned(canned_id: DbId, agent: CurrentAgent, runtime: RuntimeDep) -> None:
    async with runtime.db.write() as session:
        await canned.delete(session, agent, canned_id)
