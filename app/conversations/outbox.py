"""The outbox: an agent's reply on a channel with its own send leaves here.

The reply's `deliver` job is committed with the reply (writer.JobSpec), so a
crash can never keep a stored reply from being sent. The worker runs the job:
it builds the `OutboundMessage`, hands it to the channel's `send`, and records
the outcome on the message, where the agent sees it.
"""

from __future__ import annotations

import logging
from typing import Any

from app.channels.base import DeliveryUpdate, OutboundMessage, PriorMessage, Sender
from app.channels.registry import ChannelRegistry
from app.conversations import repository as conversations_repo
from app.conversations.access import scope_of
from app.conversations.schemas import stored_message_out
from app.db import Database
from app.events.bus import publish_after_commit
from app.events.domain import MessageDeliveryChanged
from app.inboxes import repository as inboxes_repo
from app.kit.logs import redact

log = logging.getLogger(__name__)

DELIVER = "deliver"
# Email References grow with the thread; the latest ones are what threads it.
MAX_REFERENCES = 20


class DeliverReply:
    """The `deliver` job's handler."""

    def __init__(self, db: Database, channels: ChannelRegistry) -> None:
        self.db = db
        self.channels = channels

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
        await _record_delivery(
            self.db, message_id, status="sent", delivered_external_id=receipt.external_id
        )

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        await _record_delivery(
            self.db, int(payload["message_id"]), status="failed", error=redact(error)
        )


async def _record_delivery(
    db: Database,
    message_id: int,
    *,
    status: str,
    error: str | None = None,
    delivered_external_id: str | None = None,
) -> None:
    async with db.write() as session:
        await conversations_repo.set_delivery(
            session,
            message_id,
            status=status,
            error=error,
            delivered_external_id=delivered_external_id,
        )
        message = await conversations_repo.message(session, message_id)
        if message is None:
            return
        await session.refresh(message)
        row = await conversations_repo.get_with_refs(session, message.conversation_id)
        assert row is not None
        conversation, inbox, _, _ = row
        publish_after_commit(
            session,
            MessageDeliveryChanged(
                scope=scope_of(conversation, await inboxes_repo.team_ids(session, inbox.id)),
                message=stored_message_out(message, inbox.channel),
            ),
        )
    if status == "failed":
        log.warning("message %s not delivered: %s", message_id, error)


async def apply_delivery_update(db: Database, inbox_id: int, update: DeliveryUpdate) -> None:
    """The platform's later word on what we sent: a failure the agent must see."""
    async with db.read() as session:
        message_id = await conversations_repo.message_id_by_delivered_id(
            session, inbox_id, update.external_id
        )
    if message_id is None:
        return
    await _record_delivery(
        db,
        message_id,
        status=update.status,
        error=redact(update.error) if update.error else None,
        delivered_external_id=update.external_id,
    )
