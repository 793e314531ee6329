from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from app.auth.dependencies import CurrentAgent
from app.contacts import repository as customers_repo
from app.contacts import service as contacts
from app.conversations import access
from app.conversations.schemas import stored_message_out
from app.kit.numbers import DbId
from app.kit.pagination import PageDep
from app.models import Conversation, Inbox, Message
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.get("/{customer_id}")
async def get_customer(
    customer_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        customer = await contacts.visible_customer(session, viewer, customer_id)
        identities = await customers_repo.identities_of(session, customer_id)
    emails = sorted(
        {i.external_id for i in identities if i.channel == "email" and i.verified}
        | ({customer.email} if customer.email else set())
    )
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "emails": emails,
        # What the customer typed in and nobody verified: shown, never matched on.
        "claimed_email": customer.claimed_email,
        "phones": [customer.phone] if customer.phone else [],
        "identities": [
            {"channel": i.channel, "external_id": i.external_id, "verified": i.verified}
            for i in identities
        ],
        "merged_into_id": customer.merged_into_id,
        "created_at": customer.created_at.isoformat(),
    }


@router.get("/{customer_id}/timeline")
async def timeline(
    customer_id: DbId, agent: CurrentAgent, runtime: RuntimeDep, page: PageDep
) -> dict[str, Any]:
    """Every message of the customer's conversations the agent may see, oldest
    first by when it was sent (the platform's clock for what customers wrote),
    so a platform's late retry takes its place in the history. The cursor is
    the last message's id."""
    sent = func.coalesce(Message.sent_at, Message.created_at)
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        await contacts.visible_customer(session, viewer, customer_id)
        stmt = (
            select(Message, Inbox.channel)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Inbox, Inbox.id == Conversation.inbox_id)
            .where(Conversation.customer_id == customer_id)
        )
        visible = access.visible_filter(viewer)
        if visible is not None:
            stmt = stmt.where(visible)
        if page.cursor is not None:
            last = aliased(Message)
            anchor = (
                select(func.coalesce(last.sent_at, last.created_at))
                .where(last.id == page.cursor)
                .scalar_subquery()
            )
            stmt = stmt.where(or_(sent > anchor, and_(sent == anchor, Message.id > page.cursor)))
        rows = (await session.execute(stmt.order_by(sent, Message.id).limit(page.limit))).all()
    items = [stored_message_out(m, channel) for m, channel in rows]
    cursor = str(rows[-1][0].id) if len(rows) == page.limit else None
    return {"items": items, "next_cursor": cursor}
