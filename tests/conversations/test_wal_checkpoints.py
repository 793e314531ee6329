"""The writer commits small batches without SQLite's own auto-checkpoint; a
checkpointer thread keeps the WAL from growing without bound."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text

from app.conversations.writer import MessageWriter, NewMessage, StoredMessage, ThreadRef
from app.kit.clock import clock
from app.models import Customer, Inbox
from tests.harness import migrated_database


async def test_the_wal_is_checkpointed_while_the_writer_writes(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    if not db.is_sqlite:
        pytest.skip("SQLite's WAL")
    async with db.write() as session:
        inbox = Inbox(name="chat", channel="web", config={}, created_at=clock.now())
        customer = Customer(name="c", created_at=clock.now())
        session.add_all([inbox, customer])
        await session.flush()
        inbox_id, customer_id = inbox.id, customer.id

    async def nothing(_: Sequence[StoredMessage]) -> None:
        return None

    writer = MessageWriter(db, nothing)
    await writer.start()
    body = "x" * 4000
    # ~120 MB of WAL frames in batches of one (each commits on the loop).
    for n in range(3000):
        await writer.append(
            NewMessage(
                inbox_id=inbox_id,
                channel="web",
                author_kind="customer",
                body=body,
                thread=ThreadRef(customer_id=customer_id),
                external_id=f"m{n}",
            )
        )
    await writer.stop()
    wal = Path(f"{tmp_path}/madoguchi.db-wal")
    assert wal.exists()
    # Without checkpoints it holds every frame; with them it starts over, and
    # holds about what a tenth of a second wrote.
    assert wal.stat().st_size < 40_000_000, "checkpoints let the WAL start over"
    async with db.read() as session:
        stored = (await session.execute(text("SELECT count(*) FROM messages"))).scalar()
    assert stored == 3000
    await db.dispose()
