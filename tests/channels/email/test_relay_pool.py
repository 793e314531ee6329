"""Replies reuse open sessions with the relay: a burst goes over a few
sessions, each mail once, and a session the relay dropped is replaced
without sending anything twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from app.channels.base import ChannelRetriableError, OutboundMessage, Sender
from app.channels.email.adapter import EmailAdapter, EmailConfig
from app.channels.email.outbound import Relay
from app.channels.email.relay_pool import RelayPool, send
from app.channels.registry import ChannelRegistry
from app.config import Settings
from app.conversations.outbox import DELIVER, DeliverReply
from app.conversations.writer import (
    JobSpec,
    MessageWriter,
    NewMessage,
    SenderIdentity,
    StoredMessage,
    ThreadRef,
)
from app.events.domain import MessageDeliveryChanged
from app.kit.clock import clock
from app.models import Inbox, Message
from app.worker.runner import BATCH, Worker
from tests.harness import migrated_database

INBOX = "help@shop.test"


@dataclass
class Relayed:
    """A real SMTP server that keeps what it receives and counts its sessions.
    `hang_up_after_data`: store the next mail, then drop the line without
    answering (the relay took it; we never heard)."""

    received: list[str] = field(default_factory=list)
    sessions: list[SMTP] = field(default_factory=list)
    quits: int = 0
    hang_up_after_data: bool = False
    port: int = 0

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.extend(envelope.rcpt_tos)
        if self.hang_up_after_data:
            self.hang_up_after_data = False
            assert server.transport is not None
            server.transport.abort()
        return "250 OK"

    async def handle_QUIT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.quits += 1
        return "221 Bye"

    def drop_everyone(self) -> None:
        for server in self.sessions:
            if server.transport is not None:
                server.transport.close()


@pytest.fixture
async def relayed() -> AsyncIterator[Relayed]:
    loop = asyncio.get_running_loop()
    keeper = Relayed()

    def session() -> SMTP:
        server = SMTP(keeper, hostname="relay.test", loop=loop)
        keeper.sessions.append(server)
        return server

    server = await loop.create_server(session, "127.0.0.1", 0)
    keeper.port = int(server.sockets[0].getsockname()[1])
    yield keeper
    keeper.drop_everyone()
    server.close()
    await server.wait_closed()


def reply(n: int) -> OutboundMessage:
    return OutboundMessage(
        conversation_id=n,
        message_id=n,
        recipient=Sender(external_id=f"c{n}@example.test", email=f"c{n}@example.test"),
        text=f"We have your mail {n}.",
        subject="Order",
        automatic=True,
    )


def pool_for(relayed: Relayed, **options: Any) -> RelayPool:
    return RelayPool(Relay(host="127.0.0.1", port=relayed.port, timeout=5), **options)


async def test_a_burst_goes_over_a_few_sessions_each_mail_once(relayed: Relayed) -> None:
    pool = pool_for(relayed, size=4)
    await asyncio.gather(*(send(pool, INBOX, reply(n)) for n in range(40)))
    assert sorted(relayed.received) == sorted(f"c{n}@example.test" for n in range(40))
    assert 1 <= pool.opened <= 4
    # A later mail takes a kept session too.
    await send(pool, INBOX, reply(40))
    assert pool.opened <= 4
    assert len(relayed.received) == 41
    await pool.close()
    assert pool.open == 0


async def test_a_session_the_relay_dropped_is_replaced_and_the_mail_goes_once(
    relayed: Relayed,
) -> None:
    pool = pool_for(relayed)
    await send(pool, INBOX, reply(1))
    relayed.drop_everyone()
    await asyncio.sleep(0)  # the close reaches nobody yet: found out at RSET, or before
    await send(pool, INBOX, reply(2))
    assert relayed.received == ["c1@example.test", "c2@example.test"]
    assert pool.opened == 2
    await pool.close()


async def test_a_line_dropped_after_the_mail_was_sent_is_not_sent_again(
    relayed: Relayed,
) -> None:
    """The relay stored the mail and the line dropped before its 250 reached
    us: the job retries later (same Message-ID), never at once on a new session."""
    pool = pool_for(relayed)
    await send(pool, INBOX, reply(1))
    relayed.hang_up_after_data = True
    with pytest.raises(ChannelRetriableError):
        await send(pool, INBOX, reply(2))
    assert relayed.received == ["c1@example.test", "c2@example.test"]
    # The pool carries on with a new session.
    await send(pool, INBOX, reply(3))
    assert relayed.received[-1] == "c3@example.test"
    assert len(relayed.received) == 3
    await pool.close()


async def test_idle_sessions_say_quit(relayed: Relayed) -> None:
    pool = pool_for(relayed, idle_seconds=0.01)
    await send(pool, INBOX, reply(1))
    for _ in range(200):
        if relayed.quits:
            break
        await asyncio.sleep(0.01)
    assert relayed.quits == 1
    assert pool.open == 0
    await pool.close()


async def test_the_adapter_sends_through_its_pool_and_closes_it(relayed: Relayed) -> None:
    adapter = EmailAdapter(Settings(smtp_relay=f"smtp://127.0.0.1:{relayed.port}"))
    config = EmailConfig(address=INBOX)
    receipts = await asyncio.gather(*(adapter.send(config, reply(n)) for n in range(6)))
    assert len({r.external_id for r in receipts}) == 6
    assert len(relayed.received) == 6
    assert adapter.relay_pool is not None
    assert adapter.relay_pool.opened <= 4
    await adapter.aclose()
    assert relayed.quits == adapter.relay_pool.opened


async def test_a_burst_of_replies_leaves_once_each_and_is_recorded_together(
    relayed: Relayed, tmp_path: Path
) -> None:
    """Through the worker, the outbox and the adapter: every reply reaches the
    relay once, over a few sessions; their delivery is stored in one
    transaction, and each message's change is published as before."""
    db = await migrated_database(tmp_path)
    events: list[Any] = []
    db.bus.subscribe(events.append)
    async with db.write() as session:
        inbox = Inbox(
            name="mail", channel="email", config={"address": INBOX}, created_at=clock.now()
        )
        session.add(inbox)
        await session.flush()
        inbox_id = inbox.id

    async def nothing(_: Sequence[StoredMessage]) -> None:
        return None

    writer = MessageWriter(db, nothing)
    await writer.start()
    senders = [f"c{n}@example.test" for n in range(BATCH)]
    customers = await asyncio.gather(
        *(
            writer.append(
                NewMessage(
                    inbox_id=inbox_id,
                    channel="email",
                    author_kind="customer",
                    body="Where is my parcel?",
                    thread=ThreadRef(customer_id=0, subject="Parcel"),
                    external_id=f"m{n}@example.test",
                    meta={"sender": {"external_id": who, "email": who}},
                    sender=SenderIdentity("email", "", who, email=who),
                )
            )
            for n, who in enumerate(senders)
        )
    )
    replies = await asyncio.gather(
        *(
            writer.append(
                NewMessage(
                    inbox_id=inbox_id,
                    channel="email",
                    author_kind="agent",
                    body="It is on its way.",
                    conversation_id=stored.conversation_id,
                    author_name="Aiko",
                    delivery_status="pending",
                    jobs=(JobSpec(DELIVER),),
                )
            )
            for stored in customers
        )
    )
    await writer.stop()
    adapter = EmailAdapter(Settings(smtp_relay=f"smtp://127.0.0.1:{relayed.port}"))
    worker = Worker(db, {DELIVER: DeliverReply(db, ChannelRegistry([adapter]))})
    writes = 0
    real_write = db.write

    def counted() -> Any:
        nonlocal writes
        writes += 1
        return real_write()

    db.write = counted  # type: ignore[method-assign]
    events.clear()
    assert await worker.run_due() == BATCH
    assert sorted(relayed.received) == sorted(senders)
    assert adapter.relay_pool is not None
    assert adapter.relay_pool.opened <= 4
    # The deliveries' record: one transaction for the replies that were sent together.
    assert writes < BATCH
    changed = [e for e in events if isinstance(e, MessageDeliveryChanged)]
    assert sorted(e.message["id"] for e in changed) == sorted(r.id for r in replies)
    assert {e.message["delivery_status"] for e in changed} == {"sent"}
    assert {e.scope.inbox_id for e in changed} == {inbox_id}
    async with db.read() as session:
        stored = (
            await session.execute(select(Message).where(Message.author_kind == "agent"))
        ).scalars()
        assert {(m.delivery_status, bool(m.delivered_external_id)) for m in stored} == {
            ("sent", True)
        }
    # Run again (a job's rerun): nothing is sent twice.
    assert await worker.run_due() == 0
    assert len(relayed.received) == BATCH
    await worker.stop()
    assert adapter.relay_pool.open == 0
    await db.dispose()
