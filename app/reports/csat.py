"""CSAT: asking for a rating when a conversation is resolved, storing the
answer, and the optional follow-up.

One rating per conversation. In the widget the customer may change their
mind: a second `csat` frame replaces the rating (the customer's own session
is the proof it is them). A link works once, and not at all once the
conversation is rated (`link_used`, 410): a link forwarded or clicked again
changes nothing. A customer rates only a resolved conversation of their own.

Asking goes on the channel the customer used: the widget gets a
`csat_request` frame (its prompt); email and the social platforms get a
system message with a link to a one-click page, `/csat/{token}`. The token is
random (256 bits), stored only as its digest, names one conversation and works
once. On Meta's platforms the message is sent only inside the 24-hour window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import reply_window
from app.channels.registry import ChannelRegistry
from app.conversations import access
from app.conversations import repository as conversations_repo
from app.conversations.writer import MessageWriter
from app.db import Database
from app.errors import AppError, Conflict, InvalidRequest, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import CsatRequested
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.kit.crypto import new_token, token_digest
from app.models import (
    Conversation,
    CsatRequest,
    CsatResponse,
    Inbox,
    Job,
    Message,
    ServicePolicy,
)
from app.responders.system_message import system_message
from app.worker.runner import enqueue

log = logging.getLogger(__name__)

CSAT_ASK = "csat.ask"
FOLLOW_UP = "csat.follow_up"
# Only resolutions this recent are asked about: a fold of old history (an
# upgrade, a restore) must not mail every customer who was ever helped.
ASK_WITHIN = timedelta(hours=1)
ASK_TEXT = "How did we do? Please rate this conversation (it takes one click): {link}"
FOLLOW_UP_TEXT = "Is everything working now? If not, just reply to this message."


class AlreadyRated(Conflict):
    code = "already_rated"


class NotResolved(InvalidRequest):
    code = "not_resolved"


class LinkUsed(AppError):
    """The link was used, or the conversation rated another way: 410 Gone."""

    code = "link_used"
    status = 410


# -- storing ------------------------------------------------------------------


async def record_csat(
    session: AsyncSession,
    conversation: Conversation,
    rating: int,
    comment: str | None,
    channel: str,
    *,
    replace: bool = False,
) -> CsatResponse:
    """Stores the conversation's rating. One that exists is replaced when
    `replace`, else AlreadyRated."""
    if not 1 <= rating <= 5:
        raise InvalidRequest("rating is 1 to 5")
    if conversation.status != "resolved":
        raise NotResolved("only a resolved conversation can be rated")
    if replace:
        existing = (
            await session.execute(
                select(CsatResponse)
                .where(CsatResponse.conversation_id == conversation.id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if existing is not None:
            existing.rating = rating
            existing.comment = (comment or "").strip() or None
            existing.channel = channel
            existing.created_at = clock.now()
            return existing
    response = CsatResponse(
        conversation_id=conversation.id,
        rating=rating,
        comment=(comment or "").strip() or None,
        channel=channel,
        customer_id=conversation.customer_id,
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(response)
    except IntegrityError as exc:
        raise AlreadyRated("this conversation has been rated already") from exc
    return response


async def rate_from_widget(
    db: Database,
    inbox_id: int,
    customer_id: int,
    conversation_id: int | None,
    rating: int,
    comment: str | None,
) -> int:
    """The widget's `csat` frame: the customer's own conversation in this
    inbox (the latest one unless named), once it is resolved; a second
    rating replaces the first."""
    async with db.write() as session:
        stmt = select(Conversation).where(
            Conversation.inbox_id == inbox_id, Conversation.customer_id == customer_id
        )
        if conversation_id is not None:
            stmt = stmt.where(Conversation.id == conversation_id)
        else:
            stmt = stmt.where(Conversation.thread_key == "").order_by(Conversation.id.desc())
        conversation = (await session.execute(stmt.limit(1))).scalar_one_or_none()
        if conversation is None:
            raise NotFound("there is no such conversation to rate")
        await record_csat(session, conversation, rating, comment, "web", replace=True)
        return conversation.id


# -- links --------------------------------------------------------------------


async def issue_link(session: AsyncSession, conversation_id: int, channel: str) -> str:
    token = new_token()
    session.add(
        CsatRequest(
            conversation_id=conversation_id,
            digest=token_digest(token),
            channel=channel,
            created_at=clock.now(),
        )
    )
    await session.flush()
    return token


async def link_conversation(db: Database, token: str) -> tuple[int, str]:
    """(conversation id, inbox name) of a link still usable; NotFound or
    LinkUsed otherwise."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(CsatRequest, Inbox.name)
                .join(Conversation, Conversation.id == CsatRequest.conversation_id)
                .join(Inbox, Inbox.id == Conversation.inbox_id)
                .where(CsatRequest.digest == token_digest(token))
            )
        ).first()
        if row is None:
            raise NotFound("this rating link is not known")
        request, inbox_name = row
        rated = await session.execute(
            select(exists().where(CsatResponse.conversation_id == request.conversation_id))
        )
        if request.used_at is not None or rated.scalar_one():
            raise LinkUsed("this conversation has been rated already; thank you")
        return request.conversation_id, str(inbox_name)


async def rate_by_link(db: Database, token: str, rating: int, comment: str | None) -> int:
    """Uses the link once: marks it used and stores the rating in one commit."""
    async with db.write() as session:
        request = (
            await session.execute(
                select(CsatRequest).where(CsatRequest.digest == token_digest(token))
            )
        ).scalar_one_or_none()
        if request is None:
            raise NotFound("this rating link is not known")
        used = await session.execute(
            update(CsatRequest)
            .where(CsatRequest.id == request.id, CsatRequest.used_at.is_(None))
            .values(used_at=clock.now())
        )
        if not getattr(used, "rowcount", 0):
            raise LinkUsed("this rating link has been used already; thank you")
        conversation = await session.get(Conversation, request.conversation_id)
        if conversation is None:
            raise NotFound("this rating link is not known")
        try:
            await record_csat(session, conversation, rating, comment, request.channel)
        except AlreadyRated as exc:
            raise LinkUsed("this conversation has been rated already; thank you") from exc
        return conversation.id


# -- asking and following up ------------------------------------------------------


async def plan_after_resolve(
    session: AsyncSession, resolutions: Sequence[tuple[int, datetime]]
) -> None:
    """The fold's hook for new resolutions: the CSAT question and the
    follow-up, as jobs in the fold's transaction."""
    now = clock.now()
    recent = [(cid, at) for cid, at in resolutions if now - at <= ASK_WITHIN]
    if not recent:
        return
    # Only what a person worked on: a redirect inbox's conversations are kept
    # resolved from the start, and a chat nobody answered has nothing to rate.
    answered = exists().where(
        Message.conversation_id == Conversation.id,
        Message.author_kind == "agent",
        Message.private.is_(False),
    )
    rows = await session.execute(
        select(Conversation.id, ServicePolicy)
        .join(Inbox, Inbox.id == Conversation.inbox_id)
        .outerjoin(ServicePolicy, ServicePolicy.inbox_id == Conversation.inbox_id)
        .where(
            Conversation.id.in_([cid for cid, _ in recent]),
            Inbox.mode == "live",
            answered,
        )
    )
    policies = {int(cid): policy for cid, policy in rows}
    for cid, at in recent:
        if cid not in policies:
            continue
        policy = policies[cid]
        payload = {"conversation_id": cid, "resolved_at": at.isoformat()}
        if policy is None or policy.csat_enabled:
            await _enqueue_once(session, CSAT_ASK, payload, at, f"csat:{cid}:{at.isoformat()}")
        if policy is not None and policy.follow_up_seconds:
            due = at + timedelta(seconds=policy.follow_up_seconds)
            await _enqueue_once(session, FOLLOW_UP, payload, due, f"follow:{cid}:{at.isoformat()}")


async def _enqueue_once(
    session: AsyncSession, kind: str, payload: dict[str, Any], due: datetime, key: str
) -> None:
    if (await session.execute(select(Job.id).where(Job.dedupe_key == key))).first() is None:
        await enqueue(session, kind, payload, due_at=due, dedupe_key=key)


class _ChannelMessage:
    """Writes a system message on the conversation's channel (the outbox sends it)."""

    def __init__(self, db: Database, writer: MessageWriter, channels: ChannelRegistry) -> None:
        self.db = db
        self.writer = writer
        self.channels = channels

    async def send(self, conversation: Conversation, inbox: Inbox, body: str, key: str) -> bool:
        adapter = self.channels.get(inbox.channel)
        window = reply_window(adapter) if adapter is not None and adapter.sends else None
        async with self.db.read() as session:
            team_ids = await inboxes_repo.team_ids(session, inbox.id)
            if window is not None:
                last = await conversations_repo.latest_customer_sent_at(
                    session, inbox.id, conversation.customer_id
                )
                if last is None or clock.now() - last > window:
                    log.info("conversation %s: outside the reply window", conversation.id)
                    return False
        await self.writer.append(
            system_message(
                self.channels,
                inbox,
                conversation.id,
                body=body,
                external_id=f"auto:{key}",
                team_ids=team_ids,
            )
        )
        return True


async def _load(
    db: Database, payload: dict[str, Any]
) -> tuple[Conversation, Inbox, ServicePolicy | None, bool] | None:
    """The conversation, if still resolved as the job knew it: (conversation,
    inbox, policy, rated)."""
    async with db.read() as session:
        conversation = await session.get(Conversation, int(payload["conversation_id"]))
        if conversation is None or conversation.status != "resolved":
            return None
        if conversation.resolved_at is None or conversation.resolved_at != datetime.fromisoformat(
            payload["resolved_at"]
        ):
            return None
        inbox = await session.get(Inbox, conversation.inbox_id)
        if inbox is None:
            return None
        rated = await session.execute(
            select(exists().where(CsatResponse.conversation_id == conversation.id))
        )
        policy = await session.get(ServicePolicy, inbox.id)
        return conversation, inbox, policy, bool(rated.scalar_one())


class AskForRating(_ChannelMessage):
    """The `csat.ask` job."""

    def __init__(
        self,
        db: Database,
        writer: MessageWriter,
        channels: ChannelRegistry,
        public_url: str | None,
    ) -> None:
        super().__init__(db, writer, channels)
        self.public_url = public_url

    async def run(self, payload: dict[str, Any]) -> None:
        loaded = await _load(self.db, payload)
        if loaded is None:
            return
        conversation, inbox, _, rated = loaded
        if rated:
            return
        if inbox.channel == "web":
            async with self.db.write() as session:
                scope = access.scope_of(
                    conversation, await inboxes_repo.team_ids(session, inbox.id)
                )
                publish_after_commit(session, CsatRequested(scope=scope))
            return
        if not self.public_url:
            log.warning(
                "no MADOGUCHI_PUBLIC_URL: no rating link for conversation %s", conversation.id
            )
            return
        async with self.db.write() as session:
            token = await issue_link(session, conversation.id, inbox.channel)
        link = f"{self.public_url.rstrip('/')}/csat/{token}"
        await self.send(
            conversation,
            inbox,
            ASK_TEXT.format(link=link),
            f"csat:{conversation.id}:{payload['resolved_at']}",
        )

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        log.warning("CSAT question for %s not sent: %s", payload.get("conversation_id"), error)


class FollowUp(_ChannelMessage):
    """The `csat.follow_up` job: skipped when the customer rated, wrote again,
    or the conversation was reopened."""

    async def run(self, payload: dict[str, Any]) -> None:
        loaded = await _load(self.db, payload)
        if loaded is None:
            return
        conversation, inbox, policy, rated = loaded
        if rated:
            return
        async with self.db.read() as session:
            wrote = await session.execute(
                select(
                    exists().where(
                        Message.conversation_id == conversation.id,
                        Message.author_kind == "customer",
                        Message.created_at > datetime.fromisoformat(payload["resolved_at"]),
                    )
                )
            )
            if wrote.scalar_one():
                return
        text = (policy.follow_up_message if policy else None) or FOLLOW_UP_TEXT
        await self.send(
            conversation, inbox, text, f"follow:{conversation.id}:{payload['resolved_at']}"
        )

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        log.warning("follow-up for %s not sent: %s", payload.get("conversation_id"), error)
