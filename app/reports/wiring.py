"""What reports add to the runtime: the rollup (a background loop and a bus
subscriber folding measurements as conversations change; the fold starts SLA
clocks and queues CSAT and the follow-up, all as jobs) and those jobs."""

from __future__ import annotations

from app.conversations.writer import MESSAGE_WRITER
from app.reports import csat, sla
from app.reports.rollup import ROLLUP, Rollup
from app.runtime import Runtime
from app.worker.runner import WORKER


def install(runtime: Runtime) -> None:
    db, writer, worker = runtime.db, runtime[MESSAGE_WRITER], runtime[WORKER]
    rollup = Rollup(db, on_waits=sla.start_clocks, on_resolved=csat.plan_after_resolve)
    runtime.provide(ROLLUP, rollup)
    runtime.loops.append(rollup)
    runtime.bus.subscribe(rollup.on_event)
    worker.register(sla.SLA_CHECK, sla.SlaCheck(db))
    worker.register(
        csat.CSAT_ASK, csat.AskForRating(db, writer, runtime.channels, runtime.settings.public_url)
    )
    worker.register(csat.FOLLOW_UP, csat.FollowUp(db, writer, runtime.channels))
