"""The process's long-lived parts, built once at start-up and shared by handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.agents.presence import AgentPresence
from app.channels.registry import ChannelRegistry
from app.config import Settings
from app.conversations.intake import IntakeCache
from app.conversations.writer import MessageWriter
from app.db import Database
from app.events.bus import EventBus
from app.kit.ratelimit import RateLimiter
from app.kit.shared_ratelimit import SharedCounters, SharedRateLimiter
from app.realtime.hub import Hub
from app.reports.rollup import Rollup
from app.responders.schedule import AvailabilitySchedule
from app.routing.router import Router
from app.scaleout import ScaleOut
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

    @classmethod
    def shared(cls, settings: Settings, counters: SharedCounters) -> RateLimits:
        """Counted in Redis, across every process."""
        return cls(
            widget_sessions=SharedRateLimiter(
                settings.rate_widget_sessions, "widget_sessions", counters
            ),
            widget_messages=SharedRateLimiter(
                settings.rate_widget_messages, "widget_messages", counters
            ),
            widget_signals=SharedRateLimiter(
                settings.rate_widget_signals, "widget_signals", counters
            ),
            login=SharedRateLimiter(settings.rate_login, "login", counters),
        )


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus
    hub: Hub
    presence: AgentPresence
    writer: MessageWriter
    limits: RateLimits
    channels: ChannelRegistry
    worker: Worker
    router: Router
    schedule: AvailabilitySchedule
    # Reports' measurements, folded as conversations change (app/reports/).
    rollup: Rollup
    intake_cache: IntakeCache = field(default_factory=IntakeCache)
    # Set when MADOGUCHI_REDIS_URL is (app/scaleout.py).
    scale_out: ScaleOut | None = None


# async on purpose: FastAPI runs a plain `def` dependency in its thread pool,
# a thread hop on every request for what is an attribute read.
async def get_runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
