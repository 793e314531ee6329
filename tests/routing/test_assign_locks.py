"""Assignment passes side by side, as two processes would run them: on
PostgreSQL through two connection pools (row locks keep them apart); on
SQLite through one database (its single writer does). Either way no room is
filled twice and no conversation is given twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.kit.clock import clock
from app.models import Agent, Conversation, Customer, Inbox
from app.routing import pass_store
from app.routing import repository as routing_repo
from app.routing.assign import Assigner
from tests.harness import migrated_database

AGENTS = 10
CAPACITY = 3
WAITING = 200


async def _seed(db: Database) -> None:
    now = clock.now()
    async with db.write() as session:
        session.add(Inbox(id=1, name="web", channel="web", mode="live", config={}, created_at=now))
        session.add_all(
            Agent(
                id=n,
                email=f"{n}@x.test",
                name=str(n),
                password_hash="-",
                role="agent",
                capacity=CAPACITY,
                skills=[],
                created_at=now,
            )
            for n in range(1, AGENTS + 1)
        )
        session.add_all(Customer(id=n, created_at=now) for n in range(1, WAITING + 1))
        await session.flush()
        session.add_all(
            Conversation(
                id=n,
                inbox_id=1,
                customer_id=n,
                status="open",
                created_at=now,
                updated_at=now,
                # Arrival order is the reverse of id order here: the queue
                # follows arrival, not ids.
                queued_at=now - timedelta(seconds=n),
            )
            for n in range(1, WAITING + 1)
        )


async def test_passes_side_by_side_never_overfill_or_double_assign(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    await _seed(db)
    # Another process's pool on the same database (PostgreSQL); SQLite runs one.
    other = db if db.is_sqlite else Database(Settings(database_url=db.url), MemoryBus())
    online = list(range(1, AGENTS + 1))

    async def one_pass(database: Database) -> list[int]:
        assigner = Assigner(is_postgres=not database.is_sqlite)
        outcome = await database.write_batch(lambda conn: assigner.run(conn, online, clock.now()))
        return [a.conversation_id for a in outcome.assigned]

    try:
        results = await asyncio.gather(*(one_pass(d) for d in [db, other] * 8))
        loads = await db.write_batch(pass_store.loads)
        async with db.read() as session:
            waiting = await routing_repo.queue(session)
    finally:
        if other is not db:
            await other.dispose()
        await db.dispose()
    given = [c for result in results for c in result]
    assert len(given) == len(set(given)) == AGENTS * CAPACITY
    assert loads == {a: CAPACITY for a in online}
    # The first to arrive (highest ids here) were served, the rest wait in order.
    assert sorted(given) == list(range(WAITING - AGENTS * CAPACITY + 1, WAITING + 1))
    assert [c for c, _, _ in waiting] == list(range(WAITING - AGENTS * CAPACITY, 0, -1))
