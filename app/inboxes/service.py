"""Inboxes: one per channel endpoint, with its validated config."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository as agents_repo
from app.channels.registry import ChannelRegistry
from app.channels.web.adapter import WidgetAppearance
from app.config import Settings
from app.errors import InvalidRequest, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import InboxSettingsChanged
from app.inboxes import repository as inboxes_repo
from app.inboxes.schemas import BusinessHoursIn, InboxCreate, RespondersIn
from app.kit.clock import clock
from app.models import Inbox


def validated_config(channels: ChannelRegistry, channel: str, raw: dict[str, Any]) -> BaseModel:
    adapter = channels.get(channel)
    if adapter is None:
        raise InvalidRequest(f"the {channel} channel is not available in this version")
    try:
        config: BaseModel = adapter.config_model.model_validate(raw)
    except ValidationError as exc:
        detail = "; ".join(
            f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(detail) from exc
    return config


async def checked_config(channels: ChannelRegistry, channel: str, raw: dict[str, Any]) -> BaseModel:
    """`validated_config`, then the channel's own checks that need I/O (the
    email channel resolves its IMAP host): an adapter states them as an
    optional async `check_config`, raising an AppError (a 4xx) for a config it
    refuses. Called before the write transaction: a DNS lookup must not hold
    the write lock."""
    config = validated_config(channels, channel, raw)
    check = getattr(channels.get(channel), "check_config", None)
    if callable(check):
        await check(config)
    return config


async def create_inbox(session: AsyncSession, data: InboxCreate, config: BaseModel) -> Inbox:
    """`config`: `data.config` as `checked_config` returned it."""
    inbox = await inboxes_repo.add(
        session,
        Inbox(
            name=data.name,
            channel=data.channel,
            mode=data.mode,
            config=config.model_dump(mode="json"),
            widget_key=secrets.token_urlsafe(18) if data.channel == "web" else None,
            created_at=clock.now(),
        ),
    )
    teams = await agents_repo.teams_by_name(session, list(dict.fromkeys(data.teams)))
    await inboxes_repo.set_teams(session, inbox.id, [t.id for t in teams])
    return inbox


async def get_inbox(session: AsyncSession, inbox_id: int) -> Inbox:
    inbox = await inboxes_repo.get(session, inbox_id)
    if inbox is None:
        raise NotFound("no such inbox")
    return inbox


async def web_inbox_by_key(session: AsyncSession, widget_key: str) -> Inbox:
    inbox = await inboxes_repo.by_widget_key(session, widget_key)
    if inbox is None or inbox.channel != "web":
        raise NotFound("no web inbox has this widget_key")
    return inbox


async def set_business_hours(
    session: AsyncSession, inbox_id: int, hours: BusinessHoursIn | None
) -> Inbox:
    """Replaces the inbox's business hours (None: open around the clock); its
    widgets hear the new state once the change commits."""
    inbox = await get_inbox(session, inbox_id)
    inbox.business_hours = hours.model_dump(mode="json") if hours is not None else None
    publish_after_commit(
        session, InboxSettingsChanged(inbox.id, inbox.business_hours, inbox.responders)
    )
    return inbox


async def set_responders(session: AsyncSession, inbox_id: int, data: RespondersIn) -> Inbox:
    """Replaces the inbox's responder templates: a responder left out keeps
    its default; null, "" or false turns it off."""
    inbox = await get_inbox(session, inbox_id)
    inbox.responders = {
        key: (value if value else None)
        for key, value in data.model_dump(mode="json", exclude_unset=True).items()
    }
    publish_after_commit(
        session, InboxSettingsChanged(inbox.id, inbox.business_hours, inbox.responders)
    )
    return inbox


async def set_appearance(
    session: AsyncSession, inbox_id: int, appearance: WidgetAppearance | None
) -> Inbox:
    """Replaces a web inbox's widget appearance (`config.appearance`); None,
    or every field null, removes it (the widget's defaults). The widget reads
    it when it opens its session."""
    inbox = await get_inbox(session, inbox_id)
    if inbox.channel != "web":
        raise InvalidRequest("only a web inbox has a widget appearance")
    config = {k: v for k, v in inbox.config.items() if k != "appearance"}
    if appearance is not None and not appearance.is_empty():
        config["appearance"] = appearance.model_dump(mode="json")
    # A new dict: the JSON column sees the change.
    inbox.config = config
    return inbox


NO_OUTBOUND_RELAY = "no_outbound_relay"


def warnings_of(inbox: Inbox, settings: Settings) -> list[dict[str, str]]:
    """What the inbox cannot do as the server is set up (shown to admins in
    the console): an email inbox without an outbound relay sends nothing, and
    app/mail/transport.py fails each reply and acknowledgement at once."""
    if inbox.channel == "email" and not settings.smtp_relay:
        return [
            {
                "code": NO_OUTBOUND_RELAY,
                "message": "Replies and acknowledgements by email cannot be sent:"
                " set MADOGUCHI_SMTP_RELAY",
            }
        ]
    return []
