"""The redirect responder: a channel the business does not serve points people
to the ones it does.

Every customer message on an inbox in `redirect` mode is stored (it is part
of the customer's history) in a conversation that is kept resolved, so no
agent is ever offered it. With the message, in the same commit, goes a
`redirect` job keyed by inbox, customer and day: the jobs table's unique
dedupe key makes it at most one answer per customer per day, however many
messages or redeliveries arrive. The job writes the answer as a system
message of that conversation, and the outbox sends it on the same channel.

The text names each live inbox by its public address. Its words are the
responders' (app/responders/templates.py): an English and a Japanese default,
or the inbox's `responders.redirect` (`null`, `""` or `false` turns it off).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from app.channels.base import InboundMessage
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
        payload={"inbox_id": inbox_id, "key": key, "language": language_of(inbound)},
        dedupe_key=key,
    )


def language_of(inbound: InboundMessage) -> str | None:
    return templates.told_language(inbound.sender.language, inbound.text)


def public_channels(
    inboxes: Sequence[Inbox], public_url: str | None, *, chat_link: str | None = None
) -> list[PublicChannel]:
    """Each live inbox's public address: the chat page, the email address, the
    platform's link to the account. Inboxes without one are left out. With a
    `chat_link` token, the chat page's address carries it, so whoever follows
    it continues as the customer answered (app/contacts/chat_link.py)."""
    found = []
    for inbox in inboxes:
        if inbox.mode != "live":
            continue
        address = _address(inbox, public_url)
        if address and chat_link and inbox.channel == "web":
            address = f"{address}?link={quote(chat_link, safe='')}"
        if address:
            found.append(PublicChannel(inbox.channel, address))
    return found


def _address(inbox: Inbox, public_url: str | None) -> str | None:
    config: dict[str, Any] = inbox.config or {}
    match inbox.channel:
        case "web":
            if public_url and inbox.widget_key:
                return f"{public_url.rstrip('/')}/chat/{inbox.widget_key}"
        case "email":
            return _text(config.get("address"))
        case "line":
            basic_id = _text(config.get("basic_id"))
            if basic_id:
                handle = basic_id if basic_id.startswith("@") else f"@{basic_id}"
                return f"https://line.me/R/ti/p/{quote(handle)}"
        case "whatsapp":
            digits = re.sub(r"\D", "", _text(config.get("display_phone_number")) or "")
            if digits:
                return f"https://wa.me/{digits}"
        case "telegram":
            username = _text(config.get("bot_username"))
            if username:
                return f"https://t.me/{username}"
        case "messenger":
            page_id = _text(config.get("page_id"))
            if page_id:
                return f"https://m.me/{page_id}"
        case "instagram":
            username = _text(config.get("username"))
            if username:
                return f"https://ig.me/m/{username}"
    return None


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def redirect_text(
    channels: Sequence[PublicChannel],
    language: str,
    *,
    template: str | None = None,
    customer_name: str | None = None,
) -> str:
    """The answer, in English or Japanese, with one line per live channel."""
    lang: Language = "ja" if language == "ja" else "en"
    if template is None:
        if not channels:
            return REDIRECT_WITHOUT_CHANNELS[lang]
        template = DEFAULTS[Responder.REDIRECT][lang]
    listed = channel_lines([(c.channel, c.address) for c in channels], lang)
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
        link = (
            chat_link.sign(self.link_secret, customer.id, clock.now(), self.link_lifetime)
            if self.link_secret
            else None
        )
        template = responders.get(REDIRECT)
        text = redirect_text(
            public_channels(inboxes, self.public_url, chat_link=link),
            templates.language_of(payload.get("language"), "", responders.get("language")),
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
