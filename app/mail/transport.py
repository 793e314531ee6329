"""The email channel's long-lived parts, started and stopped with the process:
the SMTP listener (when `smtp_port` is not 0) and the IMAP readers."""

from __future__ import annotations

import asyncio
import logging

from app.config import Settings
from app.conversations.writer import MessageWriter
from app.db import Database
from app.kit.network import HostAllowance
from app.mail import dmarc
from app.mail.authentication import MailAuthenticator
from app.mail.imap import ImapSupervisor
from app.mail.intake import MailDirectory, MailIntake
from app.mail.limits import SmtpSessionLimits
from app.mail.listener import SmtpListener
from app.mail.resolver import load_resolver

log = logging.getLogger(__name__)


class EmailTransport:
    def __init__(self, settings: Settings, db: Database, writer: MessageWriter) -> None:
        self.directory = MailDirectory(db)
        self.authenticator = MailAuthenticator(
            load_resolver(settings),
            trusted_authserv_ids=settings.trusted_authserv_ids,
            lookup_timeout=settings.dns_timeout_seconds,
        )
        self.intake = MailIntake(
            db,
            writer,
            self.directory,
            self.authenticator,
            max_attachment_bytes=settings.email_max_attachment_bytes,
            max_body_chars=settings.max_message_chars,
        )
        self.listener = (
            SmtpListener(
                self.intake,
                self.directory,
                host=settings.smtp_host or "127.0.0.1",
                port=settings.smtp_port,
                max_message_bytes=settings.smtp_max_message_bytes,
                limits=SmtpSessionLimits.from_settings(settings),
            )
            if settings.smtp_port
            else None
        )
        self.imap = ImapSupervisor(
            db,
            self.intake,
            self.directory,
            rescan_seconds=settings.imap_rescan_seconds,
            poll_seconds=settings.imap_poll_seconds,
            max_message_bytes=settings.email_max_message_bytes,
            allowed_hosts=HostAllowance.parse(settings.imap_allowed_hosts),
        )

        # `serve --workers N`: one process of the N reads the mailboxes.
        self.imap_readers = settings.imap_readers
        self.has_relay = bool(settings.smtp_relay)

    async def start(self) -> None:
        if not self.has_relay and await self.directory.inboxes():
            # Said where the operator looks; each reply shows it too (failed),
            # and the console on each email inbox (inboxes.service.warnings_of).
            log.warning(
                "email inboxes exist but no outbound relay is set (MADOGUCHI_SMTP_RELAY):"
                " replies and acknowledgements to email fail"
            )
        await asyncio.to_thread(dmarc.load_suffix_list)
        if self.listener is not None:
            await self.listener.start()
        if self.imap_readers:
            await self.imap.start()

    async def stop(self) -> None:
        if self.imap_readers:
            await self.imap.stop()
        if self.listener is not None:
            await self.listener.stop()
        self.authenticator.close()
