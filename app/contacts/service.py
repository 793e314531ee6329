"""Customers: found by how a channel knows them, created on first contact."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts import repository as customers_repo
from app.errors import NotFound
from app.kit.clock import clock
from app.models import Customer, Identity


async def create_anonymous(
    session: AsyncSession, *, name: str | None = None, email: str | None = None
) -> Customer:
    return await customers_repo.add(
        session, Customer(name=name, email=email, created_at=clock.now())
    )


async def find_or_create_by_identity(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    verified: bool,
    name: str | None = None,
    email: str | None = None,
) -> Customer:
    """The identity's customer, or a new one. Two first contacts at once meet at
    the identities' unique constraint; the loser reads the winner's row."""
    customer = await customers_repo.by_identity(session, channel, external_id)
    if customer is not None:
        return customer
    try:
        async with session.begin_nested():
            customer = await customers_repo.add(
                session, Customer(name=name, email=email, created_at=clock.now())
            )
            await customers_repo.add_identity(
                session,
                Identity(
                    customer_id=customer.id,
                    channel=channel,
                    external_id=external_id,
                    verified=verified,
                    created_at=clock.now(),
                ),
            )
        return customer
    except IntegrityError:
        customer = await customers_repo.by_identity(session, channel, external_id)
        if customer is None:
            raise
        return customer


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await customers_repo.get(session, customer_id)
    if customer is None:
        raise NotFound("no such customer")
    return customer


async def claim_verified_email(session: AsyncSession, customer: Customer, email: str) -> None:
    """Records a vouched-for address as the customer's email identity when no one
    else holds it. Joining the customer who already holds it is a merge, which
    the contacts merge service owns."""
    email = email.strip().lower()
    if customer.email is None:
        customer.email = email
    owner = await customers_repo.by_identity(session, "email", email)
    if owner is not None:
        return
    try:
        async with session.begin_nested():
            await customers_repo.add_identity(
                session,
                Identity(
                    customer_id=customer.id,
                    channel="email",
                    external_id=email,
                    verified=True,
                    created_at=clock.now(),
                ),
            )
    except IntegrityError:
        return
