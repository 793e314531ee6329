from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.auth import service as auth_service
from app.auth.dependencies import BearerToken, CurrentAgent
from app.auth.schemas import AgentRef
from app.kit.api_schema import NoNul, errors
from app.kit.text import StorableStr
from app.runtime import RuntimeDep, client_address

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    email: Annotated[StorableStr, Field(max_length=320), NoNul]
    password: Annotated[StorableStr, Field(max_length=1024), NoNul]


class IssuedTokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    agent: AgentRef


# 401: a wrong email or password; 429: too many tries; 503: the hashing queue is full.
@router.post("/token", response_model=IssuedTokenOut, responses=errors(401, 429, 503))
async def issue_token(body: LoginRequest, request: Request, runtime: RuntimeDep) -> object:
    issued = await auth_service.login(
        runtime.db, body.email, body.password, client_address(request), runtime.limits.login
    )
    agent = issued.agent
    return {
        "access_token": issued.token,
        "token_type": "bearer",
        "agent": {"id": agent.id, "name": agent.name, "role": agent.role},
    }


@router.post("/logout", status_code=204)
async def logout(agent: CurrentAgent, token: BearerToken, runtime: RuntimeDep) -> None:
    async with runtime.db.write() as session:
        await auth_service.logout(session, agent, token)
