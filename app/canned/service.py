"""Canned responses: saved replies, an agent's own or shared by an admin. An
agent sees the shared ones and their own, never another agent's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Role
from app.canned import repository as canned_repo
from app.canned.schemas import CannedCreate, CannedUpdate, canned_out
from app.errors import Conflict, Forbidden, NotFound
from app.kit.clock import clock
from app.models import Agent, CannedResponse


class ShortcutTaken(Conflict):
    code = "shortcut_taken"


async def create(session: AsyncSession, agent: Agent, request: CannedCreate) -> dict[str, Any]:
    if request.shared and not Role(agent.role).includes(Role.ADMIN):
        raise Forbidden("only admins share canned responses with every agent")
    now = clock.now()
    canned = CannedResponse(
        scope=canned_repo.SHARED if request.shared else canned_repo.own_scope(agent.id),
        owner_agent_id=None if request.shared else agent.id,
        shortcut=request.shortcut,
        title=request.title,
        body=request.body,
        created_at=now,
        updated_at=now,
    )
    session.add(canned)
    await _flush(session, request.shortcut)
    return canned_out(canned)


async def update(
    session: AsyncSession, agent: Agent, canned_id: int, request: CannedUpdate
) -> dict[str, Any]:
    canned = await _changeable(session, agent, canned_id)
    for field in request.model_fields_set:
        value = getattr(request, field)
        if value is None and field != "title":
            continue
        setattr(canned, field, value)
    canned.updated_at = clock.now()
    await _flush(session, canned.shortcut)
    return canned_out(canned)


async def delete(session: AsyncSession, agent: Agent, canned_id: int) -> None:
    await session.delete(await _changeable(session, agent, canned_id))


async def _changeable(session: AsyncSession, agent: Agent, canned_id: int) -> CannedResponse:
    """An agent changes their own; admins change the shared ones. Another
    agent's own is not found at all."""
    canned = await canned_repo.get(session, canned_id)
    if canned is None or canned.owner_agent_id not in (None, agent.id):
        raise NotFound("no such canned response")
    if canned.owner_agent_id is None and not Role(agent.role).includes(Role.ADMIN):
        raise Forbidden("only admins change shared canned responses")
    return canned


async def _flush(session: AsyncSession, shortcut: str) -> None:
    # The transaction is rolled back on the way out: nothing half-made stays.
    try:
        await session.flush()
    except IntegrityError as exc:
        raise ShortcutTaken(f"/{shortcut} is taken; choose another shortcut") from exc
