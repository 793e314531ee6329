"""The report per agent on the seeded history, and first-response SLA
attainment against the inbox's target."""

from __future__ import annotations

from pathlib import Path

from app.kit.clock import clock
from app.models import Agent, ServicePolicy
from app.reports.agent_report import agent_report
from app.reports.repository import ReportFilter
from app.reports.rollup import Rollup
from tests.harness import migrated_database
from tests.reports.seed import EXPECTED_TOKYO, PERIOD, seed


async def test_each_agent_has_a_row_with_their_figures(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    async with db.write() as session:
        # 30 business minutes: C1 (60) missed, C2 (10) and C3 (15) met.
        session.add(
            ServicePolicy(
                inbox_id=seeded.tokyo_inbox_id, first_response_seconds=1800, updated_at=clock.now()
            )
        )
        idle = Agent(
            email="idle@example.com",
            name="Idle",
            password_hash="x",
            role="agent",
            created_at=clock.now(),
        )
        session.add(idle)
    rollup = Rollup(db)

    tokyo = await agent_report(db, rollup, ReportFilter(*PERIOD, inbox_id=seeded.tokyo_inbox_id))
    assert tokyo["first_response_sla"] == {"due": 3, "met": 2, "rate": 0.6667}
    [row] = tokyo["items"]  # the idle agent did nothing: no row
    assert row["agent_id"] == seeded.agent_id
    assert row["name"] == "Seed Agent"
    assert row["conversations"] == 3
    assert row["first_response"] == EXPECTED_TOKYO["first_response"]
    assert row["resolution"] == EXPECTED_TOKYO["resolution"]
    assert row["csat"] == EXPECTED_TOKYO["csat"]
    assert row["first_response_sla"] == {"due": 3, "met": 2, "rate": 0.6667}

    # Everywhere: C4's inbox has no target, so it is answered but not due.
    everywhere = await agent_report(db, rollup, ReportFilter(*PERIOD))
    assert everywhere["items"][0]["conversations"] == 4
    assert everywhere["first_response_sla"]["due"] == 3
    nobody = await agent_report(db, rollup, ReportFilter(*PERIOD, agent_id=seeded.agent_id + 99))
    assert nobody["items"] == []
    assert nobody["first_response_sla"] == {"due": 0, "met": 0, "rate": None}
    await db.dispose()


async def test_an_unanswered_breach_counts_as_missed(tmp_path: Path) -> None:
    """C1's clock ran out on Tuesday 09:00; its reply came at 09:30. A period
    that ends between the two counts it once, as missed."""
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    async with db.write() as session:
        session.add(
            ServicePolicy(
                inbox_id=seeded.tokyo_inbox_id, first_response_seconds=1800, updated_at=clock.now()
            )
        )
    start = PERIOD[0]
    end = start.replace(day=24, hour=9, minute=15)
    got = await agent_report(db, Rollup(db), ReportFilter(start, end))
    assert got["first_response_sla"] == {"due": 1, "met": 0, "rate": 0.0}
    assert got["items"][0]["first_response_sla"] == {"due": 1, "met": 0, "rate": 0.0}
    # Up to the end of the period, the late reply is the one count.
    whole = await agent_report(db, Rollup(db), ReportFilter(*PERIOD))
    assert whole["first_response_sla"] == {"due": 3, "met": 2, "rate": 0.6667}
    await db.dispose()
