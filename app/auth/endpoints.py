from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.auth import service as auth_service
from app.auth.dependencies import BearerToken, CurrentAgent
from app.kit.text import StorableStr
from app.runtime import RuntimeDep, client_address

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    email: StorableStr = Field(max_length=320)
    password: StorableStr = Field(max_length=1024)


@router.post("/token")
async def issue_token(body: LoginRequest, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
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
