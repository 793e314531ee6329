"""All SQL about customers and their identities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Conversation, Customer, Identity


async def get(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def by_identity(
    session: AsyncSession, channel: str, namespace: str, external_id: str
) -> Customer | None:
    result = await session.execute(
        select(Customer)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(
            Identity.channel == channel,
            Identity.namespace == namespace,
            Identity.external_id == external_id,
        )
    )
    return result.scalar_one_or_none()


async def identities_of(session: AsyncSession, customer_id: int) -> Sequence[Identity]:
    result = await session.execute(
        select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
    )
    return result.scalars().all()


async def add(session: AsyncSession, customer: Customer) -> Customer:
    session.add(customer)
    await session.flush()
    return customer


async def add_identity(session: AsyncSession, identity: Identity) -> None:
    session.add(identity)
    await session.flush()


async def has_conversation(
    session: AsyncSession, customer_id: int, where: ColumnElement[bool]
) -> bool:
    result = await session.execute(
        select(Conversation.id).where(Conversation.customer_id == customer_id, where).limit(1)
    )
    return result.first() is not None
