"""What routing adds to the runtime: the router (a background loop and a bus
subscriber; the queue that availability and the responders read) and its
jobs."""

from __future__ import annotations

from app.agents.presence import PRESENCE
from app.agents.service import AGENT_CHANGES
from app.responders.availability import QUEUE_SOURCE
from app.routing.assign import ANSWER_TIMEOUT, RECHECK
from app.routing.router import ROUTER, Router
from app.routing.tasks import AnswerTimeout, Recheck
from app.runtime import Runtime
from app.worker.runner import WORKER


def install(runtime: Runtime) -> Router:
    router = Router(runtime.db, runtime.bus, runtime[PRESENCE])
    runtime.provide(ROUTER, router)
    runtime.provide(QUEUE_SOURCE, router)
    runtime.provide(AGENT_CHANGES, router)
    runtime.loops.append(router)
    worker = runtime[WORKER]
    worker.register(ANSWER_TIMEOUT, AnswerTimeout(runtime.db, router))
    worker.register(RECHECK, Recheck(router))
    return router
