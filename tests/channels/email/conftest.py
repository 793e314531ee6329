"""A server with its SMTP listener, a real SMTP server as its outbound relay
(an aiosmtpd sink on the test's loop), and the sample mail of ../shared."""

from __future__ import annotations

import asyncio
import importlib.util
import smtplib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.channels.conftest import conversations_of
from tests.channels.email.dovecot import Dovecot, dovecot, dovecot_without_idle
from tests.conftest import StartServer
from tests.harness import Api

__all__ = ["Dovecot", "dovecot", "dovecot_without_idle"]

# Whether this tree has the responders (automatic acknowledgements of mail).
HAS_RESPONDERS = importlib.util.find_spec("app.responders.planner") is not None

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO.parent / "shared" / "fixtures" / "email"
# Small enough that the 552 test sends little, large enough for every other mail.
MAX_MESSAGE_BYTES = 1024 * 1024
# The authserv-id mail_api believes Authentication-Results headers from.
TRUSTED_AUTHSERV_ID = "mx.trusted.test"


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.fail(f"sample mail {path} is missing: shared/ must sit beside the repository")
    return path.read_bytes()


def fixture_names() -> list[str]:
    if not FIXTURES.is_dir():
        return ["<shared/fixtures/email missing>"]
    return sorted(p.name for p in FIXTURES.glob("*.eml"))


@dataclass
class Sink:
    """A real SMTP server that keeps what it receives and refuses on demand:
    `refuse[address]` holds replies ("451 ...", "550 ...") for that recipient,
    used one per try."""

    port: int = 0
    received: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    refuse: dict[str, list[str]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        replies = self.refuse.get(address.lower())
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        mail = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.received.append((envelope, mail))
        self.arrived.set()
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for e, m in self.received if address in e.rcpt_tos]

    async def wait_for(
        self, address: str, count: int = 1, timeout: float = 30
    ) -> list[EmailMessage]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.to(address)) < count:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"{address} got {len(self.to(address))} mails, not {count}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.5))
            except TimeoutError:
                pass
        return self.to(address)


@pytest.fixture(scope="session")
async def sink() -> AsyncIterator[Sink]:
    loop = asyncio.get_running_loop()
    keeper = Sink()
    server = await loop.create_server(
        lambda: SMTP(keeper, hostname="sink.test", loop=loop), "127.0.0.1", 0
    )
    keeper.port = int(server.sockets[0].getsockname()[1])
    yield keeper
    server.close()


@pytest.fixture(scope="session")
async def mail_api(start_session_server: StartServer, sink: Sink) -> Api:
    """A server with its SMTP listener, relaying replies to the sink. The
    worker polls once a minute: a reply that leaves at once was woken by its
    commit, and a retry waits for its backoff."""
    return await start_session_server(
        {
            "MADOGUCHI_SMTP_RELAY": f"smtp://127.0.0.1:{sink.port}",
            "MADOGUCHI_EMAIL_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
            "MADOGUCHI_SMTP_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
            "MADOGUCHI_WORKER_POLL_SECONDS": "60",
            # New IMAP inboxes get their reader within half a second.
            "MADOGUCHI_IMAP_RESCAN_SECONDS": "0.5",
            # The MX in front of the IMAP mailboxes (and of nothing else).
            "MADOGUCHI_TRUSTED_AUTHSERV_IDS": TRUSTED_AUTHSERV_ID,
        },
        smtp=True,
    )


async def create_email_inbox(
    api: Api,
    address: str | None = None,
    *,
    acknowledge: bool = False,
    teams: list[str] | None = None,
    **config: Any,
) -> dict[str, Any]:
    """An email inbox. Its automatic acknowledgement is off unless asked for:
    most tests look at what the customer and the agent wrote."""
    address = address or f"support-{uuid.uuid4().hex[:8]}@shop.example"
    r = await api.http.post(
        "/api/v1/inboxes",
        json={
            "name": "Support mail",
            "channel": "email",
            "teams": teams or [],
            "config": {"address": address, **config},
        },
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    inbox = dict(r.json())
    if not acknowledge and HAS_RESPONDERS:
        r = await api.http.put(
            f"/api/v1/inboxes/{inbox['id']}/responders",
            json={"greeting": False, "away": False, "acknowledgement": False},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 200, r.text
    return inbox


@pytest.fixture
async def mail_inbox(mail_api: Api) -> dict[str, Any]:
    return await create_email_inbox(mail_api)


class Refused(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def _send_blocking(
    port: int,
    raw: bytes,
    mail_from: str,
    rcpt_to: list[str],
    *,
    announce_size: bool,
    source_ip: str = "127.0.0.1",
) -> str:
    # On the wire, as every MTA sends it: CRLF line ends (smtplib converts str
    # mail, never bytes).
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=60, source_address=(source_ip, 0)) as client:
        client.ehlo("client.test")
        if not announce_size:
            client.esmtp_features.pop("size", None)
        try:
            refused = client.sendmail(mail_from, rcpt_to, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise Refused(code, text.decode()) from exc
        except smtplib.SMTPResponseException as exc:
            raise Refused(exc.smtp_code, exc.smtp_error.decode(errors="replace")) from exc
        assert not refused, refused
        return "250"


async def send_mail(
    api: Api,
    raw: bytes,
    to: str | list[str],
    *,
    mail_from: str | None = None,
    announce_size: bool = True,
    source_ip: str = "127.0.0.1",
) -> None:
    """Delivers `raw` with smtplib (in a thread: the sink shares this loop);
    raises Refused with the server's code when it says no. The MAIL FROM is
    the From address unless given, as the author's own provider sends it: in
    the test DNS (fake_dns.WORLD) its SPF passes, aligned with the From domain.
    `source_ip`: another loopback address (127.0.0.2) is another client."""
    rcpt = [to] if isinstance(to, str) else to
    if mail_from is None:
        mail_from = author_of(raw)
    await asyncio.to_thread(
        _send_blocking,
        api.server.smtp_port,
        raw,
        mail_from,
        rcpt,
        announce_size=announce_size,
        source_ip=source_ip,
    )


def author_of(raw: bytes) -> str:
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    return parseaddr(str(headers.get("From", "")))[1] or "sender@example.com"


def authenticated_by(raw: bytes, domain: str, authserv_id: str = TRUSTED_AUTHSERV_ID) -> bytes:
    """`raw` as an MX that checked it delivers it: an Authentication-Results
    header on top saying DMARC passed for `domain`."""
    header = f"Authentication-Results: {authserv_id}; dmarc=pass header.from={domain}\r\n"
    return header.encode() + raw


def readdress(raw: bytes, to: str, **replace: str) -> bytes:
    """A sample mail sent to `to` (its To header rewritten), with more
    replacements of text in it."""
    raw = raw.replace(b"support@shop.example", to.encode())
    for old, new in replace.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def mail(
    to: str,
    *,
    sender: str = "Alice Example <alice@example.com>",
    subject: str = "Hello",
    body: str = "Hi there",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    built = EmailMessage()
    built["From"] = sender
    built["To"] = to
    built["Subject"] = subject
    built["Message-ID"] = f"<{message_id or uuid.uuid4().hex + '@example.com'}>"
    for name, value in (headers or {}).items():
        built[name] = value
    built.set_content(body)
    return built.as_bytes()


async def only_conversation(api: Api, inbox: dict[str, Any]) -> dict[str, Any]:
    conversations = await conversations_of(api, inbox)
    assert len(conversations) == 1, conversations
    return conversations[0]
