"""The listener's session caps, connection rate and message size, attacked
through real sockets: a flood is refused with 421 before it can send a byte of
mail, while other senders' mail is stored, once; what a refused or vanished
session held is given back; a mail too large is refused with 552 and kept
nowhere, even as one endless line.

Each test is a client of its own: loopback addresses past 127.0.0.1 (all of
127/8 reaches the listener) are other clients to the listener's counts."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.mail.limits import (
    TOO_MANY_CONNECTIONS,
    SmtpAdmission,
    SmtpSessionLimits,
    client_of,
    parse_relays,
)
from app.mail.listener import LINE_LENGTH_LIMIT
from tests.channels.conftest import conversations_of
from tests.channels.email.conftest import (
    Refused,
    create_email_inbox,
    mail,
    send_mail,
)
from tests.channels.email.fake_dns import publish
from tests.conftest import StartServer
from tests.harness import Api

DEFAULTS = Settings()
PER_IP = DEFAULTS.smtp_max_sessions_per_ip
PER_MINUTE = DEFAULTS.smtp_connections_per_ip_per_minute
MAX_BYTES = DEFAULTS.smtp_max_message_bytes
# Guards against a hang, never a measure of speed.
PATIENCE = 60.0
# A refused client tries again this many times, a pause apart (a slot frees
# when the listener sees the close): a count of tries, not a deadline.
RETRIES = 1200
RETRY_PAUSE = 0.05

# The crowded listener: a global cap small enough to fill, a relay exempt
# from the per-client cap.
CROWDED_MAX_SESSIONS = 6
CROWDED_PER_IP = 2
RELAY_IP = "127.0.2.50"


def _every_loopback_sender(api: Api) -> None:
    """SPF passes for any loopback client (the test DNS lets only 127.0.0.1)."""
    publish(
        Path(api.server.env["MADOGUCHI_TEST_DNS_FILE"]),
        {"TXT": {"*": ["v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"]}},
    )


@pytest.fixture(scope="module")
async def limits_api(start_module_server: StartServer) -> Api:
    """A listener with every limit at its default, the rate included, that
    treats loopback clients as the strangers they stand for here: as though it
    were the MX itself, with no relay in front."""
    api = await start_module_server(
        {
            "MADOGUCHI_SMTP_CONNECTIONS_PER_IP_PER_MINUTE": str(PER_MINUTE),
            "MADOGUCHI_SMTP_TRUSTED_RELAYS": "",
        },
        smtp=True,
    )
    _every_loopback_sender(api)
    return api


@pytest.fixture(scope="module")
async def crowded_api(start_module_server: StartServer) -> Api:
    api = await start_module_server(
        {
            "MADOGUCHI_SMTP_MAX_SESSIONS": str(CROWDED_MAX_SESSIONS),
            "MADOGUCHI_SMTP_MAX_SESSIONS_PER_IP": str(CROWDED_PER_IP),
            "MADOGUCHI_SMTP_TRUSTED_RELAYS": f"{RELAY_IP}, 10.9.0.0/16",
        },
        smtp=True,
    )
    _every_loopback_sender(api)
    return api


@dataclass
class Peer:
    """One raw SMTP connection and the first line the listener said."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    greeting: bytes

    @property
    def admitted(self) -> bool:
        return self.greeting.startswith(b"220 ")

    async def command(self, line: bytes) -> bytes:
        """Sends one command; the last line of the reply."""
        self.writer.write(line + b"\r\n")
        await self.writer.drain()
        while True:
            reply = await asyncio.wait_for(self.reader.readline(), PATIENCE)
            if reply[3:4] != b"-":
                return reply

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), PATIENCE) == b""

    def abort(self) -> None:
        """Gone without QUIT or FIN: a reset, as a crashed or cut-off peer."""
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def connect(api: Api, source_ip: str) -> Peer:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", api.server.smtp_port, local_addr=(source_ip, 0)
    )
    greeting = await asyncio.wait_for(reader.readline(), PATIENCE)
    return Peer(reader, writer, greeting)


async def close_all(peers: Iterable[Peer]) -> None:
    await asyncio.gather(*(peer.close() for peer in peers))


async def until_admitted(api: Api, source_ip: str) -> Peer:
    """Connects until the listener greets (it frees a slot when it sees the
    close, a moment after the client's)."""
    for _ in range(RETRIES):
        peer = await connect(api, source_ip)
        if peer.admitted:
            return peer
        assert peer.greeting == TOO_MANY_CONNECTIONS
        await peer.close()
        await asyncio.sleep(RETRY_PAUSE)
    pytest.fail(f"{source_ip} never admitted")


async def deliver_as_an_mta(api: Api, raw: bytes, to: str, source_ip: str) -> None:
    """Sends as a real MTA does: a 421 greeting means try again later (the
    mail was never sent, so a retry cannot store it twice)."""
    for _ in range(RETRIES):
        try:
            await send_mail(api, raw, to, source_ip=source_ip)
            return
        except smtplib.SMTPConnectError as exc:
            if exc.smtp_code != 421:
                raise
            await asyncio.sleep(RETRY_PAUSE)
    pytest.fail(f"{source_ip} never admitted")


async def _stored_bodies(api: Api, inbox: dict[str, Any]) -> list[str]:
    bodies: list[str] = []
    for conversation in await conversations_of(api, inbox):
        bodies += [m["body"] for m in await api.messages(conversation["id"])]
    return bodies


async def test_a_flood_from_one_address_gets_421_while_others_mail_is_stored(
    limits_api: Api,
) -> None:
    inbox = await create_email_inbox(limits_api)
    address = inbox["config"]["address"]
    flood = await asyncio.gather(*(connect(limits_api, "127.0.0.1") for _ in range(500)))
    admitted = [peer for peer in flood if peer.admitted]
    refused = [peer for peer in flood if not peer.admitted]
    assert len(admitted) == PER_IP
    assert {peer.greeting for peer in refused} == {TOO_MANY_CONNECTIONS}
    # Refused at once: closed by the listener, never asked for mail.
    assert all(await asyncio.gather(*(peer.closed_by_server() for peer in refused)))
    await close_all(refused)

    # While the flood holds its sessions, the listener serves everyone else.
    assert (await limits_api.http.get("/healthz")).status_code == 200
    await send_mail(
        limits_api, mail(address, body="from elsewhere"), address, source_ip="127.0.0.2"
    )
    assert await _stored_bodies(limits_api, inbox) == ["from elsewhere"]
    # The flood's own sessions still work: capped, not broken.
    assert (await admitted[0].command(b"EHLO flood.test")).startswith(b"250 ")
    extra = await connect(limits_api, "127.0.0.1")
    assert extra.greeting == TOO_MANY_CONNECTIONS
    await extra.close()

    # The flood ends: its address is a sender like any other again.
    await close_all(admitted)
    await deliver_as_an_mta(limits_api, mail(address, body="flood over"), address, "127.0.0.1")
    assert sorted(await _stored_bodies(limits_api, inbox)) == ["flood over", "from elsewhere"]


async def test_sessions_cut_off_without_quit_give_their_slots_back(limits_api: Api) -> None:
    source_ip = "127.0.0.3"
    inbox = await create_email_inbox(limits_api)
    address = inbox["config"]["address"]
    held = [await connect(limits_api, source_ip) for _ in range(PER_IP)]
    assert all(peer.admitted for peer in held)
    # Half vanish after the banner, half in the middle of a mail's DATA.
    for peer in held[PER_IP // 2 :]:
        assert (await peer.command(b"EHLO cut.test")).startswith(b"250 ")
        assert (await peer.command(b"MAIL FROM:<alice@example.com>")).startswith(b"250 ")
        assert (await peer.command(f"RCPT TO:<{address}>".encode())).startswith(b"250 ")
        assert (await peer.command(b"DATA")).startswith(b"354 ")
        peer.writer.write(b"Subject: half a mail\r\n\r\nnever finish")
        await peer.writer.drain()
    over = await connect(limits_api, source_ip)
    assert over.greeting == TOO_MANY_CONNECTIONS
    await over.close()
    for peer in held:
        peer.abort()

    # Every slot comes back: the same address holds its full share again.
    again = [await until_admitted(limits_api, source_ip) for _ in range(PER_IP)]
    await close_all(again)
    assert await conversations_of(limits_api, inbox) == []
    await deliver_as_an_mta(limits_api, mail(address, body="whole mail"), address, source_ip)
    (conversation,) = await conversations_of(limits_api, inbox)
    assert [m["body"] for m in await limits_api.messages(conversation["id"])] == ["whole mail"]


async def test_too_many_new_sessions_a_minute_from_one_address_get_421(
    limits_api: Api,
) -> None:
    source_ip = "127.0.0.4"
    for _ in range(PER_MINUTE):
        peer = await connect(limits_api, source_ip)
        assert peer.admitted
        assert (await peer.command(b"QUIT")).startswith(b"221 ")
        await peer.close()
    # Never more than one session open: the rate refuses this one, not the cap.
    refused = await connect(limits_api, source_ip)
    assert refused.greeting == TOO_MANY_CONNECTIONS
    assert await refused.closed_by_server()
    await refused.close()
    # The next address is not held to the first's rate.
    inbox = await create_email_inbox(limits_api)
    address = inbox["config"]["address"]
    await send_mail(limits_api, mail(address, body="next door"), address, source_ip="127.0.0.5")
    assert await _stored_bodies(limits_api, inbox) == ["next door"]


async def test_a_mail_over_the_size_limit_gets_552_and_is_kept_nowhere(limits_api: Api) -> None:
    source_ip = "127.0.0.6"
    inbox = await create_email_inbox(limits_api)
    address = inbox["config"]["address"]
    peer = await connect(limits_api, source_ip)
    # What EHLO announces is the limit DATA holds to.
    peer.writer.write(b"EHLO big.test\r\n")
    features = []
    while not features or features[-1][3:4] == b"-":
        features.append(await asyncio.wait_for(peer.reader.readline(), PATIENCE))
    assert f"250-SIZE {MAX_BYTES}\r\n".encode() in features
    over = await peer.command(f"MAIL FROM:<alice@example.com> SIZE={MAX_BYTES + 1}".encode())
    assert over.startswith(b"552 ")
    await peer.command(b"QUIT")
    await peer.close()

    # Unannounced, it is refused once its end arrives.
    line = b"x" * 76 + b"\n"
    huge = mail(address, body=(line * (MAX_BYTES // len(line) + 100)).decode())
    with pytest.raises(Refused) as refused:
        await send_mail(limits_api, huge, address, source_ip=source_ip, announce_size=False)
    assert refused.value.code == 552
    assert await conversations_of(limits_api, inbox) == []
    # The sender's next mail, within the limit, is stored.
    await send_mail(limits_api, mail(address, body="smaller"), address, source_ip=source_ip)
    assert await _stored_bodies(limits_api, inbox) == ["smaller"]


async def test_one_endless_line_is_cut_off_at_the_size_limit(limits_api: Api) -> None:
    """aiosmtpd keeps an overlong DATA line whole until its CRLF; the listener
    stops such a line at the size limit rather than buffering it forever."""
    inbox = await create_email_inbox(limits_api)
    address = inbox["config"]["address"]
    peer = await connect(limits_api, "127.0.0.7")
    assert (await peer.command(b"EHLO endless.test")).startswith(b"250 ")
    assert (await peer.command(b"MAIL FROM:<alice@example.com>")).startswith(b"250 ")
    assert (await peer.command(f"RCPT TO:<{address}>".encode())).startswith(b"250 ")
    assert (await peer.command(b"DATA")).startswith(b"354 ")
    # Exactly one byte past what the listener holds: nothing is left unread
    # when it closes, so its reply is not lost to a reset.
    endless = b"x" * (MAX_BYTES + LINE_LENGTH_LIMIT + 1)
    chunk = 64 * 1024
    for start in range(0, len(endless), chunk):
        peer.writer.write(endless[start : start + chunk])
        await peer.writer.drain()
    reply = await asyncio.wait_for(peer.reader.readline(), PATIENCE)
    assert reply.startswith(b"552 ")
    assert await peer.closed_by_server()
    await peer.close()
    assert await conversations_of(limits_api, inbox) == []
    await send_mail(limits_api, mail(address, body="after"), address, source_ip="127.0.0.7")
    assert await _stored_bodies(limits_api, inbox) == ["after"]


async def test_the_global_cap_holds_relays_too_but_not_their_per_address_cap(
    crowded_api: Api,
) -> None:
    inbox = await create_email_inbox(crowded_api)
    address = inbox["config"]["address"]
    # The relay in front opens more than one address may: all are its senders'.
    relayed = [await connect(crowded_api, RELAY_IP) for _ in range(CROWDED_MAX_SESSIONS)]
    assert all(peer.admitted for peer in relayed)
    # Every session is taken: 421 for anyone, the relay included.
    for source_ip in ("127.0.2.1", RELAY_IP):
        full = await connect(crowded_api, source_ip)
        assert full.greeting == TOO_MANY_CONNECTIONS
        await full.close()
    await close_all(relayed)

    await deliver_as_an_mta(crowded_api, mail(address, body="via the relay"), address, RELAY_IP)
    await deliver_as_an_mta(crowded_api, mail(address, body="direct"), address, "127.0.2.1")
    # Others are still held to their own cap.
    direct = [await until_admitted(crowded_api, "127.0.2.2") for _ in range(CROWDED_PER_IP)]
    over = await connect(crowded_api, "127.0.2.2")
    assert over.greeting == TOO_MANY_CONNECTIONS
    await close_all([*direct, over])
    assert sorted(await _stored_bodies(crowded_api, inbox)) == ["direct", "via the relay"]


# The admission's counting itself, where addresses loopback cannot give.


def _admission(**limits: Any) -> SmtpAdmission:
    return SmtpAdmission(SmtpSessionLimits(**limits))


def test_an_ipv6_client_is_its_slash_64() -> None:
    admission = _admission(max_sessions_per_client=2, sessions_per_client_per_minute=0)
    same_64 = [admission.admit(f"2001:db8:1:2::{n}") for n in range(3)]
    assert same_64[2] is None
    assert admission.admit("2001:db8:1:3::1") is not None
    assert admission.sessions_of("2001:db8:1:2:ffff::9") == 2
    assert client_of("::ffff:192.0.2.1") == client_of("192.0.2.1") == "192.0.2.1"
    assert client_of("fe80::1%eth0") == "fe80::/64"


def test_a_released_slot_is_counted_once() -> None:
    admission = _admission(max_sessions=1, max_sessions_per_client=1)
    slot = admission.admit("192.0.2.1")
    assert slot is not None
    assert admission.admit("192.0.2.2") is None
    admission.release(slot)
    admission.release(slot)
    assert admission.open_sessions == 0
    assert admission.sessions_of("192.0.2.1") == 0
    assert admission.admit("192.0.2.2") is not None


def test_zero_turns_a_limit_off() -> None:
    admission = _admission(
        max_sessions=0, max_sessions_per_client=0, sessions_per_client_per_minute=0
    )
    assert all(admission.admit("192.0.2.1") for _ in range(1000))


def test_relays_are_addresses_or_networks() -> None:
    relays = parse_relays(["192.0.2.7", "10.0.0.0/8", "2001:db8::/32"])
    admission = _admission(max_sessions=3, max_sessions_per_client=1, trusted_relays=relays)
    assert admission.admit("10.1.2.3") is not None
    assert admission.admit("::ffff:10.1.2.3") is not None
    assert admission.admit("2001:db8::5") is not None
    assert admission.admit("192.0.2.7") is None  # the global cap
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_relays(["not-an-ip"])


def test_by_default_this_hosts_own_mta_is_a_relay_and_strangers_are_not() -> None:
    """An MTA (or a TCP proxy) on the same host speaks for every sender: a
    per-client cap on it would let one sender starve all the others."""
    admission = SmtpAdmission(SmtpSessionLimits.from_settings(Settings()))
    local = [admission.admit("127.0.0.1") for _ in range(PER_IP + 5)]
    assert all(slot is not None for slot in local)
    assert admission.admit("::1") is not None
    strangers = [admission.admit("198.51.100.7") for _ in range(PER_IP + 1)]
    assert strangers[-1] is None
    assert all(slot is not None for slot in strangers[:-1])
