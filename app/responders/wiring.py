"""What the responders add to the runtime: the automatic reply and redirect
jobs, and the availability schedule (a background loop that tells widgets of
openings and closings)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from app.contacts import chat_link
from app.conversations import intake
from app.conversations.writer import MESSAGE_WRITER
from app.events.domain import Event
from app.responders import planner
from app.responders.answers import ResponderAnswers
from app.responders.auto_reply import SendAutoReply
from app.responders.availability import QUEUE_SOURCE
from app.responders.planner import AUTO_REPLY
from app.responders.redirect import REDIRECT, SendRedirect
from app.responders.schedule import AvailabilitySchedule
from app.runtime import Runtime
from app.worker.runner import WORKER


def install(runtime: Runtime, tell_local: Callable[[Event], None]) -> None:
    """`tell_local`: this process's sockets (the hub's dispatch)."""
    settings = runtime.settings
    db, writer, worker = runtime.db, runtime[MESSAGE_WRITER], runtime[WORKER]
    queue = runtime[QUEUE_SOURCE]
    worker.register(
        REDIRECT,
        SendRedirect(
            db,
            writer,
            runtime.channels,
            settings.public_url,
            link_secret=chat_link.server_secret(settings),
            link_lifetime=timedelta(hours=settings.chat_link_hours),
        ),
    )
    planner.responder_settings.window_seconds = settings.auto_reply_window_seconds
    planner.responder_settings.async_channels = runtime.channels.async_kinds()
    intake.answer_with(ResponderAnswers())
    worker.register(
        AUTO_REPLY,
        SendAutoReply(
            db,
            writer,
            runtime.channels,
            queue,
            public_url=settings.public_url,
            first_answer_seconds=settings.default_expected_reply_seconds,
            window_seconds=settings.auto_reply_window_seconds,
            agent_quiet_seconds=settings.auto_reply_agent_quiet_seconds,
        ),
    )
    schedule = AvailabilitySchedule(db, tell_local, queue, settings.default_expected_reply_seconds)
    runtime.loops.append(schedule)
    runtime.bus.subscribe(schedule.on_event)
