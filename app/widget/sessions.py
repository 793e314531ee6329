"""Opening a widget session: resumed for the same browser and verified user,
or new, for a customer found by a verified identity, continued from a signed
chat link, or anonymous.

A resume reads only (`resume_reading`) unless it must write (`open_session`):
a rotation due, a use to record (once an hour), something the customer gave."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.widget_sessions import (
    SessionLifetimes,
    WidgetIdentity,
    authenticate_session,
    identity_verified,
    live_customer,
    seen_due,
    successor_token,
)
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
    # The customer's language ("ja"; "" for none known): the responders
    # answer in it, and routing prefers agents who speak it.
    language: str = ""


@dataclass(frozen=True, slots=True)
class TokenRules:
    lifetimes: SessionLifetimes
    # The server's secret: rotated tokens are derived with it (successor_token).
    secret: str


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str
    customer: Customer
    # False: a new session (the token given, if any, opened none).
    resumed: bool


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


def _verified_id(inbox: Inbox, req: SessionRequest) -> str | None:
    if req.identity_hash is None:
        return None
    if not req.external_id or not identity_verified(inbox, req.external_id, req.identity_hash):
        raise Forbidden("identity_hash does not match external_id")
    return req.external_id


async def _resumable(
    session: AsyncSession,
    inbox: Inbox,
    req: SessionRequest,
    verified_id: str | None,
    lifetimes: SessionLifetimes,
) -> WidgetIdentity | None:
    """The live session the request's token opens, if it may resume here.

    A session resumes only for the same verified user it was opened for (or
    for no one): on a shared computer, user B never resumes user A's chat.
    """
    if not req.session_token:
        return None
    try:
        known = await authenticate_session(session, req.session_token, lifetimes)
    except NotAuthenticated:
        return None
    if known.inbox_id != inbox.id or known.verified_external_id != verified_id:
        return None
    return known


def _token_to_give(row: WidgetSession, known: WidgetIdentity, token: str, secret: str) -> str:
    """The session's current token where the request can be given it: a tab
    still on the token the last rotation replaced gets the one that replaced
    it (derived again, since only digests are stored)."""
    if known.current:
        return token
    successor = successor_token(secret, token)
    return successor if token_digest(successor) == row.digest else token


def _rotation_due(
    row: WidgetSession, known: WidgetIdentity, rules: TokenRules, now: datetime
) -> bool:
    # Only the current token rotates: the replaced one, within its overlap,
    # is given its successor instead (_token_to_give).
    return known.current and now - row.token_issued_at >= rules.lifetimes.rotate_after


def _customer_changes(customer: Customer, req: SessionRequest) -> bool:
    return bool(
        (req.name and not customer.name)
        or (req.email and customer.email is None and customer.claimed_email != req.email)
        or (req.language and customer.language != req.language)
    )


async def resume_reading(
    session: AsyncSession, inbox: Inbox, req: SessionRequest, rules: TokenRules
) -> OpenedSession | None:
    """The common resume, in a read transaction: a live session, nothing to
    record and nothing to change. None: the request needs `open_session`
    (a new session, a rotation, a link, a name or address to keep, a use to
    record)."""
    if req.link is not None or not req.session_token:
        return None
    now = clock.now()
    known = await _resumable(session, inbox, req, _verified_id(inbox, req), rules.lifetimes)
    if known is None:
        return None
    row = await session.get(WidgetSession, known.session_id)
    if row is None or _rotation_due(row, known, rules, now) or seen_due(row.last_seen_at, now):
        return None
    customer = await contacts.get_customer(session, known.customer_id)
    if _customer_changes(customer, req):
        return None
    token = _token_to_give(row, known, req.session_token, rules.secret)
    return OpenedSession(token=token, customer=customer, resumed=True)


async def open_session(
    session: AsyncSession,
    inbox: Inbox,
    req: SessionRequest,
    rules: TokenRules,
    before_new: Callable[[], None],
) -> OpenedSession:
    """Resumes the browser's session, or opens a new one, in a write
    transaction: records the use, rotates a token past its age, keeps what
    the customer gave (name, address, language)."""
    now = clock.now()
    verified_id = _verified_id(inbox, req)
    known = await _resumable(session, inbox, req, verified_id, rules.lifetimes)
    row = None if known is None else await session.get(WidgetSession, known.session_id)
    if known is not None and row is not None and req.session_token:
        customer = await contacts.get_customer(session, known.customer_id)
        if req.name and not customer.name:
            customer.name = req.name
        await _suggest_linked(session, customer, req.link)
        if req.email and customer.email is None and customer.claimed_email != req.email:
            # The address the customer leaves for an answer by email (the
            # widget's away form): still only their own unverified claim.
            customer.claimed_email = req.email
        if req.language and customer.language != req.language:
            customer.language = req.language
        if seen_due(row.last_seen_at, now):
            row.last_seen_at = now
        token = _token_to_give(row, known, req.session_token, rules.secret)
        if _rotation_due(row, known, rules, now):
            token = successor_token(rules.secret, req.session_token)
            row.previous_digest = row.digest
            row.previous_until = now + rules.lifetimes.overlap
            row.digest = token_digest(token)
            row.token_issued_at = now
        return OpenedSession(token=token, customer=customer, resumed=True)

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
    if req.language and customer.language != req.language:
        customer.language = req.language

    token = new_token()
    session.add(
        WidgetSession(
            inbox_id=inbox.id,
            customer_id=customer.id,
            digest=token_digest(token),
            verified_external_id=verified_id,
            created_at=now,
            token_issued_at=now,
            last_seen_at=now,
        )
    )
    await session.flush()
    return OpenedSession(token=token, customer=customer, resumed=False)
