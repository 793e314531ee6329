"""All SQL about customers and their identities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Conversation, Customer, CustomerMerge, Identity, MergeSuggestion


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


async def open_conversation_ids(session: AsyncSession, customer_id: int) -> list[int]:
    """The customer's conversations not resolved (open or snoozed), in every inbox."""
    result = await session.execute(
        select(Conversation.id)
        .where(Conversation.customer_id == customer_id, Conversation.status != "resolved")
        .order_by(Conversation.id)
    )
    return list(result.scalars())


async def lock_customers(session: AsyncSession, customer_ids: Sequence[int]) -> dict[int, Customer]:
    """The customers, their rows locked until commit (PostgreSQL; SQLite's one
    writer needs none), always in id order so two merges cannot deadlock."""
    stmt = (
        select(Customer)
        .where(Customer.id.in_(sorted(set(customer_ids))))
        .order_by(Customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {c.id: c for c in (await session.execute(stmt)).scalars()}


async def email_owner(session: AsyncSession, address: str) -> Customer | None:
    """The customer holding this address as a verified email identity."""
    return await by_identity(session, "email", "", address)


async def conversation_ids_of(session: AsyncSession, customer_id: int) -> list[int]:
    result = await session.execute(
        select(Conversation.id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Conversation.id)
    )
    return list(result.scalars())


async def folded_into(session: AsyncSession, customer_id: int) -> list[int]:
    """The customer and every customer merged into it, however deep."""
    found = [customer_id]
    frontier = [customer_id]
    while frontier:
        result = await session.execute(
            select(Customer.id).where(Customer.merged_into_id.in_(frontier))
        )
        frontier = [i for i in result.scalars() if i not in found]
        found.extend(frontier)
    return found


async def merge_record(session: AsyncSession, merge_id: int) -> CustomerMerge | None:
    return await session.get(CustomerMerge, merge_id)


async def merges_into(session: AsyncSession, customer_id: int) -> Sequence[CustomerMerge]:
    result = await session.execute(
        select(CustomerMerge)
        .where(CustomerMerge.kept_customer_id == customer_id)
        .order_by(CustomerMerge.id.desc())
    )
    return result.scalars().all()


def _visible_customer_ids(visible: ColumnElement[bool]) -> Select[int]:
    return select(Conversation.customer_id).where(visible)


async def suggestions(
    session: AsyncSession,
    *,
    state: str | None,
    customer_id: int | None,
    visible: ColumnElement[bool] | None,
    after_id: int | None,
    limit: int,
) -> Sequence[MergeSuggestion]:
    stmt = select(MergeSuggestion)
    if state is not None:
        stmt = stmt.where(MergeSuggestion.state == state)
    if customer_id is not None:
        stmt = stmt.where(
            or_(
                MergeSuggestion.customer_id == customer_id,
                MergeSuggestion.other_customer_id == customer_id,
            )
        )
    if visible is not None:
        seen = _visible_customer_ids(visible)
        stmt = stmt.where(
            or_(MergeSuggestion.customer_id.in_(seen), MergeSuggestion.other_customer_id.in_(seen))
        )
    if after_id is not None:
        stmt = stmt.where(MergeSuggestion.id > after_id)
    result = await session.execute(stmt.order_by(MergeSuggestion.id).limit(limit))
    return result.scalars().all()


async def any_visible(
    session: AsyncSession, customer_ids: Sequence[int], visible: ColumnElement[bool] | None
) -> bool:
    if visible is None:
        return True
    result = await session.execute(
        select(Conversation.id)
        .where(Conversation.customer_id.in_(list(customer_ids)), visible)
        .limit(1)
    )
    return result.first() is not None
