"""Conversations as agents work them: reply, assign, transfer, resolve, reopen.

Each write happens in one transaction; its events leave after the commit.
Who may see what is decided by app/conversations/access.py alone.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, case, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository as agents_repo
from app.attachments.files import CheckedFile, new_files
from app.attachments.repository import write_files
from app.channels.base import ChannelAdapter, reply_window
from app.channels.registry import ChannelRegistry
from app.conversations import access
from app.conversations import repository as conversations_repo
from app.conversations.outbox import DELIVER
from app.conversations.publishing import conversation_changed
from app.conversations.repository import ConversationRow
from app.conversations.schemas import (
    conversation_out,
    csat_out,
    stored_message_out,
)
from app.conversations.writer import (
    JobSpec,
    MessageWriter,
    NewMessage,
    StoredMessage,
    WithRows,
    rows_in_order,
)
from app.db import Database
from app.errors import Forbidden, InvalidRequest, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import (
    ConversationChange,
    ConversationRead,
    ConversationScope,
    MessageStored,
)
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.models import Agent, Conversation, Inbox, Message
from app.models.conversation import PROMISE_KEPT, PROMISE_MISSED

# -- access ----------------------------------------------------------------


async def visible_conversation(
    session: AsyncSession, viewer: access.Viewer, conversation_id: int, *, lock: bool = False
) -> ConversationRow:
    """The conversation if the viewer may see it; 404 otherwise (its existence
    is nobody else's business)."""
    row = await conversations_repo.get_with_refs(session, conversation_id, lock=lock)
    if row is None:
        raise NotFound("no such conversation")
    inbox_teams = await inboxes_repo.team_ids(session, row[0].inbox_id)
    if not access.may_see(viewer, access.scope_of(row[0], inbox_teams)):
        raise NotFound("no such conversation")
    return row


def check_may_reassign(viewer: access.Viewer, conversation: Conversation) -> None:
    """Agents take what is free or hand on their own; supervisors do anything."""
    if not viewer.sees_everything and conversation.assignee_id not in (None, viewer.agent_id):
        raise Forbidden("only a supervisor reassigns another agent's conversation")


async def _check_serves(session: AsyncSession, agent: Agent, scope: ConversationScope) -> None:
    target = await access.viewer_of(session, agent)
    if not access.serves(target.agent_id, target.team_ids, scope):
        raise InvalidRequest("that agent does not serve this conversation")


async def hand_over(
    session: AsyncSession,
    conversation: Conversation,
    inbox: Inbox,
    inbox_teams: tuple[int, ...],
    *,
    actor: Agent,
    previous_assignee: int | None,
    summary: str,
    note: str | None,
) -> dict[str, Any]:
    """The end of a transfer or an escalation: the handover note first, then the
    change, and the conversation as handed over. Answered from inside the
    transaction: whoever handed it on may no longer see it afterwards."""
    await add_note(
        session, conversation, inbox, inbox_teams, f"{summary}: {note}" if note else summary
    )
    await conversation_changed(
        session,
        "transferred",
        conversation.id,
        notify_agents=tuple(a for a in (previous_assignee, actor.id) if a is not None),
    )
    row = await conversations_repo.get_with_refs(session, conversation.id)
    assert row is not None
    return conversation_out(*row)


async def add_note(
    session: AsyncSession,
    conversation: Conversation,
    inbox: Inbox,
    inbox_team_ids: tuple[int, ...],
    body: str,
) -> None:
    """A private system note, stored in the caller's transaction with the
    change it explains (a handover, a reassignment), so whoever the change
    reaches finds it in the history first. The caller holds the conversation's
    row lock, which is what keeps seq gap-free here as in the writer. Call it
    after the change: the note goes to those the conversation now reaches."""
    now = clock.now()
    conversation.last_seq += 1
    conversation.last_message_at = now
    conversation.updated_at = now
    note = Message(
        conversation_id=conversation.id,
        inbox_id=inbox.id,
        seq=conversation.last_seq,
        author_kind="system",
        author_name="Madoguchi",
        body=body,
        private=True,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    publish_after_commit(
        session,
        MessageStored(
            scope=access.scope_of(conversation, inbox_team_ids),
            message=stored_message_out(note, inbox.channel),
        ),
    )


# -- agent actions ---------------------------------------------------------


async def post_agent_message(
    db: Database,
    writer: MessageWriter,
    channels: ChannelRegistry,
    agent: Agent,
    conversation_id: int,
    *,
    body: str,
    private: bool,
    client_id: str | None,
    follow_up_seconds: float = 0,
    files: Sequence[CheckedFile] = (),
) -> StoredMessage:
    """Stores an agent's reply or note. A reply on a channel with its own send
    goes out through the outbox: its `deliver` job is committed with it. A reply
    the channel would refuse (Meta's 24-hour window) is refused here instead.
    A widget reply carries a follow-up job: unread after `follow_up_seconds`,
    it is mailed to the customer (app/contacts/follow_up.py)."""
    # A reply to a conversation the agent has needs only reads here (the
    # writer stores it): a write transaction per reply queued every agent
    # behind the writer's commits on a busy desk.
    async with db.read() as session:
        inbox, team_ids, takes = await _reply_allowed(
            session, channels, agent, conversation_id, private=private, files=files
        )
    if takes:
        # Replying to an unassigned conversation takes it: under the row's
        # lock, as another agent may be taking it this moment.
        async with db.write() as session:
            inbox, team_ids, takes = await _reply_allowed(
                session, channels, agent, conversation_id, private=private, files=files, lock=True
            )
            if takes:
                conversation = await conversations_repo.get(session, conversation_id)
                assert conversation is not None
                conversation.assignee_id = agent.id
                conversation.updated_at = clock.now()
                conversation.assigned_at = conversation.updated_at
                await conversation_changed(session, "assigned", conversation.id)
    outbound = _sends(channels.get(inbox.channel), private)
    stored = new_files(files) if files else None
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
            delivery_status="pending" if outbound else None,
            jobs=(JobSpec(DELIVER, dedupe_key="deliver:{message_id}"),)
            if outbound
            else _follow_up(inbox, private, follow_up_seconds),
            inbox_team_ids=team_ids,
            meta={"attachments": stored.meta} if stored is not None else None,
            with_rows=rows_in_order(
                # The first human reply settles the reply time the customer was promised.
                None if private else _settle_promise(conversation_id),
                functools.partial(write_files, files=stored.rows) if stored else None,
            ),
        )
    )


async def _reply_allowed(
    session: AsyncSession,
    channels: ChannelRegistry,
    agent: Agent,
    conversation_id: int,
    *,
    private: bool,
    files: Sequence[CheckedFile],
    lock: bool = False,
) -> tuple[Inbox, tuple[int, ...], bool]:
    """Checks that the agent may post this here; returns the inbox, its
    teams, and whether the post takes the conversation (unassigned)."""
    viewer = await access.viewer_of(session, agent)
    conversation, inbox, _, _ = await visible_conversation(
        session, viewer, conversation_id, lock=lock
    )
    if files and not private and inbox.channel != "web":
        # The outbox sends text only: a file it would drop is refused now.
        raise FilesNotSent(
            f"files reach customers in the web widget only; on {inbox.channel} send a link,"
            " or keep the file as a private note"
        )
    adapter = channels.get(inbox.channel)
    window = reply_window(adapter) if _sends(adapter, private) else None
    if window is not None:
        await check_reply_window(session, inbox, conversation.customer_id, window)
    team_ids = await inboxes_repo.team_ids(session, inbox.id)
    return inbox, team_ids, conversation.assignee_id is None and not private


def _sends(adapter: ChannelAdapter[Any] | None, private: bool) -> bool:
    """The post leaves through the channel's own send (the outbox)."""
    return not private and adapter is not None and adapter.sends


class FilesNotSent(InvalidRequest):
    code = "files_not_sent_on_channel"


# The job kind of app/contacts/follow_up.py (named here: contacts imports this module).
FOLLOW_UP = "widget_follow_up"


def _follow_up(inbox: Inbox, private: bool, delay_seconds: float) -> tuple[JobSpec, ...]:
    if inbox.channel != "web" or private or delay_seconds <= 0:
        return ()
    return (JobSpec(FOLLOW_UP, delay_seconds=delay_seconds, dedupe_key="follow-up:{message_id}"),)


class MessagingWindowClosed(InvalidRequest):
    code = "messaging_window_closed"


async def check_reply_window(
    session: AsyncSession, inbox: Inbox, customer_id: int, window: timedelta
) -> None:
    """Meta lets a business answer freely only so long after the customer's
    last message (by the platform's clock); past that the send would fail, so
    the agent learns it now, with the reason."""
    last = await conversations_repo.latest_customer_sent_at(session, inbox.id, customer_id)
    if last is not None and clock.now() - last <= window:
        return
    hours = round(window.total_seconds() / 3600)
    since = f" (the last was at {last.isoformat()})" if last else ""
    raise MessagingWindowClosed(
        f"{inbox.channel} allows a reply only within {hours} hours of the customer's"
        f" last message{since}; it can be sent once the customer writes again"
    )


async def set_status(
    db: Database, agent: Agent, conversation_id: int, status: str
) -> dict[str, Any]:
    async with db.write() as session:
        viewer = await access.viewer_of(session, agent)
        conversation, _, _, _ = await visible_conversation(
            session, viewer, conversation_id, lock=True
        )
        if conversation.status != status:
            now = clock.now()
            conversation.status = status
            conversation.updated_at = now
            conversation.resolved_at = now if status == "resolved" else None
            if status == "open" and conversation.queued_at is not None:
                # Routing's queue: a reopened conversation waits from now.
                conversation.queued_at = now
            try:
                await session.flush()
            except IntegrityError as exc:  # the partial unique index: one open thread
                raise InvalidRequest(
                    "the customer already has an open conversation in this inbox"
                ) from exc
            change: ConversationChange = "resolved" if status == "resolved" else "reopened"
            # The agent who did it hears it too, even for a chat nobody holds.
            await conversation_changed(session, change, conversation.id, notify_agents=(agent.id,))
    return await get_conversation(db, agent, conversation_id)


async def assign(
    db: Database, actor: Agent, conversation_id: int, agent_id: int | None
) -> dict[str, Any]:
    async with db.write() as session:
        viewer = await access.viewer_of(session, actor)
        conversation, _, _, _ = await visible_conversation(
            session, viewer, conversation_id, lock=True
        )
        check_may_reassign(viewer, conversation)
        if agent_id is not None:
            target = await agents_repo.get(session, agent_id)
            if target is None or not target.is_active:
                raise NotFound("no such agent")
            scope = access.scope_of(
                conversation, await inboxes_repo.team_ids(session, conversation.inbox_id)
            )
            # Whom the conversation would reach once assigned: its team, or its inbox's.
            await _check_serves(session, target, _unassigned(scope))
        previous = conversation.assignee_id
        if previous != agent_id:
            conversation.assignee_id = agent_id
            conversation.updated_at = clock.now()
            conversation.assigned_at = conversation.updated_at if agent_id is not None else None
            await conversation_changed(
                session,
                "assigned",
                conversation.id,
                notify_agents=tuple(a for a in (previous, actor.id) if a is not None),
            )
    return await get_conversation(db, actor, conversation_id)


def _unassigned(scope: ConversationScope) -> ConversationScope:
    return ConversationScope(
        conversation_id=scope.conversation_id,
        inbox_id=scope.inbox_id,
        customer_id=scope.customer_id,
        assignee_id=None,
        team_id=scope.team_id,
        inbox_team_ids=scope.inbox_team_ids,
        status=scope.status,
    )


async def get_conversation(db: Database, agent: Agent, conversation_id: int) -> dict[str, Any]:
    async with db.read() as session:
        viewer = await access.viewer_of(session, agent)
        row = await visible_conversation(session, viewer, conversation_id)
        csat = await conversations_repo.csat_of(session, conversation_id)
    return {**conversation_out(*row), "csat": csat_out(csat)}


async def mark_read(db: Database, agent: Agent, conversation_id: int, seq: int) -> None:
    """An agent read the conversation up to `seq`: the customer sees a read
    mark, and the console's unread mark goes for every agent."""
    async with db.write() as session:
        viewer = await access.viewer_of(session, agent)
        conversation, inbox, _, _ = await visible_conversation(session, viewer, conversation_id)
        if await conversations_repo.mark_agent_read(session, conversation_id, seq):
            scope = access.scope_of(conversation, await inboxes_repo.team_ids(session, inbox.id))
            publish_after_commit(session, ConversationRead(scope=scope, seq=seq, reader="agent"))


async def messages(
    db: Database, agent: Agent, conversation_id: int, after_seq: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    async with db.read() as session:
        viewer = await access.viewer_of(session, agent)
        _, inbox, _, _ = await visible_conversation(session, viewer, conversation_id)
        rows = await conversations_repo.messages_after(
            session, conversation_id, after_seq, limit, include_private=True
        )
    items = [stored_message_out(m, inbox.channel) for m in rows]
    return items, rows[-1].seq if len(rows) == limit else None


async def transfer(
    db: Database,
    actor: Agent,
    conversation_id: int,
    *,
    agent_id: int | None,
    team: str | None,
    note: str | None,
) -> dict[str, Any]:
    """Hands over to an agent or a team, leaving a private note as the summary.

    The same rules as assign: an agent hands on only what is free or theirs,
    and only to someone (or a team) who serves the conversation's inbox. To a
    team, the conversation waits in routing's queue for that team's members,
    at the place it first had. The note is stored in the same commit as the
    handover, so the receiving agent finds it before anything else.
    """
    if (agent_id is None) == (team is None):
        raise InvalidRequest("give either agent_id or team")
    target_name: str
    async with db.write() as session:
        viewer = await access.viewer_of(session, actor)
        conversation, inbox, _, _ = await visible_conversation(
            session, viewer, conversation_id, lock=True
        )
        check_may_reassign(viewer, conversation)
        inbox_teams = await inboxes_repo.team_ids(session, inbox.id)
        previous = conversation.assignee_id
        now = clock.now()
        if agent_id is not None:
            target = await agents_repo.get(session, agent_id)
            if target is None or not target.is_active:
                raise NotFound("no such agent")
            scope = _unassigned(access.scope_of(conversation, inbox_teams))
            await _check_serves(session, target, scope)
            conversation.assignee_id = target.id
            conversation.assigned_at = now
            target_name = target.name
        else:
            assert team is not None
            teams = await agents_repo.existing_teams(session, [team])
            if not teams:
                raise NotFound("no such team")
            if not access.team_serves_inbox(teams[0].id, inbox_teams):
                raise InvalidRequest("that team does not serve this conversation's inbox")
            conversation.team_id = teams[0].id
            conversation.assignee_id = None
            conversation.assigned_at = None
            conversation.queued_at = conversation.queued_at or now
            target_name = f"team {team}"
        # A handover starts afresh: no earlier escalation or timeout applies.
        conversation.escalated_to = None
        conversation.required_skill = None
        # Handed to a team (one's own too), the chat waits for a colleague:
        # whoever handed it on is passed over at the next pick.
        conversation.passed_agent_id = (
            (previous if previous is not None else actor.id) if agent_id is None else None
        )
        conversation.updated_at = now
        return await hand_over(
            session,
            conversation,
            inbox,
            inbox_teams,
            actor=actor,
            previous_assignee=previous,
            summary=f"Transferred to {target_name} by {actor.name}",
            note=note,
        )


def _settle_promise(conversation_id: int) -> WithRows:
    """Rows for a human reply's commit: the reply time the customer was
    promised (app/responders/promises.py) is kept or missed, once."""

    def write(conn: Connection, message_id: int) -> None:
        now = clock.now()
        conn.execute(
            update(Conversation)
            .where(
                Conversation.id == conversation_id,
                Conversation.promised_reply_by.is_not(None),
                Conversation.promise_outcome.is_(None),
            )
            .values(
                promise_outcome=case(
                    (Conversation.promised_reply_by >= now, PROMISE_KEPT), else_=PROMISE_MISSED
                )
            )
        )

    return write
