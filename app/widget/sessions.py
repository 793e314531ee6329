"""Opening a widget session: resumed for the same browser and verified user,
or new, for a customer found by a verified identity, continued from a signed
chat link, or anonymous."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.widget_sessions import authenticate_session, identity_verified, live_customer
from app.channels.web.adapter import WebConfig
from app.contacts import chat_link
from app.contacts import merge as merges
from app.contacts import service as contacts
from app.contacts.chat_link import ChatLink, InvalidChatLink
from app.errors import Forbidden, NotAuthenticated
from app.kit.clock import clock
from app.kit.crypto import new_token, token_digest
from app.models import Customer, Inbox, WidgetSession


@dataclass(frozen=True, slots=True)
class SessionRequest:
    name: str | None
    email: str | None
    external_id: str | None
    identity_hash: str | None
    session_token: str | None
    # A signed chat link (app/contacts/chat_link.py), its signature and expiry checked.
    link: ChatLink | None = None


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str
    customer: Customer


async def _linked_customer(session: AsyncSession, link: ChatLink) -> Customer:
    """The customer a link was made for (after merges); refused when erased."""
    linked = await live_customer(session, link.customer_id)
    if linked is None:
        raise InvalidChatLink("this chat link's customer is gone")
    return linked


async def _suggest_linked(session: AsyncSession, customer: Customer, link: ChatLink | None) -> None:
    """A link followed by another customer (their saved session, their verified
    identity) joins nothing: whoever holds both may be one person, or may hold
    a link that was not theirs. An agent decides; the link stays unused."""
    if link is None:
        return
    linked = await _linked_customer(session, link)
    if await chat_link.was_used(session, link):
        raise InvalidChatLink("this chat link was used already")
    if linked.id != customer.id:
        await merges.suggest(session, linked.id, customer.id, "chat_link")


async def open_session(
    session: AsyncSession, inbox: Inbox, req: SessionRequest, before_new: Callable[[], None]
) -> OpenedSession:
    """Resumes the browser's session, or opens a new one.

    A session resumes only for the same verified user it was opened for (or
    for no one): on a shared computer, user B never resumes user A's chat.
    """
    verified_id: str | None = None
    if req.identity_hash is not None:
        if not req.external_id or not identity_verified(inbox, req.external_id, req.identity_hash):
            raise Forbidden("identity_hash does not match external_id")
        verified_id = req.external_id

    if req.session_token:
        try:
            known = await authenticate_session(session, req.session_token)
        except NotAuthenticated:
            known = None
        if (
            known is not None
            and known.inbox_id == inbox.id
            and known.verified_external_id == verified_id
        ):
            customer = await contacts.get_customer(session, known.customer_id)
            if req.name and not customer.name:
                customer.name = req.name
            await _suggest_linked(session, customer, req.link)
            if req.email and customer.email is None:
                # The address the customer leaves for an answer by email (the
                # widget's away form): still only their own unverified claim.
                customer.claimed_email = req.email
            return OpenedSession(token=req.session_token, customer=customer)

    before_new()
    if verified_id is not None:
        namespace = WebConfig.model_validate(inbox.config).namespace(inbox.id)
        customer = await contacts.find_or_create_by_identity(
            session, "web", namespace, verified_id, name=req.name
        )
        if req.email:
            # A valid hash vouches for the email given with it: a customer who
            # owns that address is the same person (one history).
            customer = await contacts.claim_verified_email(session, customer, req.email)
        await _suggest_linked(session, customer, req.link)
    elif req.link is not None:
        # Followed a signed link: the chat continues that customer's history,
        # in this one new session only.
        customer = await _linked_customer(session, req.link)
        await chat_link.use(session, req.link)
        if req.name and not customer.name:
            customer.name = req.name
        if req.email and not customer.email and not customer.claimed_email:
            customer.claimed_email = req.email
    else:
        # Without a hash, name and email are claims, never a key to anyone's history.
        customer = await contacts.create_anonymous(session, name=req.name, claimed_email=req.email)

    token = new_token()
    session.add(
        WidgetSession(
            inbox_id=inbox.id,
            customer_id=customer.id,
            digest=token_digest(token),
            verified_external_id=verified_id,
            created_at=clock.now(),
        )
    )
    await session.flush()
    return OpenedSession(token=token, customer=customer)
