"""First contact in the writer's commit: a sender never seen before becomes a
customer with their identity in the same group commit as their first
message, once per identity however the senders' messages fall into batches,
and another process's customer for the same identity wins without leaving an
orphan behind."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.config import Settings
from app.conversations import batch_store
from app.conversations.writer import (
    MessageWriter,
    NewMessage,
    SenderIdentity,
    StoredMessage,
    ThreadRef,
)
from app.db import Database
from app.events.bus import MemoryBus
from app.kit.clock import clock
from app.models import Customer, Identity, Inbox
from tests.harness import migrated_database


async def _nothing(_: Sequence[StoredMessage]) -> None:
    return None


async def _inbox(db: Database) -> int:
    async with db.write() as session:
        inbox = Inbox(name="tg", channel="telegram", config={}, created_at=clock.now())
        session.add(inbox)
        await session.flush()
        return inbox.id


def _first(inbox_id: int, who: str, n: int, name: str | None = None) -> NewMessage:
    return NewMessage(
        inbox_id=inbox_id,
        channel="telegram",
        author_kind="customer",
        body=f"hello {n}",
        thread=ThreadRef(customer_id=0),
        external_id=f"update-{n}",
        sender=SenderIdentity("telegram", "", who, name=name),
    )


async def _rows(db: Database, sql: str) -> list[Any]:
    async with db.read() as session:
        return list((await session.execute(text(sql))).all())


async def test_new_senders_become_customers_in_the_messages_commit(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    inbox_id = await _inbox(db)
    writer = MessageWriter(db, _nothing)
    await writer.start()
    # Queued together, so they share batches: two senders twice each, one once.
    senders = ["chat-1", "chat-2", "chat-1", "chat-3", "chat-2"]
    stored = await asyncio.gather(
        *(
            writer.append(_first(inbox_id, who, n, name=f"Name {who}"))
            for n, who in enumerate(senders)
        )
    )
    by_sender: dict[str, set[int]] = {}
    for who, message in zip(senders, stored, strict=True):
        by_sender.setdefault(who, set()).add(message.customer_id)
    assert all(len(ids) == 1 for ids in by_sender.values()), "one customer per sender"
    assert len({next(iter(ids)) for ids in by_sender.values()}) == 3
    # Each sender's messages are one conversation, opened by the first.
    assert len({m.conversation_id for m in stored}) == 3
    assert sum(m.opened for m in stored) == 3

    # Writing again later finds the same customer, creates nothing.
    again = await writer.append(_first(inbox_id, "chat-1", 99))
    assert again.customer_id in by_sender["chat-1"]
    await writer.stop()

    identities = await _rows(
        db, "SELECT external_id, customer_id, verified FROM identities ORDER BY external_id"
    )
    assert [(r[0], bool(r[2])) for r in identities] == [
        ("chat-1", True),
        ("chat-2", True),
        ("chat-3", True),
    ]
    assert {r[0]: {r[1]} for r in identities} == by_sender
    customers = await _rows(db, "SELECT id, name FROM customers ORDER BY id")
    assert len(customers) == 3, "no customer without its identity"
    assert {r[1] for r in customers} == {"Name chat-1", "Name chat-2", "Name chat-3"}
    await db.dispose()


async def test_a_nameless_customer_takes_the_name_a_later_message_gives(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    inbox_id = await _inbox(db)
    writer = MessageWriter(db, _nothing)
    await writer.start()
    first = await writer.append(_first(inbox_id, "U1", 1))
    later = await writer.append(_first(inbox_id, "U1", 2, name="Hana"))
    await writer.stop()
    assert later.customer_id == first.customer_id
    assert await _rows(db, "SELECT name FROM customers") == [("Hana",)]
    await db.dispose()


async def test_an_identity_made_meanwhile_elsewhere_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process created the sender's customer after this batch looked:
    the batch's insert of the identity does nothing, its own new customer is
    deleted again, and the message goes to the other process's customer."""
    db = await migrated_database(tmp_path)
    inbox_id = await _inbox(db)
    async with db.write() as session:
        theirs = Customer(name="Theirs", created_at=clock.now())
        session.add(theirs)
        await session.flush()
        session.add(
            Identity(
                customer_id=theirs.id,
                channel="telegram",
                namespace="",
                external_id="chat-raced",
                verified=True,
                created_at=clock.now(),
            )
        )
        theirs_id = theirs.id
    looked = batch_store._identity_owners
    calls = 0

    def late_look(conn: Any, keys: Any) -> Any:
        # The first look happens before the other process's commit.
        nonlocal calls
        calls += 1
        return {} if calls == 1 else looked(conn, keys)

    monkeypatch.setattr(batch_store, "_identity_owners", late_look)
    writer = MessageWriter(db, _nothing)
    await writer.start()
    raced, fresh = await asyncio.gather(
        writer.append(_first(inbox_id, "chat-raced", 1, name="Ours")),
        writer.append(_first(inbox_id, "chat-new", 2, name="New")),
    )
    await writer.stop()
    assert raced.customer_id == theirs_id
    assert fresh.customer_id != theirs_id
    customers = await _rows(db, "SELECT name FROM customers ORDER BY id")
    assert customers == [("Theirs",), ("New",)], "the batch's customer for the raced id is gone"
    owners = await _rows(db, "SELECT external_id, customer_id FROM identities ORDER BY id")
    assert owners == [("chat-raced", theirs_id), ("chat-new", fresh.customer_id)]
    await db.dispose()


async def test_two_processes_meeting_new_senders_make_one_customer_each(tmp_path: Path) -> None:
    """Two writers on one database (as two `serve` processes), each given
    the first messages of the same new senders at once: every sender ends up
    one customer with one identity, and both processes' messages are theirs."""
    db = await migrated_database(tmp_path)
    if db.is_sqlite:
        await db.dispose()
        pytest.skip("several processes share PostgreSQL; one serve per SQLite database")
    other = Database(Settings(data_dir=tmp_path, database_url=db.url), MemoryBus())
    inbox_id = await _inbox(db)
    writers = [MessageWriter(db, _nothing), MessageWriter(other, _nothing)]
    for writer in writers:
        await writer.start()
    senders = [f"chat-{n}" for n in range(40)]
    stored = await asyncio.gather(
        *(
            writer.append(_first(inbox_id, who, n * 2 + w))
            for n, who in enumerate(senders)
            for w, writer in enumerate(writers)
        )
    )
    for writer in writers:
        await writer.stop()
    owners = dict(await _rows(db, "SELECT external_id, customer_id FROM identities"))
    assert sorted(owners) == sorted(senders)
    for index, message in enumerate(stored):
        assert message.customer_id == owners[senders[index // 2]]
    customers = await _rows(db, "SELECT id FROM customers")
    assert sorted(r[0] for r in customers) == sorted(owners.values()), "no orphan customer"
    await other.dispose()
    await db.dispose()
