"""create_app(): lifespan, middleware, routers, error handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.agents.endpoints import router as agents_router
from app.agents.presence import Presence
from app.auth.endpoints import router as auth_router
from app.auth.widget_endpoints import router as widget_router
from app.channels import endpoints as webhooks
from app.channels.email.endpoints import router as email_router
from app.channels.email.transport import EmailTransport
from app.channels.registry import build_registry
from app.channels.web.pages import router as chat_page_router
from app.config import Settings, get_settings
from app.console.endpoints import router as console_router
from app.contacts.endpoints import router as customers_router
from app.conversations import service as conversations
from app.conversations.endpoints import router as conversations_router
from app.conversations.outbox import DELIVER, DeliverReply
from app.conversations.widget_endpoints import router as widget_conversations_router
from app.conversations.writer import MessageWriter
from app.db import Database
from app.errors import install_error_handlers
from app.inboxes.endpoints import router as inboxes_router
from app.kit.body_limit import BodyLimit
from app.kit.metrics import install_metrics
from app.realtime.agent_socket import agent_socket
from app.realtime.bus import MemoryBus, publish_soon
from app.realtime.events import AgentPresenceChanged
from app.realtime.hub import Hub
from app.realtime.sockets import SocketDispatcher
from app.realtime.widget_socket import widget_socket
from app.reports import csat, sla
from app.reports.csat_pages import router as csat_pages_router
from app.reports.endpoints import router as reports_router
from app.reports.rollup import Rollup
from app.responders.redirect import REDIRECT, SendRedirect
from app.routing.assign import ANSWER_TIMEOUT, RECHECK
from app.routing.endpoints import router as routing_router
from app.routing.router import Router
from app.routing.tasks import AnswerTimeout, Recheck
from app.runtime import RateLimits, Runtime
from app.worker.runner import Worker

WIDGET_DIR = Path(__file__).resolve().parent / "widget"


def build_runtime(settings: Settings) -> Runtime:
    """The process's parts, wired: the bus carries domain events to the sockets
    (the hub), the worker and, as they land, responders, routing and reports."""
    bus = MemoryBus()
    db = Database(settings, bus)
    presence = Presence(settings.presence_grace_seconds)
    hub = Hub(presence, settings.ws_max_queued_frames)
    channels = build_registry(settings)
    worker = Worker(db, poll_seconds=settings.worker_poll_seconds)
    writer = MessageWriter(db, conversations.publisher(db, bus))
    worker.register(DELIVER, DeliverReply(db, channels))
    worker.register(REDIRECT, SendRedirect(db, writer, channels, settings.public_url))
    presence.on_change = lambda agent_id, status: publish_soon(
        bus, AgentPresenceChanged(agent_id, status)
    )
    router = Router(db, bus, presence)
    worker.register(ANSWER_TIMEOUT, AnswerTimeout(db, router))
    worker.register(RECHECK, Recheck(router))
    # Reports: measurements folded as conversations change; the fold starts
    # SLA clocks and queues CSAT and the follow-up, all as jobs.
    rollup = Rollup(db, on_waits=sla.start_clocks, on_resolved=csat.plan_after_resolve)
    worker.register(sla.SLA_CHECK, sla.SlaCheck(db))
    worker.register(csat.CSAT_ASK, csat.AskForRating(db, writer, channels, settings.public_url))
    worker.register(csat.FOLLOW_UP, csat.FollowUp(db, writer, channels))
    bus.subscribe(hub.dispatch)
    bus.subscribe(worker.on_event)
    bus.subscribe(router.on_event)
    bus.subscribe(rollup.on_event)
    return Runtime(
        settings=settings,
        db=db,
        bus=bus,
        hub=hub,
        presence=presence,
        writer=writer,
        limits=RateLimits.from_settings(settings),
        channels=channels,
        worker=worker,
        router=router,
        rollup=rollup,
    )


def create_app(settings: Settings | None = None) -> SocketDispatcher:
    settings = settings or get_settings()
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings)
        app.state.runtime = runtime
        install_metrics(registry, runtime)
        await runtime.bus.start()
        await runtime.writer.start()
        await runtime.worker.start()
        await runtime.router.start()
        await runtime.rollup.start()
        # The SMTP listener and IMAP readers hand mail to the writer: they
        # start after it and stop before it.
        email = EmailTransport(settings, runtime.db, runtime.writer)
        await email.start()
        try:
            yield
        finally:
            await email.stop()
            await runtime.rollup.stop()
            await runtime.router.stop()
            await runtime.worker.stop()
            await runtime.writer.stop()
            await runtime.bus.stop()
            await runtime.db.dispose()

    app = FastAPI(title="Madoguchi", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
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
        widget_router,
        widget_conversations_router,
        conversations_router,
        routing_router,
        customers_router,
        console_router,
        chat_page_router,
        email_router,
        reports_router,
        csat_pages_router,
    ):
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
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
