"""One intake for every channel, the widget included.

A channel hands over an `InboundMessage`; the intake finds the customer by the
sender's identity and gives the message to the writer with the thread it
belongs to. The writer stores it once per (inbox, external_id), and finds or
opens its conversation in the same commit, so there is never a conversation
without its first message, and no event leaves before the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import (
    ChannelParseError,
    ChannelVerificationError,
    DeliveryUpdate,
    InboundMessage,
    InboundRequest,
    WebhookAnswer,
)
from app.channels.registry import ChannelRegistry
from app.channels.web.adapter import WebConfig
from app.contacts import service as contacts
from app.conversations import outbox
from app.conversations.writer import (
    JobSpec,
    MessageWriter,
    NewMessage,
    StoredMessage,
    ThreadRef,
    WithRows,
)
from app.db import Database
from app.errors import BadRequest, Forbidden, NotAuthenticated, NotFound
from app.inboxes import repository as inboxes_repo
from app.models import Inbox


@dataclass(frozen=True, slots=True)
class InboxFacts:
    """What the intake needs of an inbox, as plain values: every idle widget
    socket holds one."""

    id: int
    channel: str
    mode: str
    team_ids: tuple[int, ...]
    # Where this inbox's sender ids are unique (see Identity.namespace).
    identity_namespace: str


async def inbox_facts(session: AsyncSession, inbox: Inbox) -> InboxFacts:
    return InboxFacts(
        id=inbox.id,
        channel=inbox.channel,
        mode=inbox.mode,
        team_ids=await inboxes_repo.team_ids(session, inbox.id),
        identity_namespace=identity_namespace(inbox),
    )


def identity_namespace(inbox: Inbox) -> str:
    """A site's own user ids are scoped to its inbox (or the namespace an admin
    shares between inboxes); platform ids and addresses are global."""
    if inbox.channel == "web":
        return WebConfig.model_validate(inbox.config).namespace(inbox.id)
    return ""


async def receive(
    db: Database,
    writer: MessageWriter,
    inbox: InboxFacts,
    inbound: InboundMessage,
    *,
    customer_id: int | None = None,
    client_id: str | None = None,
    origin_connection: str | None = None,
    jobs: Sequence[JobSpec] = (),
    extra_meta: Mapping[str, Any] | None = None,
    with_rows: WithRows | None = None,
) -> StoredMessage:
    """Stores a customer's message (or finds it stored before) and returns it
    after the commit. `customer_id` is given when the channel knows the customer
    already (a widget session); otherwise the sender's identity decides.
    `extra_meta` adds to the message's meta (an email's flags); `with_rows`
    writes rows of the channel's own in the message's commit."""
    if customer_id is None:
        async with db.write() as session:
            customer = await contacts.customer_for_sender(
                session, inbox.channel, inbox.identity_namespace, inbound.sender
            )
            customer_id = customer.id
    return await writer.append(
        NewMessage(
            inbox_id=inbox.id,
            channel=inbox.channel,
            author_kind="customer",
            author_name=inbound.sender.name,
            body=inbound.text,
            thread=ThreadRef(
                customer_id=customer_id,
                thread_key=inbound.thread_key,
                in_reply_to=tuple(inbound.in_reply_to),
                subject=inbound.subject,
            ),
            client_id=client_id,
            external_id=inbound.external_id,
            meta=_meta(inbound, inbox)
            if not extra_meta
            else {**(_meta(inbound, inbox) or {}), **extra_meta},
            automatic=inbound.automatic,
            jobs=tuple(jobs),
            inbox_team_ids=inbox.team_ids,
            origin_connection=origin_connection,
            with_rows=with_rows,
        )
    )


def _meta(inbound: InboundMessage, inbox: InboxFacts) -> dict[str, Any] | None:
    """What later work needs of the delivery: whom to answer (the outbox), what
    the channel keeps for its reply, whether a machine wrote it (responders).
    The widget's own messages need none of it."""
    if inbox.channel == "web" and not inbound.attachments and not inbound.automatic:
        return None
    sender = inbound.sender
    meta: dict[str, Any] = {
        "sender": {
            "external_id": sender.external_id,
            "name": sender.name,
            "email": sender.email,
            "phone": sender.phone,
            "language": sender.language,
            "verified": sender.verified,
        }
    }
    if inbound.channel_data:
        meta["channel_data"] = dict(inbound.channel_data)
    if inbound.attachments:
        meta["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "url": a.url}
            for a in inbound.attachments
        ]
    if inbound.automatic:
        meta["automatic"] = True
    if inbound.sent_at is not None:
        meta["sent_at"] = inbound.sent_at.isoformat()
    return meta


async def receive_webhook(
    db: Database,
    writer: MessageWriter,
    channels: ChannelRegistry,
    slug: str,
    inbox_id: int,
    request: InboundRequest,
) -> WebhookAnswer:
    """A platform's webhook: verified over the raw request, parsed, and answered
    only once every message in it is stored (a retry then changes nothing)."""
    async with db.read() as session:
        inbox = await inboxes_repo.get(session, inbox_id)
        adapter = channels.get(inbox.channel) if inbox is not None else None
        if inbox is None or adapter is None or adapter.webhook_path != slug:
            raise NotFound("no such inbox")
        facts = await inbox_facts(session, inbox)
    config = adapter.config_model.model_validate(inbox.config)
    try:
        answer = adapter.verify(config, request)
    except ChannelVerificationError as exc:
        if exc.status == 403:
            raise Forbidden(str(exc)) from exc
        raise NotAuthenticated(str(exc)) from exc
    if answer is not None:
        return answer
    try:
        events = adapter.parse(config, request)
    except ChannelParseError as exc:
        raise BadRequest(str(exc)) from exc
    messages = [e for e in events if isinstance(e, InboundMessage)]
    # Customers first, in the order the platform gave: then the messages queue
    # for one group commit in that order.
    async with db.write() as session:
        customer_ids = [
            (
                await contacts.customer_for_sender(
                    session, inbox.channel, facts.identity_namespace, m.sender
                )
            ).id
            for m in messages
        ]
    await asyncio.gather(
        *(
            receive(db, writer, facts, m, customer_id=customer_id)
            for m, customer_id in zip(messages, customer_ids, strict=True)
        )
    )
    for update in events:
        if isinstance(update, DeliveryUpdate):
            await outbox.apply_delivery_update(db, inbox.id, update)
    return WebhookAnswer(status=200, body="ok")
