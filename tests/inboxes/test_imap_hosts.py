"""An email inbox's IMAP host may not point inside our network: refused when
the inbox is created, and again when its reader connects (DNS may have
changed since); a deployment exempts its own mail server by name or network."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from app.channels.email.adapter import EmailConfig
from app.conversations.intake import InboxFacts
from app.kit.network import HostAllowance, HostRefused
from app.mail.imap import MailboxReader
from app.mail.intake import MailInbox
from tests.conftest import StartServer
from tests.harness import Api

INTERNAL_HOSTS = [
    "169.254.169.254",  # a cloud's metadata service
    "10.0.0.5",
    "::1",
    "localhost",  # a name that resolves to loopback
    "127.0.0.1",
    "0.0.0.0",  # noqa: S104 - a host to refuse, not one we bind
    "2130706433",  # 127.0.0.1 as one number: the resolver reads it so
    "::ffff:127.0.0.1",
]


@pytest.fixture(scope="module")
async def strict_api(start_module_server: StartServer) -> Api:
    """A server with no exemption (the default), and no readers: an inbox
    accepted here is never connected to."""
    return await start_module_server(
        {"MADOGUCHI_IMAP_ALLOWED_HOSTS": "", "MADOGUCHI_IMAP_READERS": "0"}
    )


async def _create(api: Api, host: str) -> Any:
    return await api.http.post(
        "/api/v1/inboxes",
        json={
            "name": f"Mail via {host}",
            "channel": "email",
            "config": {
                "address": "support@shop.example",
                "imap": {"host": host, "username": "support", "password": "secret"},
            },
        },
        headers=api.auth(api.admin_token),
    )


async def _names(api: Api) -> list[str]:
    r = await api.http.get("/api/v1/inboxes", headers=api.auth(api.admin_token))
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["items"]]


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
async def test_an_internal_imap_host_is_refused_at_create(strict_api: Api, host: str) -> None:
    r = await _create(strict_api, host)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "imap_host_not_allowed"
    assert "MADOGUCHI_IMAP_ALLOWED_HOSTS" in r.json()["detail"]
    # What the name resolved to is not told: no map of our internal DNS.
    assert "127.0.0.1" not in r.json()["detail"] or host == "127.0.0.1"
    assert f"Mail via {host}" not in await _names(strict_api)


async def test_a_name_that_does_not_resolve_is_refused_at_create(strict_api: Api) -> None:
    # .invalid never resolves (RFC 6761).
    r = await _create(strict_api, "imap.invalid")
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "imap_host_unresolved"
    assert "Mail via imap.invalid" not in await _names(strict_api)


async def test_a_public_imap_host_and_an_inbox_without_imap_are_accepted(strict_api: Api) -> None:
    r = await _create(strict_api, "8.8.8.8")
    assert r.status_code == 201, r.text
    assert r.json()["config"]["imap"]["host"] == "8.8.8.8"
    r = await strict_api.http.post(
        "/api/v1/inboxes",
        json={"name": "SMTP only", "channel": "email", "config": {"address": "hi@shop.example"}},
        headers=strict_api.auth(strict_api.admin_token),
    )
    assert r.status_code == 201, r.text
    assert {"Mail via 8.8.8.8", "SMTP only"} <= set(await _names(strict_api))


async def test_the_allowance_exempts_its_network_and_nothing_else(api: Api) -> None:
    # The shared test server exempts 127.0.0.1 (tests/harness.py), for Dovecot.
    r = await _create(api, "127.0.0.1")
    assert r.status_code == 201, r.text
    for host in ("169.254.169.254", "10.0.0.5", "::1"):
        r = await _create(api, host)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "imap_host_not_allowed"


# -- when the reader connects ----------------------------------------------------------


@dataclass
class FakeDns:
    """The system resolver as a table; counts the lookups of each name."""

    table: dict[str, str] = field(default_factory=dict)
    lookups: dict[str, int] = field(default_factory=dict)

    def getaddrinfo(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups[host] = self.lookups.get(host, 0) + 1
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.table[host], port))]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # Only the test's names are faked; addresses go to the real resolver.
        if isinstance(host, str) and host.endswith(".example.test"):
            return fake.getaddrinfo(host, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


@dataclass
class FakeImap:
    """Just enough of an IMAP server for a login; counts its connections."""

    port: int = 0
    connections: int = 0
    logins: list[bytes] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"* OK fake IMAP ready\r\n")
        while line := await reader.readline():
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            command = rest.split(b" ", 1)[0].upper()
            if command == b"CAPABILITY":
                writer.write(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
            elif command == b"LOGIN":
                self.logins.append(rest)
                writer.write(tag + b" OK logged in\r\n")
            elif command == b"LOGOUT":
                writer.write(b"* BYE\r\n" + tag + b" OK bye\r\n")
                break
            else:
                writer.write(tag + b" BAD unknown\r\n")
            await writer.drain()
        writer.close()


async def _imap_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[FakeImap]:
    fake = FakeImap()
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0, ssl=tls)
    fake.port = int(server.sockets[0].getsockname()[1])
    async with server:
        yield fake
        server.close()


@pytest.fixture
async def imap_server() -> AsyncIterator[FakeImap]:
    async for fake in _imap_server():
        yield fake


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for imap.example.test only: (cert, key)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    made = subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=imap.example.test"),
            *("-addext", "subjectAltName=DNS:imap.example.test"),
        ],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr[-300:]!r}")
    return cert, key


def _reader(host: str, port: int, allowance: HostAllowance, *, tls: bool = False) -> MailboxReader:
    config = EmailConfig.model_validate(
        {
            "address": "support@shop.example",
            "imap": {"host": host, "port": port, "username": "u", "password": "p", "tls": tls},
        }
    )
    inbox = MailInbox(InboxFacts(1, "email", "bot", (), "email"), config)
    # Connecting needs neither the database nor the intake.
    return MailboxReader(
        cast(Any, None),
        cast(Any, None),
        inbox,
        poll_seconds=60,
        max_message_bytes=1024,
        allowed_hosts=allowance,
    )


async def test_a_host_whose_dns_now_points_inside_is_never_connected_to(
    dns: FakeDns, imap_server: FakeImap
) -> None:
    # Public when the inbox was saved; loopback now (DNS rebinding).
    dns.table["rebound.example.test"] = "127.0.0.1"
    reader = _reader("rebound.example.test", imap_server.port, HostAllowance())
    with pytest.raises(HostRefused, match=r"127\.0\.0\.1"):
        await reader._connect()
    assert imap_server.connections == 0

    # Exempted, the same mailbox is read, at the address checked: no second lookup.
    reader = _reader("rebound.example.test", imap_server.port, HostAllowance.parse(["127.0.0.1"]))
    client = await reader._connect()
    await client.logout()
    assert imap_server.connections == 1
    assert imap_server.logins == [b'LOGIN u "p"']
    assert dns.lookups["rebound.example.test"] == 2  # once per _connect


async def test_tls_is_verified_for_the_name_while_the_address_is_pinned(
    dns: FakeDns, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    # The reader trusts the system's CAs; here, the test's certificate.
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: trusting)
    dns.table["imap.example.test"] = "127.0.0.1"
    async for fake in _imap_server(server_tls):
        reader = _reader(
            "imap.example.test", fake.port, HostAllowance.parse(["127.0.0.0/8"]), tls=True
        )
        client = await reader._connect()
        await client.logout()
        assert fake.logins == [b'LOGIN u "p"']
        # A name the certificate does not carry fails the handshake: verified.
        dns.table["other.example.test"] = "127.0.0.1"
        reader = _reader(
            "other.example.test", fake.port, HostAllowance.parse(["127.0.0.0/8"]), tls=True
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            await reader._connect()
        assert fake.logins == [b'LOGIN u "p"']
