"""The rollup folds at once only what can measure: a waiting customer's
follow-ups wait for the sweep, and the report still counts them exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from app.events.domain import ConversationScope, MessageStored
from app.models import ReportCursor
from app.reports.rollup import Rollup
from tests.harness import migrated_database
from tests.reports.seed import seed


def _stored(conversation_id: int, author: str, *, private: bool = False) -> MessageStored:
    scope = ConversationScope(conversation_id, 1, 1, None, None, (), "open")
    return MessageStored(scope, {"author": {"kind": author}, "private": private})


async def test_only_changes_that_can_measure_wake_the_fold(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    rollup = Rollup(db)
    rollup.on_event(_stored(7, "customer"))
    assert rollup._dirty == {7}, "the first question starts a wait: folded soon"
    rollup._dirty.clear()
    for _ in range(3):
        rollup.on_event(_stored(7, "customer"))
    rollup.on_event(_stored(7, "agent", private=True))
    rollup.on_event(_stored(7, "system"))
    assert rollup._dirty == set(), "follow-ups, notes and system messages measure nothing"
    assert rollup._lagging == {7}, "their cursor moves with the sweep"
    rollup.on_event(_stored(7, "agent"))
    assert rollup._dirty == {7}, "an answer measures a response: folded soon"
    rollup._dirty.clear()
    rollup.on_event(_stored(7, "customer"))
    assert rollup._dirty == {7}, "a question after the answer starts a new wait"
    await db.dispose()


async def test_a_change_no_event_told_here_is_folded_by_the_catch_up(tmp_path: Path) -> None:
    """Several processes: each folds its own changes; what one that died left
    (no event reached anyone) is folded by the others' catch-up."""
    db = await migrated_database(tmp_path)
    rollup = Rollup(db, catch_up_seconds=0.05)
    await rollup.start()
    try:
        seeded = await seed(db)
        for _ in range(200):
            async with db.read() as session:
                folded = (
                    await session.execute(select(func.count()).select_from(ReportCursor))
                ).scalar_one()
            if folded == len(seeded.conversation_ids):
                break
            await asyncio.sleep(0.05)
        assert folded == len(seeded.conversation_ids)
    finally:
        await rollup.stop()
        await db.dispose()
