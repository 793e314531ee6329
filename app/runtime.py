"""The process's long-lived parts, built once at start-up and shared by handlers.

It imports no domain, so any endpoint may import it. The ground floor's parts
(settings, database, bus, rate limits, channel adapters) are fields; a
domain's own parts (the message writer, the router, the hub, ...) are kept
under a typed `Part` key that the domain declares beside the type, and read
back as that type: `runtime[ROUTER]`. A part that one domain needs from
another is typed by a small Protocol that the consumer declares (what
availability needs of the queue, what the agents' endpoints tell the router).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.channels.registry import ChannelRegistry
from app.config import Settings
from app.db import Database
from app.events.bus import EventBus
from app.kit.byte_budget import ByteBudget, SharedByteBudget
from app.kit.ratelimit import RateLimiter
from app.kit.shared_ratelimit import SharedCounters, SharedRateLimiter

T = TypeVar("T")


class Part(Generic[T]):
    """The key of one runtime part of type T (like aiohttp's AppKey)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Part({self.name!r})"


class Lifecycle(Protocol):
    """A part that runs in the background while the process serves."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class RateLimits:
    widget_sessions: RateLimiter
    widget_messages: RateLimiter
    widget_signals: RateLimiter
    widget_resumes: RateLimiter
    # Bytes per client address (IPv6 by /64) and hour, not events per minute.
    widget_upload_bytes: ByteBudget
    login: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            widget_sessions=RateLimiter(settings.rate_widget_sessions),
            widget_messages=RateLimiter(settings.rate_widget_messages),
            widget_signals=RateLimiter(settings.rate_widget_signals),
            widget_resumes=RateLimiter(settings.rate_widget_resumes),
            widget_upload_bytes=ByteBudget(settings.widget_upload_bytes_per_ip_per_hour),
            login=RateLimiter(settings.rate_login),
        )

    @classmethod
    def shared(cls, settings: Settings, counters: SharedCounters) -> RateLimits:
        """Counted in Redis, across every process; while Redis is unreachable,
        each process holds a client to its share of a limit."""
        counters.processes = settings.server_processes
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
            widget_resumes=SharedRateLimiter(
                settings.rate_widget_resumes, "widget_resumes", counters
            ),
            widget_upload_bytes=SharedByteBudget(
                settings.widget_upload_bytes_per_ip_per_hour,
                "widget_upload_bytes",
                counters.redis,
            ),
            login=SharedRateLimiter(settings.rate_login, "login", counters),
        )

    @property
    def degraded(self) -> bool:
        """Shared limits that Redis does not answer for now (never, in memory)."""
        login = self.login
        return isinstance(login, SharedRateLimiter) and login.counters.degraded


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    bus: EventBus
    limits: RateLimits
    channels: ChannelRegistry
    # Started in this order at start-up, stopped in the reverse order.
    loops: list[Lifecycle] = field(default_factory=list)
    _parts: dict[Part[Any], Any] = field(default_factory=dict)

    def provide(self, key: Part[T], part: T) -> T:
        if key in self._parts:
            raise ValueError(f"{key} is provided twice")
        self._parts[key] = part
        return part

    def __getitem__(self, key: Part[T]) -> T:
        part: T = self._parts[key]
        return part

    def get(self, key: Part[T]) -> T | None:
        part: T | None = self._parts.get(key)
        return part


# async on purpose: FastAPI runs a plain `def` dependency in its thread pool,
# a thread hop on every request for what is an attribute read.
async def get_runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
