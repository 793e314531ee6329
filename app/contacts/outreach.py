"""Answering a customer on another of their channels: an agent continues a
closed widget chat by email, or the server mails a reply the widget customer
did not stay to read (follow_up.py).

The conversation is opened (or continued) in the same commit as its first
outbound message and that message's `deliver` job, as the writer does for
inbound ones: there is never a conversation without its message, and a
stored reply is always sent. The recipient is written on the message
(`meta.recipient`), because no customer message of the conversation names it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import reply_window
from app.channels.registry import ChannelRegistry
from app.contacts import repository as customers_repo
from app.contacts.identities import EMAIL, email_key
from app.conversations import access
from app.conversations.outbox import DELIVER
from app.conversations.publishing import conversation_changed
from app.conversations.schemas import stored_message_out
from app.conversations.service import check_reply_window
from app.errors import InvalidRequest, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import MessageStored
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.models import Agent, Conversation, Customer, Inbox, Message
from app.worker.runner import enqueue


class NoAddressOnChannel(InvalidRequest):
    code = "no_address_on_channel"


@dataclass(frozen=True, slots=True)
class Recipient:
    external_id: str
    email: str | None
    name: str | None

    def as_meta(self) -> dict[str, Any]:
        return {"external_id": self.external_id, "email": self.email, "name": self.name}


async def recipient_on(
    session: AsyncSession, inbox: Inbox, customer: Customer, email: str | None
) -> Recipient:
    """Where the customer is reached on the inbox's channel: an email address
    they gave or that was verified (the one asked for must be one of them), or
    their id on the platform. Refused clearly when there is none."""
    identities = await customers_repo.identities_of(session, customer.id)
    if inbox.channel == EMAIL:
        known = [i.external_id for i in identities if i.channel == EMAIL]
        known += [email_key(a) for a in (customer.email, customer.claimed_email) if a]
        if email is not None:
            if email_key(email) not in known:
                raise NoAddressOnChannel("that address is not one this customer gave")
            address = email_key(email)
        elif known:
            address = known[0]
        else:
            raise NoAddressOnChannel("the customer has no email address")
        return Recipient(external_id=address, email=address, name=customer.name)
    if inbox.channel == "web":
        raise InvalidRequest("a web chat is started by the customer; answer by email instead")
    for identity in identities:
        if identity.channel == inbox.channel and identity.namespace == "":
            return Recipient(external_id=identity.external_id, email=None, name=customer.name)
    raise NoAddressOnChannel(f"the customer has no {inbox.channel} identity")


async def check_agent_serves(session: AsyncSession, viewer: access.Viewer, inbox: Inbox) -> None:
    """An agent writes on an inbox they serve (the visibility rule, applied to
    a conversation of that inbox no one holds yet); supervisors on any."""
    inbox_teams = await inboxes_repo.team_ids(session, inbox.id)
    if viewer.sees_everything:
        return
    if not access.serves_inbox(viewer.team_ids, inbox_teams):
        raise NotFound("no such inbox")


async def send_on_channel(
    session: AsyncSession,
    channels: ChannelRegistry,
    *,
    inbox: Inbox,
    customer: Customer,
    recipient: Recipient,
    body: str,
    author: Agent | None,
    author_name: str,
    thread_key: str | None = None,
    subject: str | None = None,
) -> tuple[Conversation, Message]:
    """Stores an outbound message to the customer on `inbox` and queues its
    delivery, in the caller's transaction: in the open conversation of
    `thread_key` when there is one, else in a new one, assigned to the author.
    Without an author (the server's follow-up mail) a new conversation is kept
    resolved: nobody is offered it until the customer answers, which reopens it."""
    if inbox.mode != "live":
        raise InvalidRequest("that inbox only redirects; it does not carry conversations")
    adapter = channels.get(inbox.channel)
    if adapter is None or not adapter.sends:
        raise InvalidRequest(f"the {inbox.channel} channel cannot start a conversation")
    window = reply_window(adapter)
    if window is not None:
        await check_reply_window(session, inbox, customer.id, window)
    now = clock.now()
    conversation: Conversation | None = None
    if thread_key is not None:
        conversation = (
            await session.execute(
                select(Conversation)
                .where(
                    Conversation.inbox_id == inbox.id,
                    Conversation.customer_id == customer.id,
                    Conversation.thread_key == thread_key,
                    Conversation.status != "resolved",
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
    opened = conversation is None
    if conversation is None:
        conversation = Conversation(
            inbox_id=inbox.id,
            customer_id=customer.id,
            thread_key=thread_key or f"outreach:{uuid.uuid4().hex}",
            status="open" if author is not None else "resolved",
            resolved_at=None if author is not None else now,
            assignee_id=author.id if author is not None else None,
            assigned_at=now if author is not None else None,
            subject=subject,
            last_seq=0,
            customer_last_read_seq=0,
            created_at=now,
            updated_at=now,
            last_message_at=now,
        )
        session.add(conversation)
    conversation.last_seq += 1
    conversation.last_message_at = now
    conversation.updated_at = now
    await session.flush()
    message = Message(
        conversation_id=conversation.id,
        inbox_id=inbox.id,
        seq=conversation.last_seq,
        author_kind="agent" if author is not None else "system",
        author_agent_id=author.id if author is not None else None,
        author_name=author_name,
        body=body,
        private=False,
        meta={"recipient": recipient.as_meta()},
        delivery_status="pending",
        created_at=now,
    )
    session.add(message)
    await session.flush()
    await enqueue(
        session,
        DELIVER,
        {"message_id": message.id, "conversation_id": conversation.id},
        dedupe_key=f"deliver:{message.id}",
    )
    inbox_teams = await inboxes_repo.team_ids(session, inbox.id)
    if opened and author is not None:
        await conversation_changed(session, "opened", conversation.id)
    publish_after_commit(
        session,
        MessageStored(
            scope=access.scope_of(conversation, inbox_teams),
            message=stored_message_out(message, inbox.channel),
            automatic=author is None,
        ),
    )
    return conversation, message
