from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from app.auth.dependencies import Admin, CurrentAgent
from app.auth.roles import Role
from app.channels.web.adapter import WidgetAppearance
from app.config import Settings
from app.inboxes import repository as inboxes_repo
from app.inboxes import service as inboxes_service
from app.inboxes.routing_config import config_of
from app.inboxes.schemas import BusinessHoursIn, InboxCreate, InboxList, InboxOut, RespondersIn
from app.kit.api_schema import errors
from app.kit.numbers import DbId
from app.models import Agent, Inbox
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/inboxes", tags=["inboxes"])

# Secrets in a channel config that only admins may read back.
_SECRET_KEYS = {
    "identity_secret",
    "password",
    "bot_token",
    "secret_token",
    "channel_secret",
    "channel_access_token",
    "app_secret",
    "verify_token",
    "page_access_token",
    "access_token",
}


def _redact(config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key in _SECRET_KEYS:
            continue
        out[key] = _redact(value) if isinstance(value, dict) else value
    return out


def inbox_out(inbox: Inbox, teams: list[str], viewer: Agent, settings: Settings) -> dict[str, Any]:
    is_admin = Role(viewer.role).includes(Role.ADMIN)
    return {
        "id": inbox.id,
        "name": inbox.name,
        "channel": inbox.channel,
        "mode": inbox.mode,
        "config": inbox.config if is_admin else _redact(inbox.config),
        "teams": teams,
        "widget_key": inbox.widget_key,
        "routing": config_of(inbox.routing).model_dump(mode="json"),
        "business_hours": inbox.business_hours,
        "responders": inbox.responders or {},
        "created_at": inbox.created_at.isoformat(),
        "warnings": inboxes_service.warnings_of(inbox, settings),
    }


@router.post("", status_code=201, response_model=InboxOut)
async def create_inbox(body: InboxCreate, admin: Admin, runtime: RuntimeDep) -> object:
    config = await inboxes_service.checked_config(runtime.channels, body.channel, body.config)
    async with runtime.db.write() as session:
        inbox = await inboxes_service.create_inbox(session, body, config)
        teams = await inboxes_repo.team_names(session, inbox.id)
    return inbox_out(inbox, teams, admin, runtime.settings)


@router.get("", response_model=InboxList)
async def list_inboxes(agent: CurrentAgent, runtime: RuntimeDep) -> object:
    async with runtime.db.read() as session:
        inboxes = await inboxes_repo.list_all(session)
        items = [
            inbox_out(i, await inboxes_repo.team_names(session, i.id), agent, runtime.settings)
            for i in inboxes
        ]
    return {"items": items, "next_cursor": None}


@router.get("/{inbox_id}", response_model=InboxOut)
async def get_inbox(inbox_id: DbId, agent: CurrentAgent, runtime: RuntimeDep) -> object:
    async with runtime.db.read() as session:
        inbox = await inboxes_service.get_inbox(session, inbox_id)
        return inbox_out(
            inbox, await inboxes_repo.team_names(session, inbox.id), agent, runtime.settings
        )


@router.put("/{inbox_id}/business-hours", response_model=InboxOut)
async def put_business_hours(
    inbox_id: DbId,
    admin: Admin,
    runtime: RuntimeDep,
    body: Annotated[BusinessHoursIn | None, Body()] = None,
) -> object:
    """The inbox's week, closed dates and holiday calendar; `null` removes
    them (open around the clock)."""
    async with runtime.db.write() as session:
        inbox = await inboxes_service.set_business_hours(session, inbox_id, body)
        return inbox_out(
            inbox, await inboxes_repo.team_names(session, inbox.id), admin, runtime.settings
        )


@router.put("/{inbox_id}/responders", response_model=InboxOut)
async def put_responders(
    inbox_id: DbId, body: RespondersIn, admin: Admin, runtime: RuntimeDep
) -> object:
    async with runtime.db.write() as session:
        inbox = await inboxes_service.set_responders(session, inbox_id, body)
        return inbox_out(
            inbox, await inboxes_repo.team_names(session, inbox.id), admin, runtime.settings
        )


@router.put("/{inbox_id}/appearance", response_model=InboxOut, responses=errors(404))
async def put_appearance(
    inbox_id: DbId,
    admin: Admin,
    runtime: RuntimeDep,
    body: Annotated[WidgetAppearance | None, Body()] = None,
) -> object:
    """A web inbox's widget appearance (`config.appearance`): colour,
    position and offset, launcher text, greeting, hide on mobile; `null` (or
    every field null) removes it. Not a web inbox: a 422."""
    async with runtime.db.write() as session:
        inbox = await inboxes_service.set_appearance(session, inbox_id, body)
        return inbox_out(
            inbox, await inboxes_repo.team_names(session, inbox.id), admin, runtime.settings
        )
