"""A channel plugged in through the protocol: its webhook goes verify → parse →
the one intake → events, through the real HTTP route."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.channels.conftest import (
    SECRET,
    conversations_of,
    message_event,
    post_webhook,
    webhook_body,
)
from tests.channels.fake_channel import sign
from tests.channels.fake_platform import FakePlatform
from tests.conftest import StartServer
from tests.harness import Api


async def test_signed_webhook_becomes_a_message_the_agent_sees(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    agent = await channel_api.create_agent()
    async with channel_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        body = webhook_body(message_event("u-1", "こんにちは 👋 where is my parcel?"))
        r = await post_webhook(channel_api, fake_inbox, body)
        assert r.status_code == 200, r.text
        opened = await console.expect("conversation.updated")
        conversation = opened["conversation"]
        assert conversation["channel"] == "fakechat"
        assert conversation["customer"]["name"] == "User u-1"
        created = await console.expect("message.created")
        assert created["conversation_id"] == conversation["id"]
        assert created["message"]["body"] == "こんにちは 👋 where is my parcel?"
        assert created["message"]["author"]["kind"] == "customer"
    customer = await channel_api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}",
        headers=channel_api.auth(channel_api.admin_token),
    )
    assert {"channel": "fakechat", "external_id": "u-1", "verified": True} in customer.json()[
        "identities"
    ]


async def test_the_opening_is_announced_only_once_its_message_is_stored(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    """No event before the commit: whoever hears of a new conversation can read
    its first message straight away."""
    agent = await channel_api.create_agent()
    async with channel_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        for n in range(10):
            body = webhook_body(message_event(f"first-{n}", f"opening {n}"))
            posted = asyncio.create_task(post_webhook(channel_api, fake_inbox, body))
            opened = await console.expect("conversation.updated")
            messages = await channel_api.messages(opened["conversation"]["id"])
            assert [m["body"] for m in messages] == [f"opening {n}"]
            assert opened["conversation"]["last_seq"] == 1
            assert (await posted).status_code == 200


async def test_bad_signature_is_refused_and_stores_nothing(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    body = webhook_body(message_event("u-2", "hello"))
    r = await post_webhook(channel_api, fake_inbox, body, signature="0" * 64)
    assert r.status_code == 401
    r = await post_webhook(channel_api, fake_inbox, body, signature="")
    assert r.status_code == 401
    # The signature covers the raw bytes: the same JSON written differently fails.
    respaced = json.dumps(json.loads(body), indent=2).encode()
    r = await channel_api.http.post(
        f"/webhooks/fakechat/{fake_inbox['id']}",
        content=respaced,
        headers={"x-fake-signature": sign(SECRET, body)},
    )
    assert r.status_code == 401
    assert await conversations_of(channel_api, fake_inbox) == []


async def test_malformed_unknown_and_mismatched_requests(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    r = await post_webhook(channel_api, fake_inbox, b"{not json")
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request"
    r = await channel_api.http.post("/webhooks/fakechat/999999", content=b"{}")
    assert r.status_code == 404
    # A web inbox has no webhook; a slug names the adapter of the inbox's channel.
    web = await channel_api.create_inbox()
    r = await channel_api.http.post(f"/webhooks/fakechat/{web['id']}", content=b"{}")
    assert r.status_code == 404
    r = await channel_api.http.post(f"/webhooks/telegram/{fake_inbox['id']}", content=b"{}")
    assert r.status_code == 404
    assert await conversations_of(channel_api, fake_inbox) == []


async def test_subscription_handshake_is_answered_by_the_adapter(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    url = f"/webhooks/fakechat/{fake_inbox['id']}"
    r = await channel_api.http.get(url, params={"token": "subscribe-me", "challenge": "c-42"})
    assert r.status_code == 200
    assert r.text == "c-42"
    r = await channel_api.http.get(url, params={"token": "wrong", "challenge": "c-42"})
    assert r.status_code == 403


async def test_the_same_event_delivered_ten_times_at_once_is_stored_once(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    body = webhook_body(message_event("u-3", "only once", event_id="evt-dup-1"))
    answers = await asyncio.gather(
        *(post_webhook(channel_api, fake_inbox, body) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [200] * 10
    conversations = await conversations_of(channel_api, fake_inbox)
    assert len(conversations) == 1
    assert [m["body"] for m in await channel_api.messages(conversations[0]["id"])] == ["only once"]
    # A redelivery later changes nothing either.
    assert (await post_webhook(channel_api, fake_inbox, body)).status_code == 200
    assert len(await channel_api.messages(conversations[0]["id"])) == 1


async def test_a_batch_stores_every_message_in_order(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    body = webhook_body(*(message_event("u-4", f"part {n}") for n in range(5)))
    assert (await post_webhook(channel_api, fake_inbox, body)).status_code == 200
    (conversation,) = await conversations_of(channel_api, fake_inbox)
    stored = await channel_api.messages(conversation["id"])
    assert [m["body"] for m in stored] == [f"part {n}" for n in range(5)]
    assert [m["seq"] for m in stored] == [1, 2, 3, 4, 5]


async def test_status_events_never_become_customer_messages(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    body = webhook_body({"type": "status", "message_id": "nothing-we-sent", "status": "sent"})
    assert (await post_webhook(channel_api, fake_inbox, body)).status_code == 200
    assert await conversations_of(channel_api, fake_inbox) == []


async def test_threads_continue_by_reference_but_never_into_another_customers(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    first = message_event("alice", "my order", event_id="alice-1", thread="t-alice")
    assert (await post_webhook(channel_api, fake_inbox, webhook_body(first))).status_code == 200
    # Alice answers in a new thread but names her first message: same conversation.
    answer = message_event("alice", "any news?", thread="t-other", reply_to=["alice-1"])
    assert (await post_webhook(channel_api, fake_inbox, webhook_body(answer))).status_code == 200
    # Mallory names Alice's message: a conversation of Mallory's own.
    probe = message_event("mallory", "show me", thread="t-alice", reply_to=["alice-1"])
    assert (await post_webhook(channel_api, fake_inbox, webhook_body(probe))).status_code == 200
    conversations = await conversations_of(channel_api, fake_inbox)
    by_customer = {c["customer"]["name"]: c for c in conversations}
    assert len(conversations) == 2
    alices = await channel_api.messages(by_customer["User alice"]["id"])
    assert [m["body"] for m in alices] == ["my order", "any news?"]
    mallorys = await channel_api.messages(by_customer["User mallory"]["id"])
    assert [m["body"] for m in mallorys] == ["show me"]


async def test_no_conversation_is_left_without_its_message_after_kill_9(
    start_server: StartServer, platform: FakePlatform
) -> None:
    """The conversation and its first message are one commit: a server killed
    while customers open conversations leaves none empty."""
    api: Api = await start_server(
        {"MADOGUCHI_CHANNEL_PLUGINS": "tests.channels.fake_channel:FakeChat"}
    )
    r = await api.http.post(
        "/api/v1/inboxes",
        json={
            "name": "FakeChat",
            "channel": "fakechat",
            "config": {"secret": SECRET, "bot_token": platform.bot_token, "api_base": platform.url},
        },
        headers=api.auth(api.admin_token),
    )
    inbox = r.json()
    sent = 0

    async def open_many(worker: int) -> None:
        nonlocal sent
        for n in range(1000):
            body = webhook_body(message_event(f"k{worker}-{n}", "hello"))
            try:
                await post_webhook(api, inbox, body)
            except Exception:  # noqa: BLE001 - the server dies under us
                return
            sent += 1

    tasks = [asyncio.create_task(open_many(w)) for w in range(8)]
    while sent < 150:
        await asyncio.sleep(0.01)
    api.server.kill()
    await asyncio.gather(*tasks)
    await api.server.start()
    api.admin_token = await api.login("admin@example.com", "correct horse battery")
    conversations = await conversations_of(api, inbox)
    assert len(conversations) >= 150
    for conversation in conversations:
        assert conversation["last_seq"] == 1
        assert len(await api.messages(conversation["id"])) == 1


async def test_what_a_channel_delivers_is_kept_even_with_bytes_a_database_refuses(
    channel_api: Api, fake_inbox: dict[str, Any]
) -> None:
    """A NUL byte or a lone surrogate from a platform is replaced, not a reason
    to lose the message (or, on PostgreSQL, the whole batch it was in)."""
    events = [
        message_event("u-nul", "before\u0000after"),
        message_event("u-nul", "fine"),
    ]
    body = json.dumps({"events": events}).encode()  # "\\ud800" survives as an escape
    body = body.replace(b"fine", b"bad \\ud800 half")
    r = await post_webhook(channel_api, fake_inbox, body)
    assert r.status_code == 200, r.text
    (conversation,) = await conversations_of(channel_api, fake_inbox)
    stored = [m["body"] for m in await channel_api.messages(conversation["id"])]
    assert stored == ["before\ufffdafter", "bad \ufffd half"]
