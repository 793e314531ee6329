"""The inbound SMTP listener: aiosmtpd inside `madoguchi serve`, on its loop.

An MX (or a forwarder) hands mail over here. A recipient that is no email
inbox's address is refused at RCPT (550); a mail over the size limit with
552 (at MAIL when the client announces SIZE, else after DATA); 250 comes only
once the mail is stored. The handler does nothing else inside the
transaction but authenticate the sender (SPF for the connecting address,
DKIM, DMARC: intake.py), with bounded DNS lookups; what a mail causes later
(auto-replies, routing) happens after the commit, off the SMTP session.

Sessions are capped globally and per client, and so are a client's new
sessions a minute (limits.py): past a cap a connection reads 421 instead of
the banner and is closed, before it can send a byte of mail.

aiosmtpd ≥ 1.4.5 ends DATA only at <CRLF>.<CRLF> (CVE-2024-27305), so a
bare-LF "\\n.\\n" cannot smuggle a second mail into one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from app.kit.email_address import normalise_email
from app.mail.authentication import SmtpFacts
from app.mail.intake import MailDirectory, MailIntake
from app.mail.limits import (
    TOO_MANY_CONNECTIONS,
    SessionSlot,
    SmtpAdmission,
    SmtpSessionLimits,
)

log = logging.getLogger(__name__)

# Real mailers send lines past RFC 5321's 1000 octets (unwrapped HTML);
# refusing them would lose customers' mail. Memory stays bounded per session.
LINE_LENGTH_LIMIT = 64 * 1024
# A session that says nothing for this long is dropped: idle peers hold sockets.
SESSION_TIMEOUT = 120
LISTEN_BACKLOG = 1024


class _Smtp(SMTP):
    """aiosmtpd's session, admitted (or refused with 421) before its banner,
    with its memory bounded by the message size limit. (Its transports are
    uvloop's under `serve`, which are no subclasses of asyncio's: cast.)"""

    line_length_limit = LINE_LENGTH_LIMIT

    def __init__(self, handler: InboxHandler, admission: SmtpAdmission, **options: Any) -> None:
        super().__init__(handler, **options)
        self._admission = admission
        self._slot: SessionSlot | None = None
        # Bytes since the last CRLF. aiosmtpd keeps every fragment of an
        # overlong DATA line until its CRLF comes, past data_size_limit: a
        # peer that never sends one would fill the memory.
        self._unbroken_bytes = 0
        self._after_cr = False
        self._unbroken_limit = (
            self.data_size_limit + LINE_LENGTH_LIMIT if self.data_size_limit else None
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._slot is None:
            peer = transport.get_extra_info("peername")
            peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            self._slot = self._admission.admit(peer_ip)
            if self._slot is None:
                # Refused before aiosmtpd starts a session: no banner, no
                # reading, nothing buffered; close() flushes the reply first.
                writer = cast(asyncio.WriteTransport, transport)
                writer.write(TOO_MANY_CONNECTIONS)
                writer.close()
                return
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._slot is None or self.transport is None:
            return
        end = data.rfind(b"\r\n")
        if end >= 0:
            self._unbroken_bytes = len(data) - end - 2
        elif self._after_cr and data.startswith(b"\n"):
            self._unbroken_bytes = len(data) - 1
        else:
            self._unbroken_bytes += len(data)
        self._after_cr = data.endswith(b"\r")
        if self._unbroken_limit is not None and self._unbroken_bytes > self._unbroken_limit:
            # More than a whole mail may be, in one line: no MTA sends that.
            assert self.session is not None
            log.warning("SMTP peer %r sent an endless line: closed", self.session.peer)
            writer = cast(asyncio.WriteTransport, self.transport)
            writer.write(b"552 5.3.4 Too much mail data\r\n")
            writer.close()
            return
        super().data_received(data)

    def eof_received(self) -> bool | None:
        if self._slot is None:
            return False
        return super().eof_received()

    def connection_lost(self, error: Exception | None) -> None:
        if self._slot is None:
            return  # refused: aiosmtpd never saw this connection
        self._admission.release(self._slot)
        super().connection_lost(error)


class InboxHandler:
    """aiosmtpd's handler: the hooks it calls for RCPT and DATA."""

    def __init__(self, intake: MailIntake, directory: MailDirectory) -> None:
        self.intake = intake
        self.directory = directory
        self.stored = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            inbox = await self.directory.lookup(normalise_email(address))
        except ValueError:
            return "553 5.1.3 not a valid address"
        except Exception:  # noqa: BLE001 - a database hiccup: the sender retries
            log.exception("looking up recipient failed")
            return "451 4.3.0 try again later"
        if inbox is None:
            return "550 5.1.1 no such mailbox here"
        if len(envelope.rcpt_tos) >= 100:
            return "452 4.5.3 too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        inboxes = []
        for address in envelope.rcpt_tos:
            inbox = await self.directory.lookup(normalise_email(address))
            if inbox is not None and inbox not in inboxes:
                inboxes.append(inbox)
        peer = session.peer
        smtp = SmtpFacts(
            client_ip=str(peer[0]) if isinstance(peer, tuple) and peer else "",
            helo=session.host_name or "",
            mail_from=envelope.mail_from or "",
        )
        try:
            await self.intake.deliver(
                raw, inboxes, envelope_from=envelope.mail_from or "", via="smtp", smtp=smtp
            )
        except Exception:  # noqa: BLE001 - whatever failed, the sender must keep the mail
            log.exception("storing a mail failed; answered 451")
            return "451 4.3.0 not stored, try again later"
        self.stored += 1
        return "250 2.0.0 OK: stored"


class SmtpListener:
    def __init__(
        self,
        intake: MailIntake,
        directory: MailDirectory,
        *,
        host: str,
        port: int,
        max_message_bytes: int,
        limits: SmtpSessionLimits | None = None,
    ) -> None:
        self.handler = InboxHandler(intake, directory)
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.admission = SmtpAdmission(limits or SmtpSessionLimits())
        self._server: asyncio.base_events.Server | None = None
        self._hostname = "madoguchi"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # aiosmtpd looks up the FQDN for every session unless told: once, here.
        self._hostname = await asyncio.to_thread(socket.getfqdn)

        def protocol() -> Any:
            return _Smtp(
                self.handler,
                self.admission,
                # Announced in EHLO as SIZE, refused past it with 552 (at MAIL
                # when the client says SIZE=, else at the end of DATA, having
                # kept nothing past the limit).
                data_size_limit=self.max_message_bytes,
                enable_SMTPUTF8=True,
                hostname=self._hostname,
                ident="Madoguchi ESMTP",
                timeout=SESSION_TIMEOUT,
                loop=loop,
            )

        # A burst of connections waits in the kernel's queue to be answered
        # (banner or 421) within milliseconds; past asyncio's default of 100,
        # the kernel would drop SYNs, legitimate senders' too, for seconds.
        self._server = await loop.create_server(
            protocol, self.host, self.port, backlog=LISTEN_BACKLOG
        )
        sockets = self._server.sockets or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("SMTP listener on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
