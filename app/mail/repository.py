"""All SQL of the email channel: inboxes by address, what a mail brought
(raw source, attachments), references into threads, IMAP cursors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.driver_sql import db_time
from app.kit.clock import clock
from app.models import (
    Attachment,
    Conversation,
    Customer,
    Identity,
    ImapCursor,
    Inbox,
    MailSource,
    Message,
)


async def email_inboxes(session: AsyncSession) -> Sequence[Inbox]:
    result = await session.execute(select(Inbox).where(Inbox.channel == "email").order_by(Inbox.id))
    return result.scalars().all()


async def customers_by_address(session: AsyncSession, addresses: Sequence[str]) -> dict[str, int]:
    """The customers of these email identities (lowercased addresses) that exist."""
    result = await session.execute(
        select(Identity.external_id, Identity.customer_id).where(
            Identity.channel == "email",
            Identity.namespace == "",
            Identity.external_id.in_(list(addresses)),
        )
    )
    return {external_id: customer_id for external_id, customer_id in result.tuples()}


async def create_customers(
    session: AsyncSession, people: Sequence[tuple[str, str | None, str | None]]
) -> dict[str, int]:
    """Customers with verified email identities for (identity, name, address)s
    nobody holds yet, in three statements however many; an identity another
    transaction took meanwhile keeps its customer (ours is removed again)."""
    if not people:
        return {}
    now = clock.now()
    customer_ids = list(
        (
            await session.execute(
                insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                [{"name": name, "email": email, "created_at": now} for _, name, email in people],
            )
        ).scalars()
    )
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = await session.execute(
        upsert(Identity)
        .values(
            [
                {
                    "customer_id": customer_id,
                    "channel": "email",
                    "namespace": "",
                    "external_id": external_id,
                    "verified": True,
                    "created_at": now,
                }
                for (external_id, _, _), customer_id in zip(people, customer_ids, strict=True)
            ]
        )
        .on_conflict_do_nothing(index_elements=["channel", "namespace", "external_id"])
        .returning(Identity.external_id, Identity.customer_id)
    )
    found = {external_id: customer_id for external_id, customer_id in created.tuples()}
    lost = [p[0] for p in people if p[0] not in found]
    if lost:
        found.update(await customers_by_address(session, lost))
        unused = set(customer_ids) - set(found.values())
        await session.execute(delete(Customer).where(Customer.id.in_(unused)))
    return found


async def create_unverified_customers(
    session: AsyncSession, people: Sequence[tuple[str | None, str | None]]
) -> list[int]:
    """A customer of their own for each (name, phone) of senders nobody
    vouched for, in one statement however many: an unverified address never
    opens another customer's history."""
    if not people:
        return []
    now = clock.now()
    result = await session.execute(
        insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
        [{"name": name, "phone": phone, "created_at": now} for name, phone in people],
    )
    return list(result.scalars())


async def stored_message_id(session: AsyncSession, inbox_id: int, external_id: str) -> int | None:
    result = await session.execute(
        select(Message.id).where(Message.inbox_id == inbox_id, Message.external_id == external_id)
    )
    return result.scalars().first()


async def reference_owners(
    session: AsyncSession, inbox_id: int, references: Iterable[str]
) -> list[tuple[str, int]]:
    """(id, customer) for each mail of this inbox that `references` name, by
    its own id or the id we sent it under."""
    wanted = list(references)
    conversations = (
        select(Message.external_id, Message.delivered_external_id, Conversation.customer_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.inbox_id == inbox_id,
            or_(Message.external_id.in_(wanted), Message.delivered_external_id.in_(wanted)),
        )
    )
    found: list[tuple[str, int]] = []
    for external_id, delivered_id, customer_id in (await session.execute(conversations)).tuples():
        for mid in (external_id, delivered_id):
            if mid in wanted:
                found.append((mid, customer_id))
    return found


def write_source(
    conn: Connection,
    message_id: int,
    *,
    raw: bytes,
    text: str,
    html: str | None,
    headers: dict[str, Any],
    via: str,
    attachments: Sequence[tuple[str, str, str, bytes]],
) -> None:
    """In the writer's transaction (a `WithRows` hook): the mail as it came and
    its files, given as (id, filename, content type, content). Plain driver
    SQL, as the writer's own statements (batch_store): this runs once per
    mail inside the group commit."""
    postgres = conn.dialect.name == "postgresql"
    stamp = db_time(conn, clock.now())

    def marks(count: int) -> str:
        return ", ".join(f"${n}" if postgres else "?" for n in range(1, count + 1))

    conn.exec_driver_sql(
        "INSERT INTO mail_sources (message_id, raw, text, html, headers, received_via,"  # noqa: S608 - placeholders only
        f" created_at) VALUES ({marks(7)})",
        (message_id, raw, text, html, json.dumps(headers), via, stamp),
    )
    if attachments:
        conn.exec_driver_sql(
            "INSERT INTO attachments (id, message_id, filename, content_type, size, content,"  # noqa: S608 - placeholders only
            f" created_at) VALUES ({marks(7)})",
            [
                (attachment_id, message_id, filename, content_type, len(content), content, stamp)
                for attachment_id, filename, content_type, content in attachments
            ],
        )


async def mail_source(session: AsyncSession, message_id: int) -> MailSource | None:
    return await session.get(MailSource, message_id)


async def attachment(session: AsyncSession, attachment_id: str) -> Attachment | None:
    return await session.get(Attachment, attachment_id)


async def cursor(session: AsyncSession, inbox_id: int) -> ImapCursor | None:
    return await session.get(ImapCursor, inbox_id)


async def save_cursor(
    session: AsyncSession, inbox_id: int, folder: str, uidvalidity: int, last_uid: int
) -> None:
    found = await session.get(ImapCursor, inbox_id, with_for_update=True)
    if found is None:
        session.add(
            ImapCursor(
                inbox_id=inbox_id,
                folder=folder,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                updated_at=clock.now(),
            )
        )
    else:
        found.folder = folder
        found.uidvalidity = uidvalidity
        found.last_uid = last_uid
        found.updated_at = clock.now()
