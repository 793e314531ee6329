"""The redirect responder: a channel the business does not serve points people
to the ones it does.

Every customer message on an inbox in `redirect` mode is stored (it is part
of the customer's history) in a conversation that is kept resolved, so no
agent is ever offered it. With the message, in the same commit, goes a
`redirect` job keyed by inbox, customer and day: the jobs table's unique
dedupe key makes it at most one answer per customer per day, however many
messages or redeliveries arrive. The job writes the answer as a system
message of that conversation, and the outbox sends it on the same channel.

The text names each live inbox by its channel's label and its public
address, both as the channel's adapter states them (app/channels/base.py), so
a plug-in channel is named like a built-in one. Its words are the responders'
(app/responders/templates.py): an English and a Japanese default, or the
inbox's `responders.redirect` (`null`, `""` or `false` turns it off).

The chat page's address carries a signed chat link (app/contacts/chat_link.py)
only where the answer reaches the customer alone, on an address they proved:
a one-to-one chat, a sender the channel vouches for. In a group chat everyone
reads the answer, so it names the chat page without a link.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from app.channels.base import ChannelKind, InboundMessage
from app.channels.registry import ChannelRegistry
from app.contacts import chat_link
from app.conversations import repository as conversations_repo
from app.conversations.writer import JobSpec, MessageWriter
from app.db import Database
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.models import Inbox
from app.responders import templates
from app.responders.system_message import system_message
from app.responders.templates import (
    DEFAULTS,
    REDIRECT_WITHOUT_CHANNELS,
    Language,
    Responder,
    channel_lines,
    render,
    template_for,
)

log = logging.getLogger(__name__)

REDIRECT = "redirect"


@dataclass(frozen=True, slots=True)
class PublicChannel:
    channel: str
    address: str


def plan(inbox_id: int, customer_id: int, inbound: InboundMessage, now: datetime) -> JobSpec | None:
    """The redirect job to commit with a message on a redirect inbox; none for
    machine-sent messages. The key holds the day (UTC), so the database lets one
    answer a day per customer through."""
    if inbound.automatic:
        return None
    key = f"redirect:{inbox_id}:{customer_id}:{now.date().isoformat()}"
    return JobSpec(
        REDIRECT,
        payload={
            "inbox_id": inbox_id,
            "key": key,
            "language": language_of(inbound),
            "link": links_allowed(inbound),
        },
        dedupe_key=key,
    )


def links_allowed(inbound: InboundMessage) -> bool:
    """Whether an answer to `inbound` may carry a chat link: only to the
    sender alone (never a group chat) and only where the channel vouches for
    who they are (not an email that failed its authentication)."""
    return not inbound.group and inbound.sender.verified


def language_of(inbound: InboundMessage) -> str | None:
    return templates.told_language(inbound.sender.language, inbound.text)


def public_channels(
    inboxes: Sequence[Inbox],
    public_url: str | None,
    registry: ChannelRegistry,
    *,
    chat_link: str | None = None,
) -> list[PublicChannel]:
    """Each live inbox's public address as its channel's adapter in `registry`
    names it: the chat page, the
    email address, the platform's link to the account. Inboxes without an
    address, or on a channel the registry lacks, are left out. With a
    `chat_link` token, the chat page's address carries it, so whoever follows
    it continues as the customer answered (app/contacts/chat_link.py)."""
    found = []
    for inbox in inboxes:
        if inbox.mode != "live":
            continue
        address = registry.public_address(
            inbox.channel, inbox.config, widget_key=inbox.widget_key, public_url=public_url
        )
        if address and chat_link and inbox.channel == ChannelKind.WEB:
            address = f"{address}?link={quote(chat_link, safe='')}"
        if address:
            found.append(PublicChannel(inbox.channel, address))
    return found


def redirect_text(
    channels: Sequence[PublicChannel],
    language: str,
    registry: ChannelRegistry,
    *,
    template: str | None = None,
    customer_name: str | None = None,
) -> str:
    """The answer, in English or Japanese, with one line per live channel,
    labelled as the registry's adapters label them."""
    lang: Language = "ja" if language == "ja" else "en"
    if template is None:
        if not channels:
            return REDIRECT_WITHOUT_CHANNELS[lang]
        template = DEFAULTS[Responder.REDIRECT][lang]
    listed = channel_lines([(c.channel, c.address) for c in channels], lang, registry)
    return render(template, {"channels": listed, "customer_name": customer_name or ""})


class SendRedirect:
    """The `redirect` job's handler: writes the answer and queues its delivery."""

    def __init__(
        self,
        db: Database,
        writer: MessageWriter,
        channels: ChannelRegistry,
        public_url: str | None,
        *,
        link_secret: str | None = None,
        link_lifetime: timedelta = timedelta(hours=72),
    ) -> None:
        self.db = db
        self.writer = writer
        self.channels = channels
        self.public_url = public_url
        # Signs the chat link in the answer; None: the plain chat page.
        self.link_secret = link_secret
        self.link_lifetime = link_lifetime

    async def run(self, payload: dict[str, Any]) -> None:
        conversation_id = int(payload["conversation_id"])
        async with self.db.read() as session:
            row = await conversations_repo.get_with_refs(session, conversation_id)
            if row is None:
                return
            conversation, inbox, customer, _ = row
            inboxes = await inboxes_repo.list_all(session)
            team_ids = await inboxes_repo.team_ids(session, inbox.id)
        responders: dict[str, Any] = inbox.responders or {}
        if REDIRECT in responders and template_for(responders, Responder.REDIRECT, "en") is None:
            return  # turned off
        # A job queued before `link` was planned gets no link: the safe side.
        link = (
            chat_link.sign(self.link_secret, customer.id, clock.now(), self.link_lifetime)
            if self.link_secret and payload.get("link") is True
            else None
        )
        template = responders.get(REDIRECT)
        text = redirect_text(
            public_channels(inboxes, self.public_url, self.channels, chat_link=link),
            templates.language_of(payload.get("language"), "", responders.get("language")),
            self.channels,
            template=template if isinstance(template, str) else None,
            customer_name=customer.name,
        )
        await self.writer.append(
            system_message(
                self.channels,
                inbox,
                conversation.id,
                body=text,
                external_id=f"auto:{payload['key']}",
                team_ids=team_ids,
            )
        )

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        log.warning(
            "redirect answer for conversation %s not written: %s",
            payload.get("conversation_id"),
            error,
        )
