"""Widget sessions: a customer's bearer token for one web inbox, and who it
names. Opening one is the widget's (app/widget/sessions.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotAuthenticated
from app.kit.crypto import constant_time_equals, hmac_sha256_hex, token_digest
from app.models import Customer, Inbox, WidgetSession


@dataclass(frozen=True, slots=True)
class WidgetIdentity:
    session_id: int
    inbox_id: int
    customer_id: int
    digest: str
    verified_external_id: str | None


async def customer_of(session: AsyncSession, customer_id: int) -> int:
    """Follows merges, so an old session keeps working after its customer was folded."""
    for _ in range(16):
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.merged_into_id is None:
            return customer_id
        customer_id = customer.merged_into_id
    return customer_id


async def live_customer(session: AsyncSession, customer_id: int) -> Customer | None:
    """The customer (after merges) unless erased or gone."""
    customer = await session.get(Customer, await customer_of(session, customer_id))
    if customer is None or customer.erased_at is not None:
        return None
    return customer


async def authenticate_session(session: AsyncSession, token: str) -> WidgetIdentity:
    digest = token_digest(token)
    result = await session.execute(select(WidgetSession).where(WidgetSession.digest == digest))
    row = result.scalar_one_or_none()
    if row is None:
        raise NotAuthenticated("invalid widget session token")
    customer_id = await customer_of(session, row.customer_id)
    customer = await session.get(Customer, customer_id)
    if customer is not None and customer.erased_at is not None:
        # An erasure deletes its customer's sessions; one opened while it ran
        # ends here.
        raise NotAuthenticated("invalid widget session token")
    return WidgetIdentity(
        session_id=row.id,
        inbox_id=row.inbox_id,
        customer_id=customer_id,
        digest=digest,
        verified_external_id=row.verified_external_id,
    )


def identity_verified(inbox: Inbox, external_id: str, identity_hash: str) -> bool:
    secret = str(inbox.config.get("identity_secret") or "")
    if not secret:
        return False
    return constant_time_equals(hmac_sha256_hex(secret, external_id), identity_hash.lower())
