"""What reports add to the runtime: the rollup (a background loop and a bus
subscriber folding measurements as conversations change; the fold starts SLA
clocks and queues CSAT and the follow-up, all as jobs) and those jobs."""

from __future__ import annotations

from app.conversations.writer import MESSAGE_WRITER
from app.reports import csat, sla
from app.reports.rollup import ROLLUP, Rollup
from app.runtime import Runtime
from app.worker.runner import WORKER

# Several processes: what one that died left unfolded is folded within this.
CATCH_UP_SECONDS = 60.0


def install(runtime: Runtime) -> None:
    db, writer, worker = runtime.db, runtime[MESSAGE_WRITER], runtime[WORKER]
    rollup = Rollup(
        db,
        on_waits=sla.start_clocks,
        on_resolved=csat.plan_after_resolve,
        catch_up_seconds=CATCH_UP_SECONDS if runtime.settings.redis_url else None,
    )
    runtime.provide(ROLLUP, rollup)
    runtime.loops.append(rollup)
    # Each change is folded by the process that made it (its event is local
    # there), not by every process: the others' folds would find nothing new.
    runtime.bus.subscribe(rollup.on_event, local_only=True)
    worker.register(sla.SLA_CHECK, sla.SlaCheck(db))
    worker.register(
        csat.CSAT_ASK, csat.AskForRating(db, writer, runtime.channels, runtime.settings.public_url)
    )
    worker.register(csat.FOLLOW_UP, csat.FollowUp(db, writer, runtime.channels))
