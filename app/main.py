"""create_app(): lifespan, middleware, routers, error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.agents.endpoints import router as agents_router
from app.agents.presence import PRESENCE, AgentPresence, Presence
from app.attachments.endpoints import router as attachments_router
from app.auth.endpoints import router as auth_router
from app.canned.endpoints import router as canned_router
from app.channels.registry import build_registry
from app.config import Settings, get_settings
from app.console.endpoints import router as console_router
from app.contacts import wiring as contacts_wiring
from app.contacts.confirmation_pages import router as confirmation_pages_router
from app.contacts.endpoints import router as customers_router
from app.contacts.endpoints import suggestions_router
from app.conversations import webhooks
from app.conversations import wiring as conversations_wiring
from app.conversations.endpoints import router as conversations_router
from app.conversations.widget_endpoints import router as widget_conversations_router
from app.conversations.writer import MESSAGE_WRITER
from app.db import Database
from app.errors import NotAuthenticated, install_error_handlers
from app.events.bus import EventBus, MemoryBus, publish_soon
from app.events.domain import AgentPresenceChanged
from app.inboxes.endpoints import router as inboxes_router
from app.inboxes.pages import router as chat_page_router
from app.kit.body_limit import BodyLimit
from app.kit.crypto import constant_time_equals
from app.mail.endpoints import router as email_router
from app.mail.transport import EmailTransport
from app.metrics import install_metrics
from app.openapi import install_openapi
from app.realtime.agent_sessions import AgentSessionCheck
from app.realtime.agent_socket import agent_socket
from app.realtime.hub import HUB, Hub
from app.realtime.sockets import SocketDispatcher
from app.realtime.widget_socket import widget_socket
from app.reports import wiring as reports_wiring
from app.reports.csat_pages import router as csat_pages_router
from app.reports.endpoints import router as reports_router
from app.responders import wiring as responders_wiring
from app.responders.endpoints import router as responders_router
from app.routing import wiring as routing_wiring
from app.routing.endpoints import router as routing_router
from app.runtime import RateLimits, Runtime
from app.scaleout import ScaleOut
from app.widget.endpoints import router as widget_router
from app.worker.runner import WORKER, Worker

WIDGET_DIR = Path(__file__).resolve().parent / "widget"


def build_runtime(settings: Settings) -> Runtime:
    """The process's parts, wired. Each domain adds its own (its parts, jobs,
    bus subscribers and background loops) in its `wiring.install`; the order
    here is the order the loops start in (they stop in reverse), and the order
    the bus calls its subscribers in: the sockets first."""
    scale_out = ScaleOut.from_settings(settings, settings.redis_url) if settings.redis_url else None
    bus: EventBus = scale_out.bus if scale_out is not None else MemoryBus()
    presence: AgentPresence
    if scale_out is not None:
        presence = scale_out.presence
        limits = RateLimits.shared(settings, scale_out.counters)
    else:
        presence = Presence(settings.presence_grace_seconds)
        limits = RateLimits.from_settings(settings)
    runtime = Runtime(
        settings=settings,
        db=Database(settings, bus),
        bus=bus,
        limits=limits,
        channels=build_registry(settings),
    )
    if scale_out is not None:
        # After the bus, before the writer: presence and counters share the
        # bus's Redis client; every event is published before we leave.
        runtime.loops.append(scale_out)
    runtime.provide(PRESENCE, presence)
    hub = runtime.provide(HUB, Hub(presence, settings.ws_max_queued_frames))
    if isinstance(presence, Presence):
        presence.on_change = lambda agent_id, status: publish_soon(
            bus, AgentPresenceChanged(agent_id, status)
        )
    if scale_out is not None:
        shared = scale_out.presence
        shared.publish = lambda event: publish_soon(bus, event)
        # Before the router: its pass reads the snapshot this refreshes.
        bus.subscribe(shared.on_event)
        scale_out.bus.on_resync(hub.resync)
    bus.subscribe(hub.dispatch)
    # Agent sockets against the store: what the command line changed reaches them.
    runtime.loops.append(AgentSessionCheck(runtime.db, bus, hub))
    worker = runtime.provide(WORKER, Worker(runtime.db, poll_seconds=settings.worker_poll_seconds))
    conversations_wiring.install(runtime)
    runtime.loops.append(worker)
    bus.subscribe(worker.on_event)
    contacts_wiring.install(runtime)
    router = routing_wiring.install(runtime)
    bus.subscribe(router.on_event)
    if scale_out is not None:
        scale_out.presence.notify_local = router.on_event
    # Widgets hear openings and closings; it asks the router for the queue.
    responders_wiring.install(runtime, hub.dispatch)
    reports_wiring.install(runtime)
    return runtime


def create_app(settings: Settings | None = None) -> SocketDispatcher:
    settings = settings or get_settings()
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings)
        app.state.runtime = runtime
        install_metrics(registry, runtime)
        await runtime.bus.start()
        # The SMTP listener and IMAP readers hand mail to the writer: they
        # start after it and stop before it.
        loops = [*runtime.loops, EmailTransport(settings, runtime.db, runtime[MESSAGE_WRITER])]
        for loop in loops:
            await loop.start()
        # What start-up built (modules, models, routes) lives as long as the
        # process: frozen out of the cyclic collector's way, a full collection
        # walks only what the traffic made (it paused the chat for ~50 ms).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            for loop in reversed(loops):
                await loop.stop()
            await runtime.bus.stop()
            await runtime.db.dispose()

    app = FastAPI(title="Madoguchi", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.attachment_max_bytes,
    )
    # Bearer tokens, never cookies: any page may call the API, none can ride a session.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["authorization", "content-type"],
        max_age=600,
    )
    for router in (
        auth_router,
        agents_router,
        inboxes_router,
        responders_router,
        widget_router,
        widget_conversations_router,
        conversations_router,
        routing_router,
        customers_router,
        suggestions_router,
        console_router,
        chat_page_router,
        email_router,
        reports_router,
        csat_pages_router,
        confirmation_pages_router,
        attachments_router,
        canned_router,
    ):
        app.include_router(router)
    install_openapi(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        # Degraded still serves and stores (docs/operations.md): 200, so a
        # load balancer keeps it while Redis is down for every process.
        if app.state.runtime.bus.degraded:
            return {"status": "degraded", "detail": "Redis unreachable: live events stay local"}
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if settings.metrics_token and not constant_time_equals(
            request.headers.get("authorization", ""), f"Bearer {settings.metrics_token}"
        ):
            raise NotAuthenticated(
                "metrics need the metrics token", headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> FileResponse:
        return FileResponse(WIDGET_DIR / "widget.js", media_type="text/javascript")

    def runtime() -> Runtime:
        current: Runtime = app.state.runtime
        return current

    return SocketDispatcher(
        app,
        runtime,
        {"/ws/widget": widget_socket, "/ws/agent": agent_socket},
        {webhooks.PREFIX: webhooks.webhook},
    )
