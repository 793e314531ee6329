"""The process's long-lived parts, built once at start-up and shared by handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.agents.presence import Presence
from app.channels.registry import ChannelRegistry
from app.config import Settings
from app.conversations.intake import IntakeCache
from app.conversations.writer import MessageWriter
from app.db import Database
from app.kit.ratelimit import RateLimiter
from app.realtime.bus import EventBus
from app.realtime.hub import Hub
from app.reports.rollup import Rollup
from app.routing.router import Router
from app.worker.runner import Worker


@dataclass(slots=True)
class RateLimits:
    widget_sessions: RateLimiter
    widget_messages: RateLimiter
    widget_signals: RateLimiter
    login: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            widget_sessions=RateLimiter(settings.rate_widget_sessions),
            widget_messages=RateLimiter(settings.rate_widget_messages),
            widget_signals=RateLimiter(settings.rate_widget_signals),
            login=RateLimiter(settings.rate_login),
        )


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus
    hub: Hub
    presence: Presence
    writer: MessageWriter
    limits: RateLimits
    channels: ChannelRegistry
    worker: Worker
    router: Router
    # Reports' measurements, folded as conversations change (app/reports/).
    rollup: Rollup
    intake_cache: IntakeCache = field(default_factory=IntakeCache)


# async on purpose: FastAPI runs a plain `def` dependency in its thread pool,
# a thread hop on every request for what is an attribute read.
async def get_runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
