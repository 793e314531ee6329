"""Customers: found by how a channel knows them, created on first contact."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import Sender
from app.contacts import merge as merges
from app.contacts import repository as customers_repo
from app.contacts.identities import PHONE, e164, email_key
from app.conversations.access import Viewer, visible_filter
from app.errors import NotFound
from app.kit.clock import clock
from app.kit.text import make_storable
from app.models import Customer, Identity


async def create_anonymous(
    session: AsyncSession, *, name: str | None = None, claimed_email: str | None = None
) -> Customer:
    """A customer nobody vouches for. What they typed in (an email address) is a
    claim: shown to agents, never a key to anyone's history. A claim on an
    address another customer owns becomes a merge suggestion for an agent."""
    customer = await customers_repo.add(
        session, Customer(name=name, claimed_email=claimed_email, created_at=clock.now())
    )
    if claimed_email:
        await suggest_by_claimed_email(session, customer, claimed_email)
    return customer


async def suggest_by_claimed_email(session: AsyncSession, customer: Customer, email: str) -> None:
    owner = await customers_repo.email_owner(session, email_key(email))
    if owner is not None and owner.id != customer.id:
        await merges.suggest(session, owner.id, customer.id, "claimed_email")


async def find_or_create_by_identity(
    session: AsyncSession,
    channel: str,
    namespace: str,
    external_id: str,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> Customer:
    """The identity's customer, or a new one. Two first contacts at once meet at
    the identities' unique constraint; the loser reads the winner's row."""
    customer = await customers_repo.by_identity(session, channel, namespace, external_id)
    if customer is not None:
        if customer.name is None and name:
            # A first contact that named no one (a LINE or Messenger id) gets
            # the name a later one carries (an Instagram comment's username).
            customer.name = name
        return customer
    try:
        async with session.begin_nested():
            customer = await customers_repo.add(
                session, Customer(name=name, email=email, phone=phone, created_at=clock.now())
            )
            await customers_repo.add_identity(
                session,
                Identity(
                    customer_id=customer.id,
                    channel=channel,
                    namespace=namespace,
                    external_id=external_id,
                    verified=True,
                    created_at=clock.now(),
                ),
            )
        if phone:
            await _record_phone(session, customer, phone)
        return customer
    except IntegrityError:
        customer = await customers_repo.by_identity(session, channel, namespace, external_id)
        if customer is None:
            raise
        return customer


async def _record_phone(session: AsyncSession, customer: Customer, phone: str) -> None:
    """A number the platform vouches for (WhatsApp's wa_id) as a phone identity;
    a number another customer holds only suggests they are one."""
    owner = await customers_repo.by_identity(session, PHONE, "", phone)
    if owner is not None:
        await merges.suggest(session, owner.id, customer.id, "same_phone")
        return
    async with session.begin_nested():
        await customers_repo.add_identity(
            session,
            Identity(
                customer_id=customer.id,
                channel=PHONE,
                namespace="",
                external_id=phone,
                verified=True,
                created_at=clock.now(),
            ),
        )


async def known_customer(
    session: AsyncSession, channel: str, namespace: str, sender: Sender
) -> Customer | None:
    """The customer a vouched-for sender already is, without writing anything."""
    if not sender.verified:
        return None
    return await customers_repo.by_identity(session, channel, namespace, sender.external_id)


async def customer_for_sender(
    session: AsyncSession, channel: str, namespace: str, sender: Sender
) -> Customer:
    """The customer a channel's sender is. A sender the channel cannot vouch for
    gets a customer of their own: an unverified id never opens another
    customer's history."""
    name = make_storable(sender.name) if sender.name else None
    phone = e164(sender.phone)
    if not sender.verified:
        customer = await customers_repo.add(
            session, Customer(name=name, phone=phone, created_at=clock.now())
        )
        if sender.email:
            # A mail whose sender failed authentication claims the address.
            await suggest_by_claimed_email(session, customer, sender.email)
        return customer
    return await find_or_create_by_identity(
        session,
        channel,
        namespace,
        sender.external_id,
        name=name,
        email=email_key(sender.email) if sender.email else None,
        phone=phone,
    )


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await customers_repo.get(session, customer_id)
    if customer is None:
        raise NotFound("no such customer")
    return customer


async def claim_verified_email(session: AsyncSession, customer: Customer, email: str) -> Customer:
    """Records a vouched-for address as the customer's email identity, and
    returns the customer they are: a verified address another customer holds
    joins the two (the owner is kept, this customer folded into it), so the
    history is one."""
    email = email_key(email)
    owner = await customers_repo.email_owner(session, email)
    if owner is not None:
        if owner.id != customer.id:
            await merges.merge(
                session,
                kept_id=owner.id,
                other_id=customer.id,
                actor_id=None,
                reason="verified_email",
            )
        return owner
    if customer.email is None:
        customer.email = email
    try:
        async with session.begin_nested():
            await customers_repo.add_identity(
                session,
                Identity(
                    customer_id=customer.id,
                    channel="email",
                    namespace="",
                    external_id=email,
                    verified=True,
                    created_at=clock.now(),
                ),
            )
    except IntegrityError:
        pass  # claimed at the same moment by another session: theirs stands
    return customer


async def visible_customer(session: AsyncSession, viewer: Viewer, customer_id: int) -> Customer:
    """The customer if the viewer may see one of their conversations (supervisors:
    any customer); 404 otherwise, as for a customer that does not exist."""
    customer = await get_customer(session, customer_id)
    visible = visible_filter(viewer)
    if visible is not None and not await customers_repo.has_conversation(
        session, customer_id, visible
    ):
        raise NotFound("no such customer")
    return customer
