"""Who is calling: an agent's bearer token, or a customer's widget session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from app.auth import service as auth_service
from app.auth.roles import Role
from app.auth.widget_sessions import SessionLifetimes, WidgetIdentity, authenticate_session
from app.errors import Forbidden, NotAuthenticated
from app.models import Agent
from app.runtime import RuntimeDep


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


BearerToken = Annotated[str, Depends(bearer_token)]


async def current_agent(runtime: RuntimeDep, token: BearerToken) -> Agent:
    async with runtime.db.read() as session:
        return await auth_service.authenticate(session, token)


CurrentAgent = Annotated[Agent, Depends(current_agent)]


def require_role(role: Role) -> Callable[[Agent], Awaitable[Agent]]:
    async def dependency(agent: CurrentAgent) -> Agent:
        if not Role(agent.role).includes(role):
            raise Forbidden(f"this needs the {role} role")
        return agent

    return dependency


Supervisor = Annotated[Agent, Depends(require_role(Role.SUPERVISOR))]
Admin = Annotated[Agent, Depends(require_role(Role.ADMIN))]


async def current_widget_session(runtime: RuntimeDep, token: BearerToken) -> WidgetIdentity:
    async with runtime.db.read() as session:
        return await authenticate_session(session, token, SessionLifetimes.of(runtime.settings))


WidgetSession = Annotated[WidgetIdentity, Depends(current_widget_session)]
