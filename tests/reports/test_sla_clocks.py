"""SLA clocks below the HTTP surface: started by the fold in its own commit,
due in business time, stopped by a reply, and firing once even when a job
runs twice (a crash after its commit, before it was marked done)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from app.events.domain import Event, SlaAlert
from app.models import Job, SlaEvent
from app.reports import sla
from app.reports.rollup import Rollup
from app.reports.schemas import ServicePolicyIn
from tests.harness import migrated_database
from tests.reports.seed import at, seed


async def test_clocks_start_in_business_time_and_fire_once(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    # 30 business minutes to a first reply, 2 business hours to resolve.
    await sla.set_policy(
        db,
        seeded.tokyo_inbox_id,
        ServicePolicyIn(first_response_seconds=1800, resolution_seconds=7200, warning_ratio=0.5),
    )
    await Rollup(db, on_waits=sla.start_clocks).fold_all()
    async with db.read() as session:
        jobs = list((await session.execute(select(Job).where(Job.kind == sla.SLA_CHECK))).scalars())
    c3 = seeded.conversation_ids[2]
    # C3 is the only open conversation of the inbox: its customer wrote at
    # 08:00 before opening, so both clocks run from 09:00.
    due = {(j.payload["target"], j.payload["phase"]): j.due_at for j in jobs}
    assert {j.payload["conversation_id"] for j in jobs} == {c3}
    assert due == {
        ("first_response", "warning"): at(25, 9, 15),
        ("first_response", "breach"): at(25, 9, 30),
        ("resolution", "warning"): at(25, 10),
        ("resolution", "breach"): at(25, 11),
    }
    published: list[Event] = []
    db.bus.subscribe(published.append)
    check = sla.SlaCheck(db)
    by_key = {(j.payload["target"], j.payload["phase"]): j.payload for j in jobs}
    # C3 was answered at 09:15: the first-response clock had stopped.
    await check.run(by_key[("first_response", "breach")])
    # Resolution: still open, so it breaches; run twice, it fires once.
    await check.run(by_key[("resolution", "breach")])
    await check.run(by_key[("resolution", "breach")])
    async with db.read() as session:
        marks = (
            await session.execute(select(SlaEvent.target, func.count()).group_by(SlaEvent.target))
        ).all()
    assert {(target, n) for target, n in marks} == {("resolution", 1), ("first_response", 1)}
    # (the seed's own Friday breach of C1 is the first_response mark)
    alerts = [e for e in published if isinstance(e, SlaAlert)]
    assert [(a.target, a.phase, a.scope.conversation_id) for a in alerts] == [
        ("resolution", "breach", c3)
    ]
    assert datetime.fromisoformat(alerts[0].due_at) == at(25, 11)
    # A second fold starts nothing new.
    await Rollup(db, on_waits=sla.start_clocks).fold_all()
    async with db.read() as session:
        count = (
            await session.execute(select(func.count()).where(Job.kind == sla.SLA_CHECK))
        ).scalar_one()
    assert count == len(jobs)
    await db.dispose()
