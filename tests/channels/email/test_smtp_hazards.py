"""Bad and hostile mail at the listener: each is refused or stored as well as
it can be read, and the listener keeps serving."""

from __future__ import annotations

import asyncio
import base64
import socket
import uuid
from typing import Any

import pytest

from tests.channels.conftest import conversations_of
from tests.channels.email.conftest import (
    MAX_MESSAGE_BYTES,
    Refused,
    create_email_inbox,
    fixture,
    mail,
    only_conversation,
    readdress,
    send_mail,
)
from tests.harness import Api


async def _still_serving(api: Api) -> None:
    inbox = await create_email_inbox(api)
    address = inbox["config"]["address"]
    await send_mail(api, mail(address, body="still here"), address)
    (message,) = await api.messages((await only_conversation(api, inbox))["id"])
    assert message["body"] == "still here"


@pytest.mark.parametrize("announce_size", [True, False])
async def test_a_mail_over_the_size_limit_gets_552(
    mail_api: Api, mail_inbox: dict[str, Any], announce_size: bool
) -> None:
    address = mail_inbox["config"]["address"]
    huge = mail(address, body=("x" * 76 + "\n") * (MAX_MESSAGE_BYTES // 77 + 100))
    with pytest.raises(Refused) as refused:
        await send_mail(mail_api, huge, address, announce_size=announce_size)
    assert refused.value.code == 552
    assert await conversations_of(mail_api, mail_inbox) == []
    await _still_serving(mail_api)


async def test_the_same_message_id_delivered_again_is_stored_once(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    address = mail_inbox["config"]["address"]
    raw = mail(address, message_id="once-only@example.com", body="only once")
    await send_mail(mail_api, raw, address)
    # An SMTP retry, and ten deliveries at once (two MXs, a retry storm).
    await send_mail(mail_api, raw, address)
    await asyncio.gather(*(send_mail(mail_api, raw, address) for _ in range(10)))
    conversation = await only_conversation(mail_api, mail_inbox)
    assert [m["body"] for m in await mail_api.messages(conversation["id"])] == ["only once"]


def _smtp_session(port: int, lines: list[bytes]) -> list[bytes]:
    """Speaks SMTP by hand: sends each chunk after reading the server's answer."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        stream = conn.makefile("rb")

        def reply() -> bytes:
            text = b""
            while True:
                line = stream.readline()
                text += line
                if len(line) < 4 or line[3:4] != b"-":
                    return text

        answers.append(reply())
        for chunk in lines:
            conn.sendall(chunk)
            answers.append(reply())
    return answers


async def test_smtp_smuggling_cannot_slip_a_second_mail_in(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    """CVE-2024-27305: a bare-LF end of data ("\\n.\\n") followed by a second
    transaction is one mail, never two."""
    address = mail_inbox["config"]["address"].encode()
    smuggled = (
        b"From: alice@example.com\r\nTo: " + address + b"\r\nSubject: first\r\n"
        b"Message-ID: <smuggle-1@example.com>\r\n\r\nfirst body\n.\n"
        b"MAIL FROM:<ceo@shop.example>\r\nRCPT TO:<" + address + b">\r\nDATA\r\n"
        b"From: ceo@shop.example\r\nSubject: smuggled\r\n"
        b"Message-ID: <smuggle-2@example.com>\r\n\r\nwire the money\r\n.\r\n"
    )
    answers = await asyncio.to_thread(
        _smtp_session,
        mail_api.server.smtp_port,
        [
            b"EHLO client.test\r\n",
            b"MAIL FROM:<alice@example.com>\r\n",
            b"RCPT TO:<" + address + b">\r\n",
            b"DATA\r\n",
            smuggled,
            b"QUIT\r\n",
        ],
    )
    assert answers[4].startswith(b"354")
    assert answers[5].startswith(b"250")
    conversation = await only_conversation(mail_api, mail_inbox)
    (message,) = await mail_api.messages(conversation["id"])
    assert conversation["customer"]["email"] == "alice@example.com"
    assert conversation["subject"] == "first"
    assert "wire the money" in message["body"]  # part of the one mail, in plain sight


def _nested(depth: int, address: str) -> bytes:
    head = (
        f"From: deep@example.com\r\nTo: {address}\r\nSubject: deep\r\n"
        f"Message-ID: <deep-{depth}-{uuid.uuid4().hex}@example.com>\r\nMIME-Version: 1.0\r\n"
    ).encode()
    body = b""
    for level in range(depth):
        body += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
    body += b"Content-Type: text/plain\r\n\r\nat the bottom\r\n"
    for level in reversed(range(depth)):
        body += b"--b%d--\r\n" % level
    return head + body


def _many_parts(count: int, address: str) -> bytes:
    head = (
        f"From: many@example.com\r\nTo: {address}\r\nSubject: many\r\n"
        f"Message-ID: <many-{uuid.uuid4().hex}@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
    ).encode()
    parts = b"".join(
        b"--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(count)
    )
    return head + parts + b"--B--\r\n"


@pytest.mark.parametrize(
    "kind", ["nested-10", "nested-5000", "parts-20", "parts-20000", "nul-bytes"]
)
async def test_deep_wide_and_nul_mail_is_stored(mail_api: Api, kind: str) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    shape, _, size = kind.partition("-")
    if shape == "nested":
        raw = _nested(int(size), address)
    elif shape == "parts":
        raw = _many_parts(int(size), address)
    else:
        raw = (
            f"From: nul@example.com\r\nTo: {address}\r\nSubject: nul\x00here\r\n"
            f"Message-ID: <nul-{uuid.uuid4().hex}@example.com>\r\n\r\n"
        ).encode() + b"before\x00after\r\n"
    await send_mail(mail_api, raw, address)
    conversation = await only_conversation(mail_api, inbox)
    (message,) = await mail_api.messages(conversation["id"])
    if kind == "nested-10":
        assert message["body"] == "at the bottom"
    if kind == "parts-20":
        assert message["body"] == "part 0"
    if kind in ("nested-5000", "parts-20000"):
        # Read from its headers and raw text: nothing lost, nothing walked.
        assert "unreadable_structure" in message["flags"]
        r = await mail_api.http.get(
            f"/api/v1/messages/{message['id']}/raw", headers=mail_api.auth(mail_api.admin_token)
        )
        assert len(r.content) >= len(raw)
    if kind == "nul-bytes":
        assert message["body"] == "beforeafter"
        assert conversation["subject"] == "nulhere"
    await _still_serving(mail_api)


async def test_mail_from_our_own_address_is_dropped(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    """Our reply bounced back by a forward or an alias: answering it could loop."""
    address = mail_inbox["config"]["address"]
    other = await create_email_inbox(mail_api)
    await send_mail(mail_api, mail(address, sender=f"Support <{address.upper()}>"), address)
    await send_mail(mail_api, mail(address, sender=other["config"]["address"]), address)
    assert await conversations_of(mail_api, mail_inbox) == []


async def test_a_failed_dmarc_never_reaches_the_customers_history(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    address = mail_inbox["config"]["address"]
    first = mail(address, sender="Bob <bob@example.com>", message_id="bob-1@example.com")
    await send_mail(mail_api, first, address)
    genuine = await only_conversation(mail_api, mail_inbox)
    forged = mail(
        address,
        sender="Bob <bob@example.com>",
        subject="Re: Hello",
        body="send me my order history",
        headers={
            "In-Reply-To": "<bob-1@example.com>",
            "Authentication-Results": "mx.shop.example; spf=fail smtp.mailfrom=example.com;"
            " dkim=none; dmarc=fail header.from=example.com",
        },
    )
    await send_mail(mail_api, forged, address)
    conversations = await conversations_of(mail_api, mail_inbox)
    assert len(conversations) == 2
    (impostor,) = [c for c in conversations if c["id"] != genuine["id"]]
    assert impostor["customer_id"] != genuine["customer_id"]
    (message,) = await mail_api.messages(impostor["id"])
    assert "unverified_sender" in message["flags"]
    assert [m["body"] for m in await mail_api.messages(genuine["id"])] == ["Hi there"]


async def test_references_into_another_customers_thread_open_a_flagged_conversation(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    address = mail_inbox["config"]["address"]
    await send_mail(
        mail_api,
        mail(address, sender="carol@example.com", message_id="carol-1@example.com"),
        address,
    )
    carols = await only_conversation(mail_api, mail_inbox)
    probe = mail(
        address,
        sender="mallory@example.net",
        subject="Re: Hello",
        body="what did carol order?",
        headers={"In-Reply-To": "<carol-1@example.com>", "References": "<carol-1@example.com>"},
    )
    await send_mail(mail_api, probe, address)
    conversations = await conversations_of(mail_api, mail_inbox)
    assert len(conversations) == 2
    (mallorys,) = [c for c in conversations if c["id"] != carols["id"]]
    assert mallorys["customer"]["email"] == "mallory@example.net"
    (message,) = await mail_api.messages(mallorys["id"])
    assert "foreign_reference" in message["flags"]
    assert len(await mail_api.messages(carols["id"])) == 1


async def test_a_reply_continues_its_conversation_and_reopens_it(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    address = mail_inbox["config"]["address"]
    await send_mail(
        mail_api, mail(address, sender="dan@example.com", message_id="dan-1@x.test"), address
    )
    conversation = await only_conversation(mail_api, mail_inbox)
    # Another mail without references: a conversation of its own.
    await send_mail(mail_api, mail(address, sender="dan@example.com", subject="Other"), address)
    assert len(await conversations_of(mail_api, mail_inbox)) == 2
    r = await mail_api.http.post(
        f"/api/v1/conversations/{conversation['id']}/resolve",
        headers=mail_api.auth(mail_api.admin_token),
    )
    assert r.status_code == 200
    reply = mail(
        address,
        sender="Dan <DAN@Example.com>",
        subject="Re: Hello",
        body="one more thing",
        headers={"References": "<dan-1@x.test>", "In-Reply-To": "<dan-1@x.test>"},
    )
    await send_mail(mail_api, reply, address)
    r = await mail_api.http.get(
        f"/api/v1/conversations/{conversation['id']}", headers=mail_api.auth(mail_api.admin_token)
    )
    assert r.json()["status"] == "open"
    bodies = [m["body"] for m in await mail_api.messages(conversation["id"])]
    assert bodies == ["Hi there", "one more thing"]


@pytest.mark.parametrize(
    ("charset", "codec", "text"),
    [
        ("utf-8", "utf-8", "Grüße 👋 お問い合わせ"),
        # Windows writes Shift_JIS as code page 932 (with ①) and labels it Shift_JIS.
        ("Shift_JIS", "cp932", "お問い合わせありがとうございます ①"),
        ("EUC-JP", "euc_jp", "注文番号をご確認ください"),
        ("ISO-8859-1", "latin-1", "Café crème, s'il vous plaît"),
        ("ISO-2022-JP", "iso2022_jp", "返品について"),
    ],
)
async def test_mail_in_every_charset_it_really_arrives_in(
    mail_api: Api, charset: str, codec: str, text: str
) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    encoded_subject = base64.b64encode(text.encode(codec)).decode()
    raw = (
        (
            f"From: Kenji <kenji@example.jp>\r\nTo: {address}\r\n"
            f"Subject: =?{charset}?B?{encoded_subject}?=\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@example.jp>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: text/plain; charset="{charset}"\r\n'
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + text.encode(codec)
        + b"\r\n"
    )
    await send_mail(mail_api, raw, address)
    conversation = await only_conversation(mail_api, inbox)
    assert conversation["subject"] == text
    (message,) = await mail_api.messages(conversation["id"])
    assert message["body"] == text


async def test_a_malformed_sample_leaves_the_listener_serving(mail_api: Api) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    raw = readdress(fixture("malformed-mime.eml"), address)
    # Cut short in the middle of a part, as a dropped connection leaves it.
    await send_mail(mail_api, raw[: len(raw) // 2], address)
    await only_conversation(mail_api, inbox)
    await _still_serving(mail_api)
