"""The events a conversation's changes and stored messages publish, built
from the rows as they are after the change (app/events/domain.py): the writer's
after-commit hook, and what the conversation services queue after commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import access
from app.conversations import repository as conversations_repo
from app.conversations.schemas import (
    conversation_out,
    message_out,
)
from app.conversations.writer import (
    OnStored,
    StoredMessage,
)
from app.db import Database
from app.events.bus import EventBus, publish_after_commit
from app.events.domain import (
    ConversationChange,
    ConversationChanged,
    ConversationScope,
    JobsQueued,
    MessageStored,
)
from app.inboxes import repository as inboxes_repo

# -- access ----------------------------------------------------------------


async def conversation_changed(
    session: AsyncSession,
    change: ConversationChange,
    conversation_id: int,
    *,
    notify_agents: Sequence[int] = (),
) -> None:
    """Queues the change for after the commit, with the conversation as it is now."""
    publish_after_commit(
        session, await change_event(session, change, conversation_id, notify_agents=notify_agents)
    )


async def change_event(
    session: AsyncSession,
    change: ConversationChange,
    conversation_id: int,
    *,
    notify_agents: Sequence[int] = (),
) -> ConversationChanged:
    """The change as an event, with the conversation as this session sees it."""
    await session.flush()
    row = await conversations_repo.get_with_refs(session, conversation_id)
    assert row is not None
    conversation, inbox, customer, assignee = row
    return ConversationChanged(
        change=change,
        scope=access.scope_of(conversation, await inboxes_repo.team_ids(session, inbox.id)),
        conversation=conversation_out(conversation, inbox, customer, assignee),
        notify_agent_ids=tuple(notify_agents),
    )


def stored_out(stored: StoredMessage) -> dict[str, Any]:
    """The REST shape of a just-stored message, without reading it back."""
    m = stored.new
    return message_out(
        message_id=stored.id,
        conversation_id=stored.conversation_id,
        seq=stored.seq,
        client_id=m.client_id,
        author_kind=m.author_kind,
        author_name=m.author_name,
        author_agent_id=m.author_agent_id,
        body=m.body,
        created_at=stored.created_at,
        private=m.private,
        channel=m.channel,
        delivery_status=m.delivery_status,
        delivery_error=None,
        sent_at=min(m.sent_at, stored.created_at) if m.sent_at else None,
        meta=m.meta,
    )


def message_stored(stored: StoredMessage) -> MessageStored:
    m = stored.new
    return MessageStored(
        scope=ConversationScope(
            conversation_id=stored.conversation_id,
            inbox_id=m.inbox_id,
            customer_id=stored.customer_id,
            assignee_id=stored.assignee_id,
            team_id=stored.team_id,
            inbox_team_ids=m.inbox_team_ids,
            status=stored.conversation_status,
        ),
        message=stored_out(stored),
        origin_connection=m.origin_connection,
        automatic=m.automatic,
    )


async def _opened_events(
    db: Database, stored: Sequence[StoredMessage]
) -> dict[int, ConversationChanged]:
    """The conversations the batch opened or reopened, read in one query: mail
    opens one per message, and a read each held up the writer."""
    opened = [item for item in stored if item.opened or item.reopened]
    if not opened:
        return {}
    async with db.read() as session:
        rows = await conversations_repo.get_many_with_refs(
            session, [item.conversation_id for item in opened]
        )
    events = {}
    for item in opened:
        row = rows.get(item.conversation_id)
        if row is not None:
            conversation, inbox, customer, assignee = row
            events[item.conversation_id] = ConversationChanged(
                change="opened" if item.opened else "reopened",
                scope=access.scope_of(conversation, item.new.inbox_team_ids),
                conversation=conversation_out(conversation, inbox, customer, assignee),
            )
    return events


def publisher(db: Database, bus: EventBus) -> OnStored:
    """The writer's after-commit hook: a conversation's opening before its first
    message, one event per stored message in seq order, then a wake-up for the
    worker when the batch queued jobs."""

    async def publish_stored(stored: Sequence[StoredMessage]) -> None:
        jobs = False
        opened_events = await _opened_events(db, stored)
        for item in stored:
            if item.opened or item.reopened:
                opened = opened_events.get(item.conversation_id)
                if opened is not None:
                    await bus.publish(opened)
            await bus.publish(message_stored(item))
            jobs = jobs or item.jobs_queued
        if jobs:
            await bus.publish(JobsQueued())

    return publish_stored
