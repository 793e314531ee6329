"""IMAP mailboxes: one reader per email inbox with `imap` settings.

A reader keeps a cursor per inbox (UIDVALIDITY and the last UID done) in the
database and processes each new UID in order: fetch it without touching its
flags (BODY.PEEK), store it through the email intake (commit), then set
\\Seen, then advance the cursor. A crash anywhere in between fetches the mail
again, and the intake finds it stored by its Message-ID; a mail is never
\\Seen before it is stored. A new UIDVALIDITY (the folder was recreated)
reads the folder again from the start, which the same Message-IDs make safe.

The first time an inbox's folder is read, mail already \\Seen there counts as
handled (someone read it before the help desk was connected); everything
unseen is imported. From then on every new UID is, seen or not.

While connected, a reader waits in IDLE when the server offers it (renewed
every poll interval) and polls otherwise; a lost connection is retried with
backoff. Each connection resolves the host again and goes only to an address
the rule of `kit/network.py` lets through (DNS may have changed since the
inbox was saved), verifying TLS for the host's name. The supervisor re-reads
the inboxes every `imap_rescan_seconds`, starting readers for new mailboxes
and restarting those whose settings changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from dataclasses import dataclass

import aioimaplib

from app.channels.email.adapter import ImapConfig
from app.db import Database
from app.kit.background import BackgroundLoop
from app.kit.network import HostAllowance, public_addresses
from app.mail import repository as mail_repo
from app.mail.intake import MailDirectory, MailInbox, MailIntake

log = logging.getLogger(__name__)

# Servers drop an IDLE after 30 minutes (RFC 2177); renew well before.
IDLE_SECONDS = 25 * 60
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
# UIDs asked for in one FETCH of sizes: bounds one answer's size.
FETCH_CHUNK = 200

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_FETCHED = re.compile(rb"\(.*\bUID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapError(Exception):
    pass


class _PinnedImap(aioimaplib.IMAP4):  # type: ignore[misc]  # aioimaplib is untyped
    """aioimaplib's client connected to an address already checked, not to
    the host's name (a second lookup could answer another address), with TLS
    still verifying the certificate for the name."""

    def __init__(
        self,
        address: str,
        *,
        host: str,
        port: int,
        timeout: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._server_hostname = host if ssl_context is not None else None
        super().__init__(host=address, port=port, timeout=timeout, ssl_context=ssl_context)

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: object = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        # As aioimaplib's own, with the name for TLS given beside the address.
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = aioimaplib.IMAP4ClientProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(
                lambda: self.protocol,
                host,
                port,
                ssl=ssl_context,
                server_hostname=self._server_hostname,
            )
        )


@dataclass(frozen=True, slots=True)
class _Found:
    uid: int
    size: int


def _check(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(line for line in response.lines if isinstance(line, bytes))
        raise ImapError(f"{what}: {response.result} {detail[:200]!r}")
    return response


class MailboxReader:
    """Reads one inbox's folder until cancelled."""

    def __init__(
        self,
        db: Database,
        intake: MailIntake,
        inbox: MailInbox,
        *,
        poll_seconds: float,
        max_message_bytes: int,
        allowed_hosts: HostAllowance,
    ) -> None:
        assert inbox.config.imap is not None
        self.db = db
        self.intake = intake
        self.inbox = inbox
        self.imap: ImapConfig = inbox.config.imap
        self.poll_seconds = poll_seconds
        self.max_message_bytes = max_message_bytes
        self.allowed_hosts = allowed_hosts
        # Whether a sync completed on the current connection (resets the backoff).
        self.synced = False

    async def run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            client: aioimaplib.IMAP4 | None = None
            self.synced = False
            try:
                client = await self._connect()
                await self._serve(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means reconnect later
                log.warning(
                    "IMAP %s:%s for inbox %s: %s: %s; retrying in %.0f s",
                    self.imap.host,
                    self.imap.port,
                    self.inbox.id,
                    exc.__class__.__name__,
                    exc,
                    delay,
                )
            finally:
                if client is not None:
                    await _close(client)
            if self.synced:
                delay = BACKOFF_FIRST  # it worked for a while: a fresh failure
            await asyncio.sleep(delay)
            delay = min(BACKOFF_MAX, delay * 2)

    async def _connect(self) -> aioimaplib.IMAP4:
        assert self.imap.port is not None  # set by ImapConfig's validator
        # Raises HostRefused (logged, retried with backoff like any failure):
        # the mailbox's DNS may point inside our network since it was saved.
        addresses = await public_addresses(self.imap.host, self.imap.port, self.allowed_hosts)
        failure: Exception | None = None
        for address in addresses:
            client = _PinnedImap(
                str(address),
                host=self.imap.host,
                port=self.imap.port,
                timeout=30,
                ssl_context=ssl.create_default_context() if self.imap.tls else None,
            )
            try:
                await client.wait_hello_from_server()
            except (OSError, TimeoutError) as exc:
                _abandon(client)
                failure = exc
                continue
            try:
                _check(await client.login(self.imap.username, self.imap.password), "LOGIN")
            except BaseException:
                await _close(client)
                raise
            return client
        assert failure is not None
        raise failure

    async def _serve(self, client: aioimaplib.IMAP4) -> None:
        idle = client.has_capability("IDLE")
        while True:
            await self.sync(client)
            self.synced = True
            if idle:
                await self._idle(client)
            else:
                await asyncio.sleep(self.poll_seconds)

    async def _idle(self, client: aioimaplib.IMAP4) -> None:
        # IDLE ends at least every poll interval: mail that arrived between
        # the last SEARCH and the IDLE (announced to no one) waits no longer.
        seconds = min(IDLE_SECONDS, self.poll_seconds)
        waiting = await client.idle_start(timeout=seconds)
        try:
            # Any push (EXISTS, EXPUNGE, the timeout's stop) means: look again.
            await client.wait_server_push(timeout=seconds + 60)
        finally:
            client.idle_done()
            await asyncio.wait_for(waiting, 30)

    async def sync(self, client: aioimaplib.IMAP4) -> None:
        """Processes every UID past the cursor, in order."""
        selected = _check(await client.select(_quote(self.imap.folder)), "SELECT")
        uidvalidity = _number(_UIDVALIDITY, selected.lines)
        if uidvalidity is None:
            raise ImapError("the server gave no UIDVALIDITY")
        async with self.db.read() as session:
            cursor = await mail_repo.cursor(session, self.inbox.id)
        if cursor is None or cursor.folder != self.imap.folder:
            await self._first_sync(client, uidvalidity, selected.lines)
            return
        last = cursor.last_uid if cursor.uidvalidity == uidvalidity else 0
        if last == 0 and cursor.last_uid:
            log.warning(
                "IMAP inbox %s: UIDVALIDITY changed; reading the folder again", self.inbox.id
            )
        for found in await self._new_uids(client, last):
            await self._process(client, found, uidvalidity)

    async def _first_sync(
        self, client: aioimaplib.IMAP4, uidvalidity: int, selected: list[bytes]
    ) -> None:
        searched = _check(await client.uid_search("UNSEEN"), "UID SEARCH")
        unseen = set(_uids(searched.lines))
        everything = await self._new_uids(client, 0)
        for found in everything:
            if found.uid in unseen:
                await self._process(client, found, uidvalidity)
        # UIDs below UIDNEXT that are not there any more were expunged: done too.
        uidnext = _number(_UIDNEXT, selected) or 1
        await self._advance(uidvalidity, max([uidnext - 1] + [f.uid for f in everything]))

    async def _new_uids(self, client: aioimaplib.IMAP4, after: int) -> list[_Found]:
        searched = _check(await client.uid_search(f"UID {after + 1}:*"), "UID SEARCH")
        # "n:*" always matches the highest UID, even one below n.
        uids = sorted(uid for uid in _uids(searched.lines) if uid > after)
        found: list[_Found] = []
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = ",".join(str(u) for u in uids[start : start + FETCH_CHUNK])
            answer = _check(await client.uid("fetch", chunk, "(UID RFC822.SIZE)"), "UID FETCH")
            for line in answer.lines:
                if isinstance(line, bytes | bytearray):
                    uid, size = _FETCHED.search(line), _SIZE.search(line)
                    if uid and size and int(uid.group(1)) > after:
                        found.append(_Found(int(uid.group(1)), int(size.group(1))))
        return sorted(found, key=lambda f: f.uid)

    async def _process(self, client: aioimaplib.IMAP4, found: _Found, uidvalidity: int) -> None:
        if found.size > self.max_message_bytes:
            # Left unseen in the mailbox for a person to handle; never fetched.
            log.warning(
                "IMAP inbox %s: UID %s is %s bytes, over the limit; skipped",
                self.inbox.id,
                found.uid,
                found.size,
            )
            await self._advance(uidvalidity, found.uid)
            return
        answer = _check(await client.uid("fetch", str(found.uid), "(BODY.PEEK[])"), "UID FETCH")
        raw = next((bytes(line) for line in answer.lines if isinstance(line, bytearray)), None)
        if raw is not None:
            await self.intake.deliver(raw, [self.inbox], envelope_from=None, via="imap")
            # Only now, after the commit: a \Seen mail is always a stored one.
            _check(await client.uid("store", str(found.uid), "+FLAGS.SILENT (\\Seen)"), "UID STORE")
        await self._advance(uidvalidity, found.uid)

    async def _advance(self, uidvalidity: int, last_uid: int) -> None:
        async with self.db.write() as session:
            await mail_repo.save_cursor(
                session, self.inbox.id, self.imap.folder, uidvalidity, last_uid
            )


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(pattern: re.Pattern[bytes], lines: list[bytes]) -> int | None:
    for line in lines:
        if isinstance(line, bytes | bytearray):
            found = pattern.search(line)
            if found:
                return int(found.group(1))
    return None


def _uids(lines: list[bytes]) -> list[int]:
    for line in lines:
        if isinstance(line, bytes) and line and all(p.isdigit() for p in line.split()):
            return [int(p) for p in line.split()]
    return []


def _abandon(client: aioimaplib.IMAP4) -> None:
    """Drops a connection that never said hello (nothing to log out of)."""
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()


async def _close(client: aioimaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        if client.has_pending_idle():
            client.idle_done()
        await asyncio.wait_for(client.logout(), 5)


class ImapSupervisor:
    """Runs a reader per email inbox with IMAP settings, as the inboxes are now."""

    def __init__(
        self,
        db: Database,
        intake: MailIntake,
        directory: MailDirectory,
        *,
        rescan_seconds: float,
        poll_seconds: float,
        max_message_bytes: int,
        allowed_hosts: HostAllowance,
    ) -> None:
        self.db = db
        self.intake = intake
        self.directory = directory
        self.rescan_seconds = rescan_seconds
        self.poll_seconds = poll_seconds
        self.max_message_bytes = max_message_bytes
        self.allowed_hosts = allowed_hosts
        self._readers: dict[int, tuple[str, asyncio.Task[None]]] = {}
        # A rescan that fails is logged and tried again at the next one.
        self._loop = BackgroundLoop(
            self._rescan, name="imap-supervisor", interval=rescan_seconds, log=log
        )

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        # The rescans first: none starts a reader while they are stopped.
        await self._loop.stop()
        tasks = [t for _, t in self._readers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._readers.clear()

    async def _rescan(self) -> None:
        wanted = {inbox.id: inbox for inbox in await self.directory.inboxes() if inbox.config.imap}
        for inbox_id in list(self._readers):
            settings, task = self._readers[inbox_id]
            inbox = wanted.get(inbox_id)
            if inbox is None or _settings_of(inbox) != settings or task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                del self._readers[inbox_id]
        for inbox_id, inbox in wanted.items():
            if inbox_id not in self._readers:
                reader = MailboxReader(
                    self.db,
                    self.intake,
                    inbox,
                    poll_seconds=self.poll_seconds,
                    max_message_bytes=self.max_message_bytes,
                    allowed_hosts=self.allowed_hosts,
                )
                task = asyncio.create_task(reader.run(), name=f"imap-inbox-{inbox_id}")
                self._readers[inbox_id] = (_settings_of(inbox), task)


def _settings_of(inbox: MailInbox) -> str:
    return inbox.config.model_dump_json()
