"""Conversations: open, reply, assign, transfer, resolve, reopen.

Each write happens in one transaction; its events leave after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository as agents_repo
from app.auth.roles import Role
from app.conversations import repository as conversations_repo
from app.conversations.repository import ConversationRow
from app.conversations.schemas import conversation_out, message_frame, message_out
from app.conversations.writer import MessageWriter, NewMessage, OnStored, StoredMessage
from app.db import Database, publish_after_commit
from app.errors import Forbidden, InvalidRequest, NotFound
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.models import Agent, Conversation
from app.realtime.bus import EventBus
from app.realtime.events import Audience, Event

# -- access ----------------------------------------------------------------


async def agent_may_see(session: AsyncSession, agent: Agent, conversation: Conversation) -> bool:
    if Role(agent.role).includes(Role.SUPERVISOR) or conversation.assignee_id == agent.id:
        return True
    inbox_teams = await inboxes_repo.team_ids(session, conversation.inbox_id)
    if not inbox_teams:
        return True
    return bool(set(inbox_teams) & await conversations_repo.agent_team_ids(session, agent.id))


async def visible_conversation(
    session: AsyncSession, agent: Agent, conversation_id: int, *, lock: bool = False
) -> ConversationRow:
    row = await conversations_repo.get_with_refs(session, conversation_id, lock=lock)
    if row is None or not await agent_may_see(session, agent, row[0]):
        raise NotFound("no such conversation")
    return row


def visibility_filter(agent: Agent) -> int | None:
    """None: sees everything; else the agent id whose inboxes bound the list."""
    return None if Role(agent.role).includes(Role.SUPERVISOR) else agent.id


# -- events ----------------------------------------------------------------


async def conversation_event(
    session: AsyncSession,
    kind: str,
    conversation_id: int,
    *,
    notify_agents: Sequence[int] = (),
    customer_frame: dict[str, Any] | None = None,
) -> None:
    """Queues `conversation.<kind>` for the agents who should see it."""
    row = await conversations_repo.get_with_refs(session, conversation_id)
    assert row is not None
    conversation, inbox, customer, assignee = row
    publish_after_commit(
        session,
        Event(
            audience=Audience(
                conversation_id=conversation.id,
                inbox_id=inbox.id,
                customer_id=customer.id,
                assignee_id=conversation.assignee_id,
                inbox_team_ids=(conversation.team_id,)
                if conversation.team_id
                else await inboxes_repo.team_ids(session, inbox.id),
                offer_when_unassigned=conversation.status != "resolved",
                agent_ids=tuple(notify_agents),
            ),
            agent_frame={
                "type": f"conversation.{kind}",
                "conversation": conversation_out(conversation, inbox, customer, assignee),
            },
            customer_frame=customer_frame,
        ),
    )


def status_frame(conversation: Conversation) -> dict[str, Any]:
    return {
        "type": "status",
        "conversation_id": conversation.id,
        "conversation_status": conversation.status,
    }


def _stored_frame(stored: StoredMessage) -> dict[str, Any]:
    m = stored.new
    return message_frame(
        message_id=stored.id,
        conversation_id=stored.conversation_id,
        seq=stored.seq,
        client_id=m.client_id,
        author_kind=m.author_kind,
        author_name=m.author_name,
        author_agent_id=m.author_agent_id,
        body=m.body,
        created_at=stored.created_at,
    )


def stored_out(stored: StoredMessage) -> dict[str, Any]:
    """The REST shape of a just-stored message, without reading it back."""
    out = _stored_frame(stored)
    del out["type"]
    out["private"] = stored.new.private
    out["channel"] = stored.new.channel
    return out


def message_events(stored: StoredMessage) -> Event:
    m = stored.new
    frame = _stored_frame(stored)
    return Event(
        audience=Audience(
            conversation_id=stored.conversation_id,
            inbox_id=m.inbox_id,
            customer_id=stored.customer_id,
            assignee_id=stored.assignee_id,
            inbox_team_ids=(stored.team_id,) if stored.team_id else m.inbox_team_ids,
            offer_when_unassigned=stored.conversation_status != "resolved",
            agent_ids=(m.author_agent_id,) if m.author_agent_id is not None else (),
            exclude_connection=m.origin_connection,
        ),
        agent_frame={
            "type": "message.created",
            "conversation_id": stored.conversation_id,
            "message": stored_out(stored),
        },
        # Private notes never reach the customer.
        customer_frame=None if m.private else frame,
    )


def publisher(bus: EventBus) -> OnStored:
    """The writer's after-commit hook: one event per stored message, in seq order."""

    async def publish_stored(stored: Sequence[StoredMessage]) -> None:
        for item in stored:
            await bus.publish(message_events(item))

    return publish_stored


# -- opening ---------------------------------------------------------------


async def open_conversation(
    db: Database, inbox_id: int, customer_id: int, thread_key: str = ""
) -> int:
    async with db.write() as session:
        conversation_id, created = await conversations_repo.open_thread(
            session, inbox_id, customer_id, thread_key, clock.now()
        )
        if created:
            # Until routing lands, a new conversation is offered to every
            # online agent who serves the inbox.
            await conversation_event(session, "updated", conversation_id)
    return conversation_id


# -- agent actions ---------------------------------------------------------


async def post_agent_message(
    db: Database,
    writer: MessageWriter,
    agent: Agent,
    conversation_id: int,
    *,
    body: str,
    private: bool,
    client_id: str | None,
) -> StoredMessage:
    async with db.write() as session:
        conversation, inbox, _, _ = await visible_conversation(
            session, agent, conversation_id, lock=True
        )
        if conversation.assignee_id is None and not private:
            # Replying to an unassigned conversation takes it.
            conversation.assignee_id = agent.id
            conversation.updated_at = clock.now()
            await session.flush()
            await conversation_event(session, "assigned", conversation.id)
        team_ids = await inboxes_repo.team_ids(session, inbox.id)
    return await writer.append(
        NewMessage(
            conversation_id=conversation_id,
            inbox_id=inbox.id,
            channel=inbox.channel,
            author_kind="agent",
            author_agent_id=agent.id,
            author_name=agent.name,
            body=body,
            private=private,
            client_id=client_id,
            external_id=f"agent:{agent.id}:{client_id}" if client_id else None,
            inbox_team_ids=team_ids,
        )
    )


async def set_status(
    db: Database, agent: Agent, conversation_id: int, status: str
) -> dict[str, Any]:
    async with db.write() as session:
        conversation, _, _, _ = await visible_conversation(
            session, agent, conversation_id, lock=True
        )
        if conversation.status != status:
            now = clock.now()
            conversation.status = status
            conversation.updated_at = now
            conversation.resolved_at = now if status == "resolved" else None
            try:
                await session.flush()
            except IntegrityError as exc:  # the partial unique index: one open thread
                raise InvalidRequest(
                    "the customer already has an open conversation in this inbox"
                ) from exc
            await conversation_event(
                session, "updated", conversation.id, customer_frame=status_frame(conversation)
            )
    return await get_conversation(db, agent, conversation_id)


async def assign(
    db: Database, actor: Agent, conversation_id: int, agent_id: int | None
) -> dict[str, Any]:
    async with db.write() as session:
        conversation, _, _, _ = await visible_conversation(
            session, actor, conversation_id, lock=True
        )
        # An agent takes what is free or hands on their own; supervisors do anything.
        if not Role(actor.role).includes(Role.SUPERVISOR) and conversation.assignee_id not in (
            None,
            actor.id,
        ):
            raise Forbidden("only a supervisor reassigns another agent's conversation")
        target = None
        if agent_id is not None:
            target = await agents_repo.get(session, agent_id)
            if target is None or not target.is_active:
                raise NotFound("no such agent")
            if not await agent_may_see(session, target, conversation):
                raise InvalidRequest("that agent does not serve this inbox")
        previous = conversation.assignee_id
        if previous != agent_id:
            conversation.assignee_id = agent_id
            conversation.updated_at = clock.now()
            await session.flush()
            await conversation_event(
                session,
                "assigned",
                conversation.id,
                notify_agents=tuple(a for a in (previous, actor.id) if a is not None),
            )
    return await get_conversation(db, actor, conversation_id)


async def get_conversation(db: Database, agent: Agent, conversation_id: int) -> dict[str, Any]:
    async with db.read() as session:
        return conversation_out(*await visible_conversation(session, agent, conversation_id))


async def messages(
    db: Database, agent: Agent, conversation_id: int, after_seq: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    async with db.read() as session:
        _, inbox, _, _ = await visible_conversation(session, agent, conversation_id)
        rows = await conversations_repo.messages_after(
            session, conversation_id, after_seq, limit, include_private=True
        )
    items = [message_out(m, inbox.channel) for m in rows]
    return items, rows[-1].seq if len(rows) == limit else None


async def transfer(
    db: Database,
    writer: MessageWriter,
    actor: Agent,
    conversation_id: int,
    *,
    agent_id: int | None,
    team: str | None,
    note: str | None,
) -> dict[str, Any]:
    """Hands over to an agent or a team, leaving a private note as the summary."""
    if (agent_id is None) == (team is None):
        raise InvalidRequest("give either agent_id or team")
    target_name: str
    async with db.write() as session:
        conversation, inbox, _, _ = await visible_conversation(
            session, actor, conversation_id, lock=True
        )
        previous = conversation.assignee_id
        if agent_id is not None:
            target = await agents_repo.get(session, agent_id)
            if target is None or not target.is_active:
                raise NotFound("no such agent")
            if not await agent_may_see(session, target, conversation):
                raise InvalidRequest("that agent does not serve this inbox")
            conversation.assignee_id = target.id
            target_name = target.name
        else:
            assert team is not None
            teams = await agents_repo.existing_teams(session, [team])
            if not teams:
                raise NotFound("no such team")
            conversation.team_id = teams[0].id
            conversation.assignee_id = None
            target_name = f"team {team}"
        conversation.updated_at = clock.now()
        await session.flush()
        await conversation_event(
            session,
            "assigned",
            conversation.id,
            notify_agents=tuple(a for a in (previous, actor.id) if a is not None),
        )
        team_ids = await inboxes_repo.team_ids(session, inbox.id)
    summary = f"Transferred to {target_name} by {actor.name}"
    await writer.append(
        NewMessage(
            conversation_id=conversation_id,
            inbox_id=inbox.id,
            channel=inbox.channel,
            author_kind="system",
            author_name="Madoguchi",
            body=f"{summary}: {note}" if note else summary,
            private=True,
            inbox_team_ids=team_ids,
        )
    )
    return await get_conversation(db, actor, conversation_id)
