"""What conversations add to the runtime: the message writer (a background
loop), the outbox's delivery job and the intake's cache of inbox facts."""

from __future__ import annotations

from app.conversations.intake import INTAKE_CACHE, IntakeCache
from app.conversations.outbox import DELIVER, DeliverReply
from app.conversations.publishing import publisher
from app.conversations.writer import MESSAGE_WRITER, MessageWriter
from app.runtime import Runtime
from app.worker.runner import WORKER


def install(runtime: Runtime) -> None:
    writer = MessageWriter(runtime.db, publisher(runtime.db, runtime.bus))
    runtime.provide(MESSAGE_WRITER, writer)
    runtime.loops.append(writer)
    runtime[WORKER].register(DELIVER, DeliverReply(runtime.db, runtime.channels))
    cache = runtime.provide(INTAKE_CACHE, IntakeCache())
    runtime.bus.subscribe(cache.on_event)
