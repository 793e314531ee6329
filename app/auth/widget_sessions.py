"""Widget sessions: a customer's bearer token for one web inbox, and who it
names. Opening one is the widget's (app/widget/sessions.py).

A session lives while it is used: one neither resumed nor opened by a socket
for `widget_session_idle_days` is dead. Its token is rotated by a resume once
it is older than `widget_session_rotate_hours`; the token it replaced stays
good for `widget_session_overlap_seconds`, then dies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Database
from app.errors import NotAuthenticated
from app.kit.clock import clock
from app.kit.crypto import constant_time_equals, hmac_sha256_hex, token_digest
from app.models import Customer, Inbox, WidgetSession

# A session's last use is written at most this often, so that nearly every
# resume and socket opening only reads. Idle expiry is as coarse: days, not hours.
SEEN_RESOLUTION = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class SessionLifetimes:
    idle: timedelta
    rotate_after: timedelta
    overlap: timedelta

    @classmethod
    def of(cls, settings: Settings) -> SessionLifetimes:
        return cls(
            idle=timedelta(days=settings.widget_session_idle_days),
            rotate_after=timedelta(hours=settings.widget_session_rotate_hours),
            overlap=timedelta(seconds=settings.widget_session_overlap_seconds),
        )

    def alive(
        self,
        *,
        current: bool,
        last_seen_at: datetime,
        previous_until: datetime | None,
        now: datetime,
    ) -> bool:
        """Whether a token still opens its session: used recently enough, and
        either the session's current token or the one it replaced, within the
        overlap."""
        if now - last_seen_at >= self.idle:
            return False
        return current or (previous_until is not None and now < previous_until)


def seen_due(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= SEEN_RESOLUTION


async def record_seen(db: Database, session_id: int, now: datetime) -> None:
    """A socket opened with the session: the one write it costs, once per
    SEEN_RESOLUTION. The condition keeps a burst of openings to one change."""
    async with db.write() as session:
        await session.execute(
            update(WidgetSession)
            .where(
                WidgetSession.id == session_id,
                WidgetSession.last_seen_at <= now - SEEN_RESOLUTION,
            )
            .values(last_seen_at=now)
        )


def successor_token(secret: str, token: str) -> str:
    """The token a rotation replaces `token` with. Derived, not drawn: a tab
    that resumes with the old token within the overlap is given the same new
    one as the tab that rotated it (both tabs write it to the page's storage,
    in either order), and two rotations at once write the same row."""
    return hmac_sha256_hex(secret, f"widget-session-rotation:{token}")


@dataclass(frozen=True, slots=True)
class WidgetIdentity:
    session_id: int
    inbox_id: int
    customer_id: int
    # The digest of the token presented (the session's current one, or the
    # one it replaced, within the overlap).
    digest: str
    verified_external_id: str | None
    # False: the token presented is the one the last rotation replaced.
    current: bool = True


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


async def session_of_token(
    session: AsyncSession, token: str, lifetimes: SessionLifetimes
) -> WidgetSession:
    """The live session a token opens (its current token, or the one it
    replaced within the overlap); NotAuthenticated otherwise."""
    digest = token_digest(token)
    result = await session.execute(
        select(WidgetSession).where(
            or_(WidgetSession.digest == digest, WidgetSession.previous_digest == digest)
        )
    )
    row = result.scalar_one_or_none()
    if row is None or not lifetimes.alive(
        current=row.digest == digest,
        last_seen_at=row.last_seen_at,
        previous_until=row.previous_until,
        now=clock.now(),
    ):
        raise NotAuthenticated("invalid widget session token")
    return row


async def authenticate_session(
    session: AsyncSession, token: str, lifetimes: SessionLifetimes
) -> WidgetIdentity:
    digest = token_digest(token)
    row = await session_of_token(session, token, lifetimes)
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
        current=row.digest == digest,
    )


def identity_verified(inbox: Inbox, external_id: str, identity_hash: str) -> bool:
    secret = str(inbox.config.get("identity_secret") or "")
    if not secret:
        return False
    return constant_time_equals(hmac_sha256_hex(secret, external_id), identity_hash.lower())
