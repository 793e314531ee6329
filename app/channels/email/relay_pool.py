"""Open SMTP sessions with the relay, reused mail after mail.

A burst of replies (the acknowledgements of a newsletter's answers) went out
one session per mail: connect, banner, EHLO, STARTTLS, AUTH, the mail, QUIT.
Here a session that sent a mail waits, open, for the next one: it costs one
RSET instead. At most `size` sessions are open at once; one left unused for
`idle_seconds` says QUIT.

Never twice: a reused session is checked with RSET before anything of the
mail is sent. A session that fails that check (the relay closed it while it
waited) is dropped and the mail goes over a new one. Once the mail's
envelope is on its way, a failure is the job's (ChannelRetriableError as
before): the relay may have taken the mail before the line dropped, and only
a later attempt (with the same Message-ID, see outbound.py) may try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from email.message import EmailMessage

import aiosmtplib

from app.channels.base import ChannelPermanentError, ChannelRetriableError, OutboundMessage
from app.channels.email.outbound import NO_RELAY, Relay, compose

log = logging.getLogger(__name__)

# Sessions open with the relay at once: a burst's mails go over these in
# turn. A relay counts connections per client (Postfix's default limit is
# 50, many providers allow 10); four keep a burst moving and well under.
SESSIONS = 4
# A session unused this long is closed: a relay drops idle clients itself
# after a minute or more (Postfix: smtpd_timeout 300 s), and one left for
# the relay to drop is only found out at the next RSET.
IDLE_SECONDS = 30.0
# QUIT on closing may meet a relay that went silent: not waited on for long.
QUIT_SECONDS = 5.0

# What says a kept session is no longer there (or the relay is leaving it: 421).
_GONE = (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError, TimeoutError)


class RelayPool:
    """The relay's sessions, kept per EHLO name (the inbox's domain)."""

    def __init__(
        self, relay: Relay, *, size: int = SESSIONS, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self.relay = relay
        self.size = size
        self.idle_seconds = idle_seconds
        self._slots = asyncio.Semaphore(size)
        self._idle: dict[str, list[tuple[aiosmtplib.SMTP, asyncio.TimerHandle]]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Sessions open now (in use and kept), and how many were ever opened:
        # what reuse saves shows in the second.
        self.open = 0
        self.opened = 0

    async def send(self, mail: EmailMessage, *, sender: str, recipient: str) -> None:
        """Sends one mail over a kept session or a new one; raises as
        `aiosmtplib.send` does."""
        local_hostname = sender.rpartition("@")[2]
        self._bind()
        async with self._slots:
            client = await self._session(local_hostname)
            try:
                await client.send_message(mail, sender=sender, recipients=[recipient])
            except aiosmtplib.SMTPResponseException as exc:
                # The relay answered: the session stands (aiosmtplib sent RSET),
                # unless the answer was that it closes (421).
                if exc.code == 421 or not client.is_connected:
                    self._discard(client)
                else:
                    self._keep(local_hostname, client)
                raise
            except aiosmtplib.SMTPRecipientsRefused:
                self._keep(local_hostname, client)
                raise
            except BaseException:
                self._discard(client)
                raise
            self._keep(local_hostname, client)

    async def close(self) -> None:
        """Closes the kept sessions; sends after this still work, one session
        each (a reply sent while the process stops)."""
        self._closed = True
        for sessions in self._idle.values():
            for client, timer in sessions:
                timer.cancel()
                self._discard(client)
        self._idle.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _bind(self) -> None:
        """Sessions belong to the loop that opened them: a pool first used in
        another loop (a test's server before this one) starts afresh."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        for sessions in self._idle.values():
            for client, timer in sessions:
                timer.cancel()
                client.close()
        self._idle.clear()
        self._slots = asyncio.Semaphore(self.size)
        self._closing = set()
        self._loop = loop
        self.open = 0

    async def _session(self, local_hostname: str) -> aiosmtplib.SMTP:
        sessions = self._idle.get(local_hostname, [])
        while sessions:
            client, timer = sessions.pop()
            timer.cancel()
            if not client.is_connected:
                self._discard(client)
                continue
            try:
                # Nothing of the mail is sent yet: a session found gone here
                # costs a new one, never a mail twice.
                await client.rset()
            except (aiosmtplib.SMTPResponseException, *_GONE):
                self._discard(client)
                continue
            return client
        # Room for a new one: a session kept for another inbox's domain goes.
        for kept in self._idle.values():
            while kept and self.open >= self.size:
                other, timer = kept.pop(0)
                timer.cancel()
                self._discard(other)
        client = aiosmtplib.SMTP(
            hostname=self.relay.host,
            port=self.relay.port,
            username=self.relay.username,
            password=self.relay.password,
            use_tls=self.relay.use_tls,
            start_tls=self.relay.start_tls,
            validate_certs=self.relay.validate_certs,
            timeout=self.relay.timeout,
            local_hostname=local_hostname,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        self.open += 1
        self.opened += 1
        return client

    def _keep(self, local_hostname: str, client: aiosmtplib.SMTP) -> None:
        if self._closed or not client.is_connected:
            self._discard(client)
            return
        timer = asyncio.get_running_loop().call_later(
            self.idle_seconds, self._expire, local_hostname, client
        )
        self._idle.setdefault(local_hostname, []).append((client, timer))

    def _expire(self, local_hostname: str, client: aiosmtplib.SMTP) -> None:
        sessions = self._idle.get(local_hostname, [])
        for i, (kept, _) in enumerate(sessions):
            if kept is client:
                del sessions[i]
                self._discard(client)
                return

    def _discard(self, client: aiosmtplib.SMTP) -> None:
        """Says QUIT where the session still stands, in the background."""
        self.open -= 1
        if not client.is_connected:
            client.close()
            return
        task = asyncio.get_running_loop().create_task(_quit(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _quit(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, *_GONE):
        await client.quit(timeout=QUIT_SECONDS)
    client.close()


async def send(pool: RelayPool | None, address: str, message: OutboundMessage) -> str:
    """Sends the reply over the pool's sessions; returns its Message-ID. A
    relay that is down or says 4xx is retried (ChannelRetriableError); a 5xx
    is final (ChannelPermanentError), and so is having no relay: no retry
    sends it, and the agent sees why."""
    if pool is None:
        raise ChannelPermanentError(NO_RELAY)
    relay = pool.relay
    try:
        mail, message_id = compose(address, message)
    except ValueError as exc:
        raise ChannelPermanentError(f"the reply cannot be written as mail: {exc}") from exc
    try:
        await pool.send(mail, sender=address, recipient=str(message.recipient.email))
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if all(code >= 500 for code in codes):
            raise ChannelPermanentError(f"the relay refused the recipient: {detail}") from exc
        raise ChannelRetriableError(f"{relay.describe()}: {detail}") from exc
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise ChannelRetriableError(f"{relay.describe()} refused the login: {exc.code}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        detail = f"{exc.code} {exc.message}"
        if exc.code >= 500:
            raise ChannelPermanentError(f"the relay refused the mail: {detail}") from exc
        raise ChannelRetriableError(f"{relay.describe()}: {detail}") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ChannelRetriableError(f"{relay.describe()}: {exc.__class__.__name__}") from exc
    return message_id
