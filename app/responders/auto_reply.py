"""The `auto_reply` job: writes a greeting, away message or acknowledgement
as a message of author kind `system`, and the outbox sends it on the
conversation's own channel (mail marks it `Auto-Submitted: auto-replied`).

Run after the customer's answer (the job commits with their message): it
reads the inbox's templates as they are now, says nothing when the responder
was turned off meanwhile, when the conversation had the same kind of reply
within the window, or while an agent is talking to the customer. The away
message and the acknowledgement promise a reply time, stored on the
conversation in the same commit as the message that says it.

A sender the channel could not vouch for (a mail whose From domain did not
pass SPF/DKIM/DMARC) may be someone else's address: answering it sends our
words to a stranger (backscatter). Such a reply repeats nothing the sender
wrote (no name; the outbox adds no subject and no recipient name either),
and at most UNVERIFIED_PER_ADDRESS of them go to one address, and
UNVERIFIED_PER_DOMAIN to one domain, per UNVERIFIED_WINDOW.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Protocol

from app.channels.registry import ChannelRegistry
from app.conversations import repository as conversations_repo
from app.conversations.writer import MessageWriter, WithRows
from app.db import Database
from app.inboxes import calendar
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.responders import estimate, promises, templates
from app.responders import repository as responders_repo
from app.responders.estimate import QueueNow
from app.responders.redirect import public_channels
from app.responders.system_message import system_message
from app.responders.templates import NAMELESS, NOT_SCHEDULED, Responder

log = logging.getLogger(__name__)

# Replies that tell the customer when a person will answer.
PROMISING = frozenset({Responder.AWAY, Responder.ACKNOWLEDGEMENT})
# Automatic replies to senders nobody vouched for. Every forged mail opens a
# conversation of its own, so the per-conversation window does not bound
# them; these do. One an hour tells a real customer we have their mail; ten
# an hour per domain keeps a flood of forgeries from turning us into a
# spammer of that domain's people.
UNVERIFIED_WINDOW = timedelta(hours=1)
UNVERIFIED_PER_ADDRESS = 1
UNVERIFIED_PER_DOMAIN = 10


class QueueSource(Protocol):
    """Routing's view of an inbox's queue (app/routing/router.py)."""

    async def queue_now(self, inbox_id: int) -> QueueNow: ...


class SendAutoReply:
    """The `auto_reply` job's handler."""

    def __init__(
        self,
        db: Database,
        writer: MessageWriter,
        channels: ChannelRegistry,
        queue: QueueSource,
        *,
        public_url: str | None,
        first_answer_seconds: int,
        window_seconds: int,
        agent_quiet_seconds: int,
    ) -> None:
        self.db = db
        self.writer = writer
        self.channels = channels
        self.queue = queue
        self.public_url = public_url
        self.first_answer_seconds = first_answer_seconds
        self.window = timedelta(seconds=window_seconds)
        self.agent_quiet = timedelta(seconds=agent_quiet_seconds)
        # Counting the replies already sent and writing one is done by one job
        # at a time in this process, so concurrent jobs cannot both slip under
        # the limit (other processes may, by one each).
        self._unverified = asyncio.Lock()

    async def run(self, payload: dict[str, Any]) -> None:
        responder = Responder(payload["responder"])
        conversation_id = int(payload["conversation_id"])
        now = clock.now()
        async with self.db.read() as session:
            row = await conversations_repo.get_with_refs(session, conversation_id)
            if row is None:
                return
            conversation, inbox, customer, assignee = row
            last_same = await responders_repo.last_auto_reply_at(
                session, conversation_id, responder.value
            )
            last_agent = await responders_repo.last_agent_reply_at(session, conversation_id)
            latest = await conversations_repo.latest_customer_message(session, conversation_id)
            inboxes = await inboxes_repo.list_all(session) if responder is Responder.AWAY else ()
            team_ids = await inboxes_repo.team_ids(session, inbox.id)
        if inbox.mode != "live":
            return
        if last_same is not None and now - last_same < self.window:
            return  # this conversation heard it lately
        if last_agent is not None and now - last_agent < self.agent_quiet:
            return  # a person is talking to the customer
        language = templates.language_of(
            payload.get("language") or customer.language,
            "",
            str((inbox.responders or {}).get("language") or ""),
        )
        template = templates.template_for(inbox.responders, responder, language)
        if template is None:
            return  # turned off since the message came
        unverified = _unverified_sender(latest.meta if latest is not None else None)
        hours = calendar.from_json(inbox.business_hours)
        promise = None
        if responder in PROMISING:
            queue = await self.queue.queue_now(inbox.id)
            promise = estimate.promise(hours, now, queue, self.first_answer_seconds)
        next_open = calendar.next_opening(hours, now)
        values = {
            # An unverified sender's name is whatever the sender typed.
            "customer_name": (customer.name if unverified is None else None) or NAMELESS[language],
            "agent_name": assignee.name if assignee is not None else "",
            "next_open": templates.moment(next_open, hours, language)
            if next_open is not None
            else NOT_SCHEDULED[language],
            "expected_reply": templates.moment(promise.reply_by, hours, language)
            if promise is not None and promise.reply_by is not None
            else NOT_SCHEDULED[language],
            "hours": templates.hours_summary(hours, language),
            "channels": templates.channel_lines(
                [
                    (c.channel, c.address)
                    for c in public_channels(inboxes, self.public_url, self.channels)
                ],
                language,
                self.channels,
            ),
        }
        with_rows: WithRows | None = None
        if promise is not None and promise.reply_by is not None:
            with_rows = promises.promise_reply_by(conversation.id, promise.reply_by)
        meta: dict[str, Any] = {"responder": responder.value, "language": language}
        if unverified is not None:
            # The outbox reads these: no subject, no name (conversations/outbox.py).
            meta["unverified_recipient"], meta["unverified_domain"] = unverified
        message = system_message(
            self.channels,
            inbox,
            conversation.id,
            body=templates.render(template, values),
            # One per conversation and window: a second job (or a rerun
            # after a crash) finds it stored and adds nothing.
            external_id=responders_repo.auto_reply_key(
                responder.value, conversation.id, int(payload.get("period") or 0)
            ),
            team_ids=team_ids,
            meta=meta,
            with_rows=with_rows,
        )
        if unverified is None:
            await self.writer.append(message)
            return
        address, domain = unverified
        async with self._unverified:
            async with self.db.read() as session:
                to_address, to_domain = await responders_repo.replies_to_unverified(
                    session, address, domain, now - UNVERIFIED_WINDOW
                )
            if to_address >= UNVERIFIED_PER_ADDRESS or to_domain >= UNVERIFIED_PER_DOMAIN:
                log.info(
                    "%s for conversation %s not sent: unverified sender at its limit",
                    responder.value,
                    conversation.id,
                )
                return
            await self.writer.append(message)

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        log.warning(
            "%s for conversation %s not written: %s",
            payload.get("responder"),
            payload.get("conversation_id"),
            error,
        )


def _unverified_sender(meta: dict[str, Any] | None) -> tuple[str, str] | None:
    """(address, domain) of the latest message's sender when the channel could
    not vouch for them; None for a verified sender. One without an address
    is limited as the empty address of the empty domain: all of them together."""
    sender = (meta or {}).get("sender") or {}
    if sender.get("verified", True) is not False:
        return None
    address = str(sender.get("email") or "").strip().lower()
    return address, address.rpartition("@")[2]
