"""Privacy: an admin exports everything held about a customer, or erases it.

A customer here is the person: the customer asked for and every customer
merged into them. Erasing removes, from the database itself and not just from
view, their personal data (name, addresses, phone, identities, widget
sessions), the contents of every message of their conversations (the bodies,
the senders' details in meta, CSAT comments), the raw mail and attachments
(the email channel's store), pending sends, the values their merges moved,
and the jobs about their conversations (a failed send's error may quote an
address). What stays is anonymous: the customer row without data, the
conversations and messages as timestamps, authors' kinds and seqs, so reports
keep their counts. On SQLite the freed pages are zeroed (`secure_delete`) and
the WAL checkpointed, so the erased text is not left in the file either.
There is no search index yet; when one lands, erase must remove the
customer's documents from it here.

Their widget sockets close once the erasure commits, in every process (the
`CustomerErased` event), and the message writer refuses anything more for
them: a message racing the erasure is either stored before it and scrubbed,
or refused (app/conversations/writer.py). The same person writing again on
another channel is a new customer: their identities are gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts import repository as customers_repo
from app.contacts.merge import merge_out
from app.conversations.publishing import conversation_changed
from app.conversations.schemas import context_out, stored_message_out
from app.db import Database
from app.errors import Conflict, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import CustomerErased
from app.kit.clock import clock
from app.models import (
    Attachment,
    Conversation,
    CsatResponse,
    Customer,
    CustomerErasure,
    CustomerMerge,
    EmailConfirmation,
    Identity,
    Inbox,
    Job,
    MailSource,
    MergeSuggestion,
    Message,
    WidgetSession,
)

ERASED = ""


async def export(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    customer = await customers_repo.get(session, customer_id)
    if customer is None:
        raise NotFound("no such customer")
    people = await customers_repo.folded_into(session, customer_id)
    customers = (
        (
            await session.execute(
                select(Customer).where(Customer.id.in_(people)).order_by(Customer.id)
            )
        )
        .scalars()
        .all()
    )
    identities = (
        (
            await session.execute(
                select(Identity).where(Identity.customer_id.in_(people)).order_by(Identity.id)
            )
        )
        .scalars()
        .all()
    )
    rows = (
        await session.execute(
            select(Conversation, Inbox.channel)
            .join(Inbox, Inbox.id == Conversation.inbox_id)
            .where(Conversation.customer_id.in_(people))
            .order_by(Conversation.id)
        )
    ).all()
    conversations: list[dict[str, Any]] = []
    for conversation, channel in rows:
        messages = (
            (
                await session.execute(
                    select(Message)
                    .where(Message.conversation_id == conversation.id)
                    .order_by(Message.seq)
                )
            )
            .scalars()
            .all()
        )
        conversations.append(
            {
                "id": conversation.id,
                "inbox_id": conversation.inbox_id,
                "channel": channel,
                "status": conversation.status,
                "subject": conversation.subject,
                "created_at": conversation.created_at.isoformat(),
                "messages": [stored_message_out(m, channel) for m in messages],
                "csat": None,
            }
        )
    conversation_ids = [c["id"] for c in conversations]
    ratings = (
        (
            await session.execute(
                select(CsatResponse).where(CsatResponse.conversation_id.in_(conversation_ids))
            )
        )
        .scalars()
        .all()
    )
    by_conversation = {r.conversation_id: r for r in ratings}
    for item in conversations:
        rating = by_conversation.get(item["id"])
        item["csat"] = (
            {"rating": rating.rating, "comment": rating.comment} if rating is not None else None
        )
    attachments = (
        await session.execute(
            select(
                Attachment.id,
                Attachment.message_id,
                Attachment.filename,
                Attachment.content_type,
                Attachment.size,
            )
            .join(Message, Message.id == Attachment.message_id)
            .where(Message.conversation_id.in_(conversation_ids))
            .order_by(Attachment.message_id, Attachment.id)
        )
    ).all()
    merges = (
        (
            await session.execute(
                select(CustomerMerge)
                .where(CustomerMerge.kept_customer_id.in_(people))
                .order_by(CustomerMerge.id)
            )
        )
        .scalars()
        .all()
    )
    return {
        "customer": _customer_out(customer),
        "merged_customers": [_customer_out(c) for c in customers if c.id != customer.id],
        "identities": [
            {
                "channel": i.channel,
                "namespace": i.namespace,
                "external_id": i.external_id,
                "verified": i.verified,
                "created_at": i.created_at.isoformat(),
            }
            for i in identities
        ],
        "conversations": conversations,
        "attachments": [
            {
                "id": a.id,
                "message_id": a.message_id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
            }
            for a in attachments
        ],
        "merges": [merge_out(m) for m in merges],
        "exported_at": clock.now().isoformat(),
    }


def _customer_out(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "claimed_email": customer.claimed_email,
        "phone": customer.phone,
        "language": customer.language,
        "created_at": customer.created_at.isoformat(),
        "erased_at": customer.erased_at.isoformat() if customer.erased_at else None,
        "last_context": context_out(customer.last_context),
    }


async def erase(db: Database, customer_id: int, actor_id: int) -> CustomerErasure:
    async with db.write() as session:
        if db.is_sqlite:
            # Deleted and overwritten content is zeroed in the file, not left
            # in free pages.
            await session.execute(text("PRAGMA secure_delete = ON"))
        record = await _erase(session, customer_id, actor_id)
        if db.is_sqlite:
            # Only this erasure pays for zeroing; the pooled connection goes back as it was.
            await session.execute(text("PRAGMA secure_delete = OFF"))
    if db.is_sqlite:
        # The WAL still holds the pages as they were: copy them back and truncate it.
        await db.truncate_wal()
    return record


async def _erase(session: AsyncSession, customer_id: int, actor_id: int) -> CustomerErasure:
    people, customer = await _lock_people(session, customer_id)
    if customer is None:
        raise NotFound("no such customer")
    if customer.erased_at is not None:
        raise Conflict("this customer was erased already")
    if customer.merged_into_id is not None:
        raise Conflict(
            f"customer {customer.id} was merged into customer {customer.merged_into_id};"
            " erase that one"
        )
    conversation_ids = list(
        (
            await session.execute(
                select(Conversation.id).where(Conversation.customer_id.in_(people))
            )
        ).scalars()
    )
    message_ids = select(Message.id).where(Message.conversation_id.in_(conversation_ids))
    counts: dict[str, Any] = {
        "customers": len(people),
        "conversations": len(conversation_ids),
        "messages": await _count(session, Message, Message.conversation_id.in_(conversation_ids)),
        "identities": await _count(session, Identity, Identity.customer_id.in_(people)),
        "mail_sources": await _count(session, MailSource, MailSource.message_id.in_(message_ids)),
        "attachments": await _count(session, Attachment, Attachment.message_id.in_(message_ids)),
    }
    await session.execute(delete(MailSource).where(MailSource.message_id.in_(message_ids)))
    await session.execute(delete(Attachment).where(Attachment.message_id.in_(message_ids)))
    await session.execute(
        update(Message)
        .where(Message.conversation_id.in_(conversation_ids))
        .values(body=ERASED, meta=None, author_name=None, client_id=None, delivery_error=None)
    )
    # What was still to be sent is not: the outbox skips what is not pending.
    await session.execute(
        update(Message)
        .where(Message.conversation_id.in_(conversation_ids), Message.delivery_status == "pending")
        .values(delivery_status="failed", delivery_error="the customer's data was erased")
    )
    await session.execute(
        update(CsatResponse)
        .where(CsatResponse.conversation_id.in_(conversation_ids))
        .values(comment=None)
    )
    await session.execute(
        update(Conversation).where(Conversation.id.in_(conversation_ids)).values(subject=None)
    )
    await session.execute(delete(Identity).where(Identity.customer_id.in_(people)))
    # Their sessions end here: REST and new sockets refuse the tokens, and
    # the open sockets close after the commit (the event below).
    await session.execute(delete(WidgetSession).where(WidgetSession.customer_id.in_(people)))
    await session.execute(
        delete(EmailConfirmation).where(EmailConfirmation.customer_id.in_(people))
    )
    # Jobs about their conversations: a failed send's error may quote an
    # address, and what is still due (an auto-reply, a CSAT question) would
    # write to the erased customer. A running one finds its row gone and
    # records nothing (app/worker/runner.py holds it by its lease).
    await session.execute(
        delete(Job).where(
            or_(
                Job.payload["conversation_id"].as_integer().in_(conversation_ids),
                Job.payload["message_id"].as_integer().in_(message_ids),
            )
        )
    )
    now = clock.now()
    await _scrub_merges(session, people, actor_id, now)
    await session.execute(
        update(Customer)
        .where(Customer.id.in_(people))
        .values(
            name=None,
            email=None,
            claimed_email=None,
            phone=None,
            language=None,
            last_context=None,
            erased_at=now,
        )
    )
    record = CustomerErasure(
        customer_id=customer_id, actor_agent_id=actor_id, counts=counts, created_at=now
    )
    session.add(record)
    await session.flush()
    for conversation_id in conversation_ids:
        await conversation_changed(session, "updated", conversation_id)
    publish_after_commit(session, CustomerErased(tuple(people)))
    return record


async def _lock_people(
    session: AsyncSession, customer_id: int
) -> tuple[list[int], Customer | None]:
    """The customer and everyone folded into them, every row locked (in id
    order, as merges lock) before anything is changed: a merge into them
    waits, and so does the message writer's check (app/conversations/
    batch_store.py `erased_customers`), which must not meet a half-done
    erasure. A merge that committed meanwhile is locked in the next round."""
    people = await customers_repo.folded_into(session, customer_id)
    while True:
        locked = await customers_repo.lock_customers(session, people)
        if customer_id not in locked:
            return [], None  # no such customer: nothing to wait for
        found = await customers_repo.folded_into(session, customer_id)
        if set(found) <= locked.keys():
            return found, locked.get(customer_id)
        people = sorted(set(people) | set(found))


async def _scrub_merges(
    session: AsyncSession, people: list[int], actor_id: int, now: datetime
) -> None:
    """Merges on either side of which one of them stood keep their ids (what
    moved, for the record) but not the values a kept customer took over:
    a name, an address, a phone. Their merges can no longer be undone (an
    erased customer's never are), so nothing needs the values. Suggestions
    still pending are declined: an erased customer never merges."""
    either_side = or_(
        CustomerMerge.kept_customer_id.in_(people), CustomerMerge.merged_customer_id.in_(people)
    )
    for record in (await session.execute(select(CustomerMerge).where(either_side))).scalars():
        moved: dict[str, Any] = dict(record.moved or {})
        if moved.get("fields"):
            moved["fields"] = dict.fromkeys(moved["fields"])
            record.moved = moved
    await session.execute(
        update(MergeSuggestion)
        .where(
            MergeSuggestion.state == "pending",
            or_(
                MergeSuggestion.customer_id.in_(people),
                MergeSuggestion.other_customer_id.in_(people),
            ),
        )
        .values(state="rejected", decided_at=now, decided_by_agent_id=actor_id)
    )


async def _count(session: AsyncSession, model: Any, where: Any) -> int:
    result = await session.execute(select(func.count()).select_from(model).where(where))
    return int(result.scalar_one())
