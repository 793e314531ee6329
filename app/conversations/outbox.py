"""The outbox: an agent's reply on a channel with its own send leaves here.

The reply's `deliver` job is committed with the reply (writer.JobSpec), so a
crash can never keep a stored reply from being sent. The worker runs the job:
it builds the `OutboundMessage`, hands it to the channel's `send`, and records
the outcome on the message, where the agent sees it. The outcomes of the
sends that end together (a burst of acknowledgements, run side by side by the
worker) are recorded in one transaction (`record_deliveries`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update

from app.channels.base import DeliveryUpdate, OutboundMessage, PriorMessage, Sender
from app.channels.registry import ChannelRegistry
from app.conversations import repository as conversations_repo
from app.conversations.access import scope_of
from app.conversations.schemas import stored_message_out
from app.db import Database
from app.events.bus import publish_after_commit
from app.events.domain import MessageDeliveryChanged
from app.inboxes import repository as inboxes_repo
from app.kit.background import Closing
from app.kit.coalesce import Coalescer
from app.kit.logs import redact
from app.models import Message

log = logging.getLogger(__name__)

DELIVER = "deliver"
# Email References grow with the thread; the latest ones are what threads it.
MAX_REFERENCES = 20


class DeliverReply:
    """The `deliver` job's handler."""

    def __init__(self, db: Database, channels: ChannelRegistry) -> None:
        self.db = db
        self.channels = channels
        self._records: Coalescer[DeliveryRecord, None] = Coalescer(
            lambda records: record_deliveries(self.db, records)
        )

    async def run(self, payload: dict[str, Any]) -> None:
        message_id = int(payload["message_id"])
        async with self.db.read() as session:
            message = await conversations_repo.message(session, message_id)
            if message is None or message.delivery_status != "pending":
                return  # gone, or delivered by an earlier run of this job
            row = await conversations_repo.get_with_refs(session, message.conversation_id)
            assert row is not None
            conversation, inbox, customer, _ = row
            prior = await conversations_repo.latest_customer_message(session, conversation.id)
            references = await conversations_repo.platform_ids(
                session, conversation.id, MAX_REFERENCES
            )
        adapter = self.channels[inbox.channel]
        config = adapter.config_model.model_validate(inbox.config)
        # Whom to answer: the customer's latest message names them; a message
        # that opened a conversation on another channel names its recipient.
        named = (prior.meta or {}).get("sender") if prior else (message.meta or {}).get("recipient")
        sender: dict[str, Any] = dict(named or {})
        # An automatic message to an address nobody vouched for (maybe a
        # forged sender, maybe a stranger's address typed into the widget)
        # repeats nothing they wrote: no name, no subject of theirs
        # (responders/auto_reply.py and contacts/follow_up.py mark it).
        plain = message.author_kind == "system" and "unverified_recipient" in (message.meta or {})
        outbound = OutboundMessage(
            conversation_id=conversation.id,
            message_id=message.id,
            recipient=Sender(
                external_id=str(sender.get("external_id") or ""),
                name=None if plain else sender.get("name") or customer.name,
                email=sender.get("email") or customer.email,
                phone=sender.get("phone") or customer.phone,
            ),
            text=message.body,
            author_name=message.author_name,
            thread_key=conversation.thread_key,
            subject=None if plain and prior is not None else conversation.subject,
            references=references,
            last_inbound=PriorMessage(
                external_id=prior.external_id,
                received_at=prior.created_at,
                channel_data=(prior.meta or {}).get("channel_data") or {},
            )
            if prior is not None
            else None,
            automatic=message.author_kind == "system",
        )
        receipt = await adapter.send(config, outbound)
        await self._records.submit(
            DeliveryRecord(message_id, "sent", delivered_external_id=receipt.external_id)
        )

    async def aclose(self) -> None:
        """The worker stops: the last records are written, and the channels'
        open connections (the mail relay's sessions) closed."""
        await self._records.idle()
        for adapter in self.channels:
            if isinstance(adapter, Closing):
                await adapter.aclose()

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        await self._records.submit(
            DeliveryRecord(int(payload["message_id"]), "failed", error=redact(error))
        )


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """What became of an outbound message, as the message stores it."""

    message_id: int
    status: str
    error: str | None = None
    delivered_external_id: str | None = None


async def record_deliveries(db: Database, records: Sequence[DeliveryRecord]) -> list[None]:
    """Stores the records in one transaction; after its commit, each message's
    `MessageDeliveryChanged` (the agents' consoles show the status)."""
    if not records:
        return []
    async with db.write() as session:
        # One statement run for every row (executemany); Core's, so a message
        # erased meanwhile is no error (the ORM's by-key update counts rows).
        table = cast(Table, Message.__table__)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                delivery_status=bindparam("b_status"),
                delivery_error=bindparam("b_error"),
                delivered_external_id=bindparam("b_external_id"),
            ),
            [
                {
                    "b_id": r.message_id,
                    "b_status": r.status,
                    "b_error": r.error,
                    "b_external_id": r.delivered_external_id,
                }
                for r in records
            ],
        )
        ids = sorted({r.message_id for r in records})
        messages = {
            m.id: m
            for m in (await session.execute(select(Message).where(Message.id.in_(ids)))).scalars()
        }
        refs = await conversations_repo.get_many_with_refs(
            session, sorted({m.conversation_id for m in messages.values()})
        )
        teams: dict[int, tuple[int, ...]] = {}
        for message_id in ids:
            message = messages.get(message_id)
            if message is None:
                continue  # erased meanwhile
            conversation, inbox, _, _ = refs[message.conversation_id]
            if inbox.id not in teams:
                teams[inbox.id] = await inboxes_repo.team_ids(session, inbox.id)
            publish_after_commit(
                session,
                MessageDeliveryChanged(
                    scope=scope_of(conversation, teams[inbox.id]),
                    message=stored_message_out(message, inbox.channel),
                ),
            )
    for r in records:
        if r.status == "failed":
            log.warning("message %s not delivered: %s", r.message_id, r.error)
    return [None] * len(records)


async def apply_delivery_update(db: Database, inbox_id: int, update: DeliveryUpdate) -> None:
    """The platform's later word on what we sent: a failure the agent must see."""
    async with db.read() as session:
        message_id = await conversations_repo.message_id_by_delivered_id(
            session, inbox_id, update.external_id
        )
    if message_id is None:
        return
    error = redact(update.error) if update.error else None
    await record_deliveries(
        db, [DeliveryRecord(message_id, update.status, error, update.external_id)]
    )
