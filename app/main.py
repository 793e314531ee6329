"""create_app(): lifespan, middleware, routers, error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.agents.endpoints import router as agents_router
from app.agents.presence import AgentPresence, Presence
from app.attachments.endpoints import router as attachments_router
from app.auth.endpoints import router as auth_router
from app.auth.widget_endpoints import router as widget_router
from app.canned.endpoints import router as canned_router
from app.channels.registry import build_registry
from app.config import Settings, get_settings
from app.console.endpoints import router as console_router
from app.contacts import chat_link
from app.contacts.endpoints import router as customers_router
from app.contacts.endpoints import suggestions_router
from app.contacts.follow_up import FOLLOW_UP, MailUnreadReplies
from app.conversations import service as conversations
from app.conversations import webhooks
from app.conversations.endpoints import router as conversations_router
from app.conversations.intake import IntakeCache
from app.conversations.outbox import DELIVER, DeliverReply
from app.conversations.widget_endpoints import router as widget_conversations_router
from app.conversations.writer import MessageWriter
from app.db import Database
from app.errors import install_error_handlers
from app.events.bus import EventBus, MemoryBus, publish_soon
from app.events.domain import AgentPresenceChanged
from app.inboxes.endpoints import router as inboxes_router
from app.inboxes.pages import router as chat_page_router
from app.kit.body_limit import BodyLimit
from app.kit.metrics import install_metrics
from app.mail.endpoints import router as email_router
from app.mail.transport import EmailTransport
from app.realtime.agent_socket import agent_socket
from app.realtime.hub import Hub
from app.realtime.sockets import SocketDispatcher
from app.realtime.widget_socket import widget_socket
from app.reports import csat, sla
from app.reports.csat_pages import router as csat_pages_router
from app.reports.endpoints import router as reports_router
from app.reports.rollup import Rollup
from app.responders import planner
from app.responders.auto_reply import SendAutoReply
from app.responders.planner import AUTO_REPLY
from app.responders.redirect import REDIRECT, SendRedirect
from app.responders.schedule import AvailabilitySchedule
from app.routing.assign import ANSWER_TIMEOUT, RECHECK
from app.routing.endpoints import router as routing_router
from app.routing.router import Router
from app.routing.tasks import AnswerTimeout, Recheck
from app.runtime import RateLimits, Runtime
from app.scaleout import ScaleOut
from app.worker.runner import Worker

WIDGET_DIR = Path(__file__).resolve().parent / "widget"


def build_runtime(settings: Settings) -> Runtime:
    """The process's parts, wired: the bus carries domain events to the sockets
    (the hub), the worker and, as they land, responders, routing and reports."""
    scale_out = ScaleOut.from_settings(settings, settings.redis_url) if settings.redis_url else None
    bus: EventBus = scale_out.bus if scale_out is not None else MemoryBus()
    db = Database(settings, bus)
    presence: AgentPresence
    if scale_out is not None:
        presence = scale_out.presence
        limits = RateLimits.shared(settings, scale_out.counters)
    else:
        presence = Presence(settings.presence_grace_seconds)
        limits = RateLimits.from_settings(settings)
    hub = Hub(presence, settings.ws_max_queued_frames)
    channels = build_registry(settings)
    worker = Worker(db, poll_seconds=settings.worker_poll_seconds)
    writer = MessageWriter(db, conversations.publisher(db, bus))
    worker.register(DELIVER, DeliverReply(db, channels))
    link_secret = chat_link.server_secret(settings)
    link_lifetime = timedelta(hours=settings.chat_link_hours)
    worker.register(
        REDIRECT,
        SendRedirect(
            db,
            writer,
            channels,
            settings.public_url,
            link_secret=link_secret,
            link_lifetime=link_lifetime,
        ),
    )
    worker.register(
        FOLLOW_UP,
        MailUnreadReplies(
            db,
            channels,
            public_url=settings.public_url,
            link_secret=link_secret,
            link_lifetime=link_lifetime,
        ),
    )
    router = Router(db, bus, presence)
    if isinstance(presence, Presence):
        presence.on_change = lambda agent_id, status: publish_soon(
            bus, AgentPresenceChanged(agent_id, status)
        )
    if scale_out is not None:
        shared = scale_out.presence
        shared.publish = lambda event: publish_soon(bus, event)
        shared.notify_local = router.on_event
        # Before the router: its pass reads the snapshot this refreshes.
        bus.subscribe(shared.on_event)
        scale_out.bus.on_resync(hub.resync)
    worker.register(ANSWER_TIMEOUT, AnswerTimeout(db, router))
    worker.register(RECHECK, Recheck(router))
    planner.responder_settings.window_seconds = settings.auto_reply_window_seconds
    worker.register(
        AUTO_REPLY,
        SendAutoReply(
            db,
            writer,
            channels,
            router,
            public_url=settings.public_url,
            first_answer_seconds=settings.default_expected_reply_seconds,
            window_seconds=settings.auto_reply_window_seconds,
            agent_quiet_seconds=settings.auto_reply_agent_quiet_seconds,
        ),
    )
    schedule = AvailabilitySchedule(
        db, hub.dispatch, router, settings.default_expected_reply_seconds
    )
    # Reports: measurements folded as conversations change; the fold starts
    # SLA clocks and queues CSAT and the follow-up, all as jobs.
    rollup = Rollup(db, on_waits=sla.start_clocks, on_resolved=csat.plan_after_resolve)
    worker.register(sla.SLA_CHECK, sla.SlaCheck(db))
    worker.register(csat.CSAT_ASK, csat.AskForRating(db, writer, channels, settings.public_url))
    worker.register(csat.FOLLOW_UP, csat.FollowUp(db, writer, channels))
    bus.subscribe(hub.dispatch)
    bus.subscribe(worker.on_event)
    bus.subscribe(router.on_event)
    intake_cache = IntakeCache()
    bus.subscribe(intake_cache.on_event)
    bus.subscribe(schedule.on_event)
    bus.subscribe(rollup.on_event)
    return Runtime(
        settings=settings,
        db=db,
        bus=bus,
        hub=hub,
        presence=presence,
        writer=writer,
        limits=limits,
        channels=channels,
        worker=worker,
        router=router,
        scale_out=scale_out,
        intake_cache=intake_cache,
        schedule=schedule,
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
        if runtime.scale_out is not None:
            await runtime.scale_out.start()
        await runtime.writer.start()
        await runtime.worker.start()
        await runtime.router.start()
        # Widgets hear openings and closings; it asks the router for the queue.
        await runtime.schedule.start()
        await runtime.rollup.start()
        # The SMTP listener and IMAP readers hand mail to the writer: they
        # start after it and stop before it.
        email = EmailTransport(settings, runtime.db, runtime.writer)
        await email.start()
        # What start-up built (modules, models, routes) lives as long as the
        # process: frozen out of the cyclic collector's way, a full collection
        # walks only what the traffic made (it paused the chat for ~50 ms).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await email.stop()
            await runtime.rollup.stop()
            await runtime.schedule.stop()
            await runtime.router.stop()
            await runtime.worker.stop()
            await runtime.writer.stop()
            if runtime.scale_out is not None:
                await runtime.scale_out.stop()
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
        attachments_router,
        canned_router,
    ):
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        # Degraded still serves and stores (docs/operations.md): 200, so a
        # load balancer keeps it while Redis is down for every process.
        if app.state.runtime.bus.degraded:
            return {"status": "degraded", "detail": "Redis unreachable: live events stay local"}
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
