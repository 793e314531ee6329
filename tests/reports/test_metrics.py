"""Reports on a seeded history match the figures computed by hand (seed.py),
business time across a weekend and a holiday included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import update

from app.models import Conversation, Message
from app.reports import service as reports
from app.reports.repository import ReportFilter
from app.reports.rollup import Rollup
from tests.harness import migrated_database
from tests.reports.seed import EXPECTED_TOKYO, PERIOD, TUESDAY, at, seed


async def test_summary_matches_the_hand_computed_figures(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    rollup = Rollup(db)
    got = await reports.summary(db, rollup, ReportFilter(*PERIOD, inbox_id=seeded.tokyo_inbox_id))
    for key, expected in EXPECTED_TOKYO.items():
        assert got[key] == expected, key
    assert got["messages"] == {"in": 6, "out": 5, "automatic": 1}
    assert got["sla"]["breaches"] == 1
    assert got["sla"]["breaches_by_target"]["first_response"] == 1
    await db.dispose()


async def test_a_duration_counts_in_the_period_where_it_ends(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    got = await reports.summary(
        db, Rollup(db), ReportFilter(*TUESDAY, inbox_id=seeded.tokyo_inbox_id)
    )
    # C1's first reply (Tuesday) after Friday's question, and C2's; not C3 (Wednesday).
    assert got["first_response"]["count"] == 2
    assert got["first_response"]["business_median"] == (3600 + 600) / 2
    assert got["conversations"] == {"opened": 1, "resolved": 2}
    assert got["csat"]["count"] == 2
    await db.dispose()


async def test_filters_by_inbox_agent_and_channel(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    rollup = Rollup(db)
    everything = await reports.summary(db, rollup, ReportFilter(*PERIOD))
    other = await reports.summary(db, rollup, ReportFilter(*PERIOD, inbox_id=seeded.other_inbox_id))
    # The other inbox has no hours: its business time is its wall time.
    assert other["first_response"] == {
        "count": 1,
        "median": 1800.0,
        "p90": 1800.0,
        "business_median": 1800.0,
        "business_p90": 1800.0,
    }
    assert everything["first_response"]["count"] == 4
    by_agent = await reports.summary(db, rollup, ReportFilter(*PERIOD, agent_id=seeded.agent_id))
    assert by_agent["response"]["count"] == 6
    nobody = await reports.summary(db, rollup, ReportFilter(*PERIOD, agent_id=seeded.agent_id + 1))
    assert nobody["response"] == {
        "count": 0,
        "median": None,
        "p90": None,
        "business_median": None,
        "business_p90": None,
    }
    assert nobody["csat"]["average"] is None
    email = await reports.summary(db, rollup, ReportFilter(*PERIOD, channel="email"))
    assert email["conversations"] == {"opened": 0, "resolved": 0}
    await db.dispose()


async def test_new_messages_are_folded_once(tmp_path: Path) -> None:
    """A second report after more history counts the new reply and nothing twice."""
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    rollup = Rollup(db)
    f = ReportFilter(*PERIOD, inbox_id=seeded.tokyo_inbox_id)
    await reports.summary(db, rollup, f)
    c3 = seeded.conversation_ids[2]
    async with db.write() as session:
        for seq, kind, when in ((6, "customer", at(26, 10)), (7, "agent", at(26, 10, 30))):
            session.add(
                Message(
                    conversation_id=c3,
                    inbox_id=seeded.tokyo_inbox_id,
                    seq=seq,
                    author_kind=kind,
                    body="more",
                    private=False,
                    author_agent_id=seeded.agent_id if kind == "agent" else None,
                    created_at=when,
                )
            )
        await session.execute(update(Conversation).where(Conversation.id == c3).values(last_seq=7))
    again = await reports.summary(db, rollup, f)
    assert again["response"]["count"] == 6
    assert again["first_response"] == EXPECTED_TOKYO["first_response"]
    assert await rollup.fold_all() == 0
    await db.dispose()


async def test_daily_series_in_the_inbox_time_zone(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    seeded = await seed(db)
    rows = await reports.timeseries(
        db,
        Rollup(db),
        ReportFilter(*PERIOD, inbox_id=seeded.tokyo_inbox_id),
        "day",
        ZoneInfo("Asia/Tokyo"),
    )
    assert len(rows) == 14
    by_day = {row["start"][:10]: row for row in rows}
    assert by_day["2026-11-20"]["opened"] == 1
    assert by_day["2026-11-24"]["resolved"] == 2
    assert by_day["2026-11-24"]["first_response"]["business_median"] == 2100.0
    assert by_day["2026-11-25"]["first_response"]["median"] == 4500.0
    assert by_day["2026-11-24"]["sla"]["breaches"] == 1
    assert by_day["2026-11-24"]["csat"]["distribution"]["5"] == 1
    csv_text = reports.series_csv(rows)
    assert csv_text.splitlines()[0].startswith("start,opened,resolved,first_response_count")
    assert len(csv_text.splitlines()) == 15
    hourly = await reports.timeseries(
        db, Rollup(db), ReportFilter(*TUESDAY), "hour", ZoneInfo("UTC")
    )
    assert len(hourly) == 24
    assert datetime.fromisoformat(hourly[0]["start"]) == TUESDAY[0].astimezone(UTC)
    assert sum(row["first_response"]["count"] for row in hourly) == 3
    assert timedelta(hours=1) == datetime.fromisoformat(
        hourly[1]["start"]
    ) - datetime.fromisoformat(hourly[0]["start"])
    await db.dispose()
