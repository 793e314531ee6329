"""Asking a typed-in address before it gets a chat's replies.

An address typed into the widget may be anyone's. Mailing it the agent's
replies would hand a stranger the chat, and would make us a mailer to any
address a visitor types. So the first follow-up to such an address is a
question with nothing of the chat in it ("someone chatting with the shop gave
this address: confirm to get the replies by mail"). One click on the page's
button confirms the address for that customer; a GET only shows the page,
since mail scanners and link previews fetch links. Then the replies waiting
go out, and later follow-ups go to the address as to a verified one, but
without a chat link (app/contacts/follow_up.py).

Confirming shows that the reader wants the chat's mail, not that they are
the customer. It joins no histories, makes no identity, and the mails
carry no link into the chat.

Flooding one inbox is bounded: at most REQUESTS_PER_ADDRESS requests go to
one address per REQUEST_WINDOW, whoever typed it, and a customer gets no new
request while one of theirs is pending.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations.service import FOLLOW_UP
from app.db import Database
from app.errors import Forbidden
from app.kit.clock import clock
from app.kit.crypto import new_token, token_digest
from app.models import Conversation, Customer, EmailConfirmation, Inbox, Message
from app.worker.runner import enqueue

REQUEST_LIFETIME = timedelta(days=3)
REQUEST_WINDOW = timedelta(days=1)
REQUESTS_PER_ADDRESS = 3

Standing = Literal["confirmed", "pending", "none"]


class InvalidConfirmation(Forbidden):
    code = "invalid_confirmation"


def _key(address: str) -> str:
    return address.strip().lower()


async def standing(
    session: AsyncSession, customer_id: int, address: str, now: datetime
) -> Standing:
    """Whether this customer's address was confirmed, is being asked, or neither."""
    rows = (
        await session.execute(
            select(EmailConfirmation.confirmed_at, EmailConfirmation.expires_at).where(
                EmailConfirmation.customer_id == customer_id,
                EmailConfirmation.address == _key(address),
            )
        )
    ).all()
    if any(confirmed_at is not None for confirmed_at, _ in rows):
        return "confirmed"
    if any(expires_at > now for _, expires_at in rows):
        return "pending"
    return "none"


async def new_request(
    session: AsyncSession, customer_id: int, address: str, now: datetime
) -> str | None:
    """A token for a new request to the address, recorded in the caller's
    transaction; None when the address had its share of requests lately."""
    recent = (
        await session.execute(
            select(func.count())
            .select_from(EmailConfirmation)
            .where(
                EmailConfirmation.address == _key(address),
                EmailConfirmation.created_at > now - REQUEST_WINDOW,
            )
        )
    ).scalar_one()
    if recent >= REQUESTS_PER_ADDRESS:
        return None
    token = new_token()
    session.add(
        EmailConfirmation(
            customer_id=customer_id,
            address=_key(address),
            digest=token_digest(token),
            created_at=now,
            expires_at=now + REQUEST_LIFETIME,
        )
    )
    await session.flush()
    return token


async def pending_address(db: Database, token: str) -> str:
    """The address a live request asks about (for the page), or refused."""
    async with db.read() as session:
        request = await _live(session, token, clock.now())
        return request.address


async def confirm(db: Database, token: str) -> None:
    """Confirms the address for the customer who typed it, if it is still
    theirs, and mails the replies that waited for it (a follow-up job for the
    latest unread one sends every unread reply together)."""
    now = clock.now()
    async with db.write() as session:
        request = await _live(session, token, now)
        if request.confirmed_at is not None:
            return  # a second click: confirmed already
        customer = await session.get(Customer, request.customer_id)
        if (
            customer is None
            or customer.erased_at is not None
            or _key(customer.claimed_email or "") != request.address
        ):
            raise InvalidConfirmation("this address is no longer asked about")
        request.confirmed_at = now
        waiting = await _latest_unread_reply(session, customer.id)
        if waiting is not None:
            conversation_id, message_id = waiting
            await enqueue(
                session,
                FOLLOW_UP,
                {"conversation_id": conversation_id, "message_id": message_id},
                dedupe_key=f"follow-up-confirmed:{request.id}",
            )


async def _live(session: AsyncSession, token: str, now: datetime) -> EmailConfirmation:
    request = (
        await session.execute(
            select(EmailConfirmation).where(EmailConfirmation.digest == token_digest(token))
        )
    ).scalar_one_or_none()
    if request is None or (request.confirmed_at is None and request.expires_at <= now):
        raise InvalidConfirmation("this confirmation link is not valid (or has expired)")
    return request


async def _latest_unread_reply(session: AsyncSession, customer_id: int) -> tuple[int, int] | None:
    """(conversation, message) of the customer's latest agent reply in a web
    chat that they neither read nor got by mail."""
    row = (
        await session.execute(
            select(Message.conversation_id, Message.id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Inbox, Inbox.id == Conversation.inbox_id)
            .where(
                Conversation.customer_id == customer_id,
                Inbox.channel == "web",
                Message.author_kind == "agent",
                Message.private.is_(False),
                Message.seq > Conversation.customer_last_read_seq,
                Message.seq > Conversation.customer_emailed_seq,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else None
