"""Raw mail in, stored messages out: where the SMTP listener and the IMAP
readers hand what they received.

One mail, read once by the pure parser, goes to the one intake
(`conversations.intake.receive`) for each inbox it was addressed to. Its raw
bytes and attachments are written by the writer's row hook in the same commit
as the message, so when `deliver` returns (and the listener answers 250) the
message, its source and its files are durable together, or none of them is.
A mail stored before (an SMTP retry, the same mail over SMTP and IMAP) is
found by its Message-ID and changes nothing.

Before it is stored, its author is authenticated (authentication.py): SPF,
DKIM and DMARC for mail our listener received, a trusted upstream
Authentication-Results header for mail from anywhere. The parser stays pure:
the verdict is handed to it (`ParsedMail.authenticated`), and a sender
without one is unverified, flagged, and never joins a customer's history.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from app.channels.base import DeliveryUpdate
from app.channels.email.adapter import EmailConfig
from app.channels.email.parsing import ParsedMail, parse_mail
from app.conversations import intake, outbox
from app.conversations import repository as conversations_repo
from app.conversations.intake import InboxFacts
from app.conversations.writer import MessageWriter
from app.db import Database
from app.mail import repository as mail_repo
from app.mail.authentication import MailAuthenticator, SmtpFacts, Verdict
from app.mail.senders import SenderLookup

log = logging.getLogger(__name__)

# Parsing a small mail inline costs less than the hop to a thread; a large or
# many-part one is parsed in a thread so the event loop keeps serving.
INLINE_PARSE_BYTES = 64 * 1024
# How long a looked-up inbox address is trusted before it is read again.
DIRECTORY_MAX_AGE = 5.0


@dataclass(frozen=True, slots=True)
class MailInbox:
    facts: InboxFacts
    config: EmailConfig

    @property
    def id(self) -> int:
        return self.facts.id

    @property
    def address(self) -> str:
        return self.config.address.lower()


class MailDirectory:
    """The email inboxes by address, read from the database and kept a few
    seconds; an address not found is looked up again at once, so an inbox
    created a moment ago receives its first mail."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._by_address: dict[str, MailInbox] = {}
        self._loaded_at = -1e9
        self._lock = asyncio.Lock()

    async def inboxes(self) -> list[MailInbox]:
        if time.monotonic() - self._loaded_at > DIRECTORY_MAX_AGE:
            await self._reload(time.monotonic())
        return list(self._by_address.values())

    async def lookup(self, address: str) -> MailInbox | None:
        key = address.strip().lower()
        asked_at = time.monotonic()
        found = self._by_address.get(key)
        if found is not None and asked_at - self._loaded_at <= DIRECTORY_MAX_AGE:
            return found
        await self._reload(asked_at)
        return self._by_address.get(key)

    async def _reload(self, asked_at: float) -> None:
        async with self._lock:
            if self._loaded_at >= asked_at:
                return  # someone reloaded while we waited
            started = time.monotonic()
            found: dict[str, MailInbox] = {}
            async with self._db.read() as session:
                for inbox in await mail_repo.email_inboxes(session):
                    try:
                        config = EmailConfig.model_validate(inbox.config)
                    except ValueError:
                        log.warning("email inbox %s has an invalid config; skipped", inbox.id)
                        continue
                    facts = await intake.inbox_facts(session, inbox)
                    # Two inboxes with one address: the older one gets the mail.
                    found.setdefault(config.address.lower(), MailInbox(facts, config))
            self._by_address = found
            self._loaded_at = started


class MailIntake:
    def __init__(
        self,
        db: Database,
        writer: MessageWriter,
        directory: MailDirectory,
        authenticator: MailAuthenticator,
        *,
        max_attachment_bytes: int,
        max_body_chars: int,
    ) -> None:
        self.db = db
        self.writer = writer
        self.directory = directory
        self.authenticator = authenticator
        self.max_attachment_bytes = max_attachment_bytes
        self.max_body_chars = max_body_chars
        self.senders = SenderLookup(db)

    async def parse(self, raw: bytes, envelope_from: str | None) -> ParsedMail:
        parse = functools.partial(
            parse_mail,
            raw,
            envelope_from=envelope_from,
            max_attachment_bytes=self.max_attachment_bytes,
        )
        if len(raw) <= INLINE_PARSE_BYTES and raw.count(b"\n--") < 40:
            return parse()
        return await asyncio.to_thread(parse)

    async def deliver(
        self,
        raw: bytes,
        inboxes: Sequence[MailInbox],
        *,
        envelope_from: str | None,
        via: str,
        smtp: SmtpFacts | None = None,
    ) -> None:
        """Stores the mail in each inbox (or finds it stored); returns after the
        commit. `smtp`: the session our listener received it in (None: read
        from a mailbox, where only a trusted header vouches for the sender)."""
        mail = await self.parse(raw, envelope_from)
        own = {inbox.address for inbox in await self.directory.inboxes()}
        if mail.from_address is not None and mail.from_address.lower() in own:
            # Our own reply come back (a forward, a list, a misconfigured
            # alias): storing it could only start a loop.
            log.info("mail %s from our own address %s dropped", mail.message_id, mail.from_address)
            return
        verdict = await self.authenticator.verdict(
            raw,
            author=mail.from_address if mail.single_author else None,
            results=mail.authentication_results,
            smtp=smtp,
        )
        mail = mail.authenticated(verdict.verified)
        await asyncio.gather(
            *(self._deliver_to(inbox, mail, raw, via, verdict) for inbox in inboxes)
        )

    async def _deliver_to(
        self, inbox: MailInbox, mail: ParsedMail, raw: bytes, via: str, verdict: Verdict
    ) -> None:
        if mail.bounce_of is not None and await self._bounced_reply(inbox, mail):
            return
        sender = mail.sender()
        if not sender.verified:
            async with self.db.read() as session:
                if await mail_repo.stored_message_id(session, inbox.id, mail.message_id):
                    # A retry: the writer would find it stored too, but only
                    # after a customer of its own was made for it again.
                    return
        found = await self.senders.find(inbox.id, sender, mail.references)
        customer_id = found.customer_id
        owners = found.reference_owners
        flags = list(mail.flags)
        if owners and customer_id not in owners:
            # It names someone else's mail: the writer opens a conversation of
            # the sender's own; the flag tells the agent why it looks like a reply.
            flags.append("foreign_reference")
        files = [
            (uuid.uuid4().hex, a.filename, a.content_type, a.content)
            for a in mail.attachments
            if a.content is not None
        ]
        ids = iter(files)
        urls = [
            f"/api/v1/attachments/{next(ids)[0]}" if a.content is not None else None
            for a in mail.attachments
        ]
        await intake.receive(
            self.db,
            self.writer,
            inbox.facts,
            mail.inbound(max_body_chars=self.max_body_chars, attachment_urls=urls),
            customer_id=customer_id,
            extra_meta={"flags": flags, "authentication": verdict.describe()},
            with_rows=functools.partial(
                mail_repo.write_source,
                raw=raw,
                text=mail.text,
                html=mail.html,
                headers=mail.headers,
                via=via,
                attachments=files,
            ),
        )

    async def _bounced_reply(self, inbox: MailInbox, mail: ParsedMail) -> bool:
        """Marks our reply that bounced as failed; True when it was ours. The
        bounce itself is then dropped: the reply shows the reason, and a
        conversation with a mailer daemon would only be noise."""
        assert mail.bounce_of is not None
        async with self.db.read() as session:
            ours = await conversations_repo.message_id_by_delivered_id(
                session, inbox.id, mail.bounce_of
            )
        if ours is None:
            return False
        await outbox.apply_delivery_update(
            self.db,
            inbox.id,
            DeliveryUpdate(mail.bounce_of, "failed", f"bounced: {mail.bounce_error}"),
        )
        return True
