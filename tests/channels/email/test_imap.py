"""IMAP mailboxes on a real Dovecot: each mail is stored once, marked \\Seen
only after its commit, nothing is missed or read twice across restarts, and
replies and answers thread as over SMTP."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.models import Message
from tests.channels.conftest import conversations_of
from tests.channels.email.conftest import (
    Sink,
    authenticated_by,
    create_email_inbox,
    fixture,
    mail,
    readdress,
    send_mail,
)
from tests.channels.email.dovecot import Dovecot
from tests.conftest import StartServer
from tests.harness import Api


async def _imap_inbox(api: Api, dovecot: Dovecot) -> tuple[dict[str, Any], str]:
    user = dovecot.add_user()
    inbox = await create_email_inbox(api, f"{user}@shop.example", imap=dovecot.imap_config(user))
    return inbox, user


async def _bodies_when(
    api: Api, inbox: dict[str, Any], count: int, timeout: float = 20
) -> list[str]:
    """The bodies of the inbox's messages once there are `count` of them."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        bodies = [
            m["body"]
            for c in await conversations_of(api, inbox)
            for m in await api.messages(c["id"])
        ]
        if len(bodies) >= count or asyncio.get_running_loop().time() > deadline:
            return sorted(bodies)
        await asyncio.sleep(0.2)


async def test_mailbox_mail_becomes_conversations_once_and_is_seen_after(
    mail_api: Api, dovecot: Dovecot
) -> None:
    user = dovecot.add_user()
    # Before the inbox is connected: one mail read by a person, one not.
    await asyncio.to_thread(dovecot.append, user, mail(f"{user}@x", body="old, read"), seen=True)
    await asyncio.to_thread(
        dovecot.append, user, mail(f"{user}@x", body="waiting", message_id="w-1@example.com")
    )
    inbox = await create_email_inbox(
        mail_api, f"{user}@shop.example", imap=dovecot.imap_config(user)
    )
    assert await _bodies_when(mail_api, inbox, 1) == ["waiting"]
    # New mail arrives while the reader waits in IDLE.
    await asyncio.to_thread(
        dovecot.append, user, mail(f"{user}@x", body="fresh", message_id="f-1@example.com")
    )
    assert await _bodies_when(mail_api, inbox, 2) == ["fresh", "waiting"]
    seen = await asyncio.to_thread(dovecot.seen_ids, user)
    for _ in range(50):
        if seen.get("f-1@example.com"):
            break
        await asyncio.sleep(0.1)
        seen = await asyncio.to_thread(dovecot.seen_ids, user)
    assert seen["w-1@example.com"] is True
    assert seen["f-1@example.com"] is True
    # The same mail over SMTP as well: stored once.
    await send_mail(
        mail_api,
        mail(inbox["config"]["address"], body="fresh", message_id="f-1@example.com"),
        inbox["config"]["address"],
    )
    await asyncio.sleep(1)
    assert await _bodies_when(mail_api, inbox, 3, timeout=1) == ["fresh", "waiting"]


async def test_a_reply_and_its_answer_go_round_through_imap(
    mail_api: Api, dovecot: Dovecot, sink: Sink
) -> None:
    inbox, user = await _imap_inbox(mail_api, dovecot)
    address = inbox["config"]["address"]
    # The mailbox provider's MX vouches for the sender (a trusted authserv-id):
    # mail we did not receive ourselves has no other way to be verified.
    first = readdress(fixture("multipart-html-attachment.eml"), address).replace(
        b"oliver.smith@example.com", f"oliver-{user}@example.com".encode()
    )
    await asyncio.to_thread(dovecot.append, user, authenticated_by(first, "example.com"))
    assert len(await _bodies_when(mail_api, inbox, 1)) == 1
    (conversation,) = await conversations_of(mail_api, inbox)
    r = await mail_api.http.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"body": "Try the link in this mail."},
        headers=mail_api.auth(mail_api.admin_token),
    )
    assert r.status_code == 201, r.text
    (sent,) = await sink.wait_for(f"oliver-{user}@example.com")
    answer = readdress(
        fixture("reply-with-quote.eml"),
        address,
        **{"AGENT-REPLY-MESSAGE-ID@shop.example": str(sent["Message-ID"]).strip("<>")},
    ).replace(b"oliver.smith@example.com", f"oliver-{user}@example.com".encode())
    await asyncio.to_thread(dovecot.append, user, authenticated_by(answer, "example.com"))
    bodies = await _bodies_when(mail_api, inbox, 3)
    assert "That worked, thank you!" in bodies
    assert [c["id"] for c in await conversations_of(mail_api, inbox)] == [conversation["id"]]


async def test_mailbox_mail_is_verified_only_by_a_trusted_header(
    mail_api: Api, dovecot: Dovecot
) -> None:
    """No SMTP session of ours saw it: SPF means nothing, a header of an
    authserv-id nobody trusts means nothing, the trusted MX's header counts."""
    inbox, user = await _imap_inbox(mail_api, dovecot)
    address = inbox["config"]["address"]
    sender = f"aiko-{user}@example.com"
    plain = mail(address, sender=sender, body="plain")
    untrusted = authenticated_by(
        mail(address, sender=sender, body="untrusted"), "example.com", "mx.elsewhere.test"
    )
    vouched = authenticated_by(mail(address, sender=sender, body="vouched"), "example.com")
    for raw in (plain, untrusted, vouched):
        await asyncio.to_thread(dovecot.append, user, raw)
    assert len(await _bodies_when(mail_api, inbox, 3)) == 3
    verified = {}
    for conversation in await conversations_of(mail_api, inbox):
        for message in await mail_api.messages(conversation["id"]):
            verified[message["body"]] = "unverified_sender" not in message.get("flags", [])
    assert verified == {"plain": False, "untrusted": False, "vouched": True}


async def _stored_ids(api: Api) -> set[str]:
    """Straight from the database: what the server had committed."""
    settings = Settings(
        data_dir=api.server.data_dir, database_url=api.server.env.get("MADOGUCHI_DATABASE_URL")
    )
    db = Database(settings, MemoryBus())
    try:
        async with db.read() as session:
            rows = await session.execute(select(Message.external_id))
            return {r for r in rows.scalars() if r}
    finally:
        await db.dispose()


async def test_nothing_is_missed_or_stored_twice_across_restarts_and_kills(
    start_server: StartServer, dovecot: Dovecot, sink: Sink
) -> None:
    api = await start_server({"MADOGUCHI_IMAP_RESCAN_SECONDS": "0.5"})
    inbox, user = await _imap_inbox(api, dovecot)
    await asyncio.to_thread(
        dovecot.append, user, mail(f"{user}@x", body="before", message_id=f"b-{user}@x")
    )
    assert await _bodies_when(api, inbox, 1) == ["before"]
    # Down for a while; mail keeps arriving.
    api.server.stop()
    for n in range(3):
        await asyncio.to_thread(dovecot.append, user, mail(f"{user}@x", body=f"while down {n}"))
    await api.server.start()
    api.admin_token = await api.login("admin@example.com", "correct horse battery")
    assert await _bodies_when(api, inbox, 4) == [
        "before",
        "while down 0",
        "while down 1",
        "while down 2",
    ]
    # A burst, and kill -9 in the middle of it: whatever is \Seen was stored.
    burst = [f"burst-{n}-{uuid.uuid4().hex[:6]}@x" for n in range(40)]
    for mid in burst:
        await asyncio.to_thread(dovecot.append, user, mail(f"{user}@x", body=mid, message_id=mid))
    while len(await _bodies_when(api, inbox, 5, timeout=0)) < 6:
        await asyncio.sleep(0.05)
    api.server.kill()
    seen = await asyncio.to_thread(dovecot.seen_ids, user)
    stored = await _stored_ids(api)
    assert {mid for mid, is_seen in seen.items() if is_seen} <= stored
    await api.server.start()
    api.admin_token = await api.login("admin@example.com", "correct horse battery")
    bodies = await _bodies_when(api, inbox, 44, timeout=40)
    assert len(bodies) == 44
    assert len(set(bodies)) == 44
    seen = await asyncio.to_thread(dovecot.seen_ids, user)
    assert all(seen[mid] for mid in burst)


async def test_a_server_without_idle_is_polled(
    start_server: StartServer, dovecot_without_idle: Dovecot
) -> None:
    api = await start_server(
        {"MADOGUCHI_IMAP_RESCAN_SECONDS": "0.5", "MADOGUCHI_IMAP_POLL_SECONDS": "0.5"}
    )
    inbox, user = await _imap_inbox(api, dovecot_without_idle)
    await asyncio.to_thread(dovecot_without_idle.append, user, mail(f"{user}@x", body="one"))
    assert await _bodies_when(api, inbox, 1) == ["one"]
    await asyncio.to_thread(dovecot_without_idle.append, user, mail(f"{user}@x", body="two"))
    assert await _bodies_when(api, inbox, 2) == ["one", "two"]


async def test_a_recreated_folder_is_read_again_without_storing_twice(
    mail_api: Api, dovecot: Dovecot
) -> None:
    """A new UIDVALIDITY means the old UIDs say nothing: the folder is read
    from the start, and the mails seen before are found by their Message-ID."""
    user = dovecot.add_user()
    await asyncio.to_thread(dovecot.recreate, user, "Support")
    first = mail(f"{user}@x", body="first", message_id=f"first-{user}@x")
    await asyncio.to_thread(dovecot.append, user, first, folder="Support")
    inbox = await create_email_inbox(
        mail_api, f"{user}@shop.example", imap=dovecot.imap_config(user, "Support")
    )
    assert await _bodies_when(mail_api, inbox, 1) == ["first"]
    await asyncio.to_thread(dovecot.recreate, user, "Support")
    await asyncio.to_thread(dovecot.append, user, first, folder="Support")
    await asyncio.to_thread(
        dovecot.append, user, mail(f"{user}@x", body="second"), folder="Support"
    )
    assert await _bodies_when(mail_api, inbox, 2, timeout=30) == ["first", "second"]
    await asyncio.sleep(1)
    assert await _bodies_when(mail_api, inbox, 3, timeout=0) == ["first", "second"]
