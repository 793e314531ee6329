"""A customer's own view of their conversations in one inbox: the history they
may see, read marks and typing. Never anyone else's. (Their rating: app/reports/csat.py.)"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from app.auth.widget_sessions import (
    SessionLifetimes,
    WidgetIdentity,
    authenticate_session,
    record_seen,
    seen_due,
)
from app.contacts import repository as customers_repo
from app.conversations import repository as conversations_repo
from app.conversations.access import scope_of
from app.conversations.schemas import customer_view, stored_message_out
from app.db import Database
from app.errors import NotAuthenticated, NotFound
from app.events.bus import EventBus, publish_after_commit
from app.events.domain import ConversationRead, Typing
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.kit.crypto import token_digest
from app.models import Conversation, Inbox

HISTORY_PAGE = 200


@dataclass(frozen=True, slots=True)
class CurrentChat:
    """The customer's latest chat thread in an inbox."""

    id: int
    status: str
    # How far agents have read it: the widget's "Read" marks after a reload.
    agent_read_seq: int


@dataclass(frozen=True, slots=True)
class ChatOpening:
    """What a widget socket needs as it opens."""

    identity: WidgetIdentity
    inbox: Inbox
    inbox_team_ids: tuple[int, ...]
    customer_name: str | None
    # False: the customer the session's merges lead to is gone.
    customer_found: bool
    # The customer's latest chat thread in the inbox.
    current: CurrentChat | None


async def open_chat(db: Database, token: str, lifetimes: SessionLifetimes) -> ChatOpening:
    """Authenticates a widget socket's token and reads what the socket starts
    with, in one query and one thread hop (a reconnect storm opens thousands
    a second). Only a session whose customer was merged into another takes the
    longer way, which follows the merges. Raises NotAuthenticated."""
    digest = token_digest(token)
    row = await db.read_sync(lambda conn: conversations_repo.socket_opening(conn, digest))
    now = clock.now()
    if row is None or not lifetimes.alive(
        current=bool(row.current),
        last_seen_at=row.last_seen_at,
        previous_until=row.previous_until,
        now=now,
    ):
        raise NotAuthenticated("invalid widget session token")
    if seen_due(row.last_seen_at, now):
        # An opening counts as a use (idle expiry); at most one write an hour.
        await record_seen(db, row.session_id, now)
    # A plain copy of what the socket uses; never attached to a session.
    inbox = Inbox(
        id=row.inbox_id,
        channel=row.channel,
        mode=row.mode,
        config=row.config,
        business_hours=row.business_hours,
        responders=row.responders,
    )
    if row.merged_into_id is None:
        return ChatOpening(
            identity=WidgetIdentity(
                session_id=row.session_id,
                inbox_id=row.inbox_id,
                customer_id=row.customer_id,
                digest=digest,
                verified_external_id=row.verified_external_id,
                current=bool(row.current),
            ),
            inbox=inbox,
            inbox_team_ids=tuple(sorted(int(t) for t in row.team_ids.split(",")))
            if row.team_ids
            else (),
            customer_name=row.customer_name,
            customer_found=True,
            current=None
            if row.conversation_id is None
            else CurrentChat(
                row.conversation_id, str(row.conversation_status), int(row.agent_read_seq or 0)
            ),
        )
    async with db.read() as session:
        identity = await authenticate_session(session, token, lifetimes)
        merged_into = await customers_repo.get(session, identity.customer_id)
        team_ids = await inboxes_repo.team_ids(session, inbox.id)
    return ChatOpening(
        identity=identity,
        inbox=inbox,
        inbox_team_ids=team_ids,
        customer_name=merged_into.name if merged_into is not None else None,
        customer_found=merged_into is not None,
        current=await current_conversation(db, inbox.id, identity.customer_id),
    )


async def current_conversation(db: Database, inbox_id: int, customer_id: int) -> CurrentChat | None:
    """The customer's latest chat thread in the inbox."""
    row = await db.read_sync(
        lambda conn: conversations_repo.latest_chat_thread(conn, inbox_id, customer_id)
    )
    return None if row is None else CurrentChat(*row)


async def _own(db: Database, inbox_id: int, customer_id: int, conversation_id: int) -> Conversation:
    async with db.read() as session:
        conversation = await conversations_repo.get(session, conversation_id)
    if (
        conversation is None
        or conversation.customer_id != customer_id
        or conversation.inbox_id != inbox_id
    ):
        raise NotFound("no such conversation")
    return conversation


async def history_pages(
    db: Database, inbox_id: int, customer_id: int, conversation_id: int, after_seq: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every message after `after_seq` the customer may see, as `message` frames,
    a page at a time: each page is read in a short transaction of its own (one
    thread hop on SQLite: a reconnect storm resumes thousands at once), so a
    slow socket holds neither memory nor the database."""
    while True:
        rows = await db.read_sync(
            functools.partial(
                conversations_repo.customer_history_page,
                inbox_id=inbox_id,
                customer_id=customer_id,
                conversation_id=conversation_id,
                after_seq=after_seq,
                limit=HISTORY_PAGE,
            )
        )
        if rows is None:
            raise NotFound("no such conversation")
        if rows:
            yield [customer_view(stored_message_out(m, "web")) for m in rows]
            after_seq = rows[-1].seq
        if len(rows) < HISTORY_PAGE:
            return


async def mark_read(
    db: Database,
    inbox_id: int,
    inbox_team_ids: tuple[int, ...],
    customer_id: int,
    conversation_id: int,
    seq: int,
) -> None:
    async with db.write() as session:
        result = await session.execute(
            update(Conversation)
            .where(
                Conversation.id == conversation_id,
                Conversation.inbox_id == inbox_id,
                Conversation.customer_id == customer_id,
                Conversation.customer_last_read_seq < seq,
                Conversation.last_seq >= seq,
            )
            .values(customer_last_read_seq=seq)
            .returning(Conversation)
        )
        conversation = result.scalar_one_or_none()
        if conversation is not None:
            publish_after_commit(
                session, ConversationRead(scope=scope_of(conversation, inbox_team_ids), seq=seq)
            )


async def typing(
    db: Database,
    bus: EventBus,
    inbox_id: int,
    inbox_team_ids: tuple[int, ...],
    customer_id: int,
    customer_name: str | None,
    conversation_id: int,
    on: bool,
) -> None:
    conversation = await _own(db, inbox_id, customer_id, conversation_id)
    await bus.publish(
        Typing(
            scope=scope_of(conversation, inbox_team_ids),
            author_kind="customer",
            author_name=customer_name,
            on=on,
        )
    )
