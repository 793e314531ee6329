"""Agent replies on a channel with its own send leave through the outbox: the
job is committed with the reply, retried when the platform is down, and a
permanent failure is shown to the agent."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.channels.conftest import (
    SECRET,
    conversations_of,
    message_event,
    post_webhook,
    webhook_body,
)
from tests.channels.fake_platform import Failure, FakePlatform
from tests.conftest import StartServer
from tests.harness import Api


async def _conversation(api: Api, inbox: dict[str, Any], user: str = "c-1") -> int:
    body = webhook_body(message_event(user, "hello there", event_id=f"in-{user}"))
    assert (await post_webhook(api, inbox, body)).status_code == 200
    (conversation,) = [
        c for c in await conversations_of(api, inbox) if c["customer"]["name"] == f"User {user}"
    ]
    return int(conversation["id"])


async def _message(api: Api, conversation_id: int, message_id: int) -> dict[str, Any]:
    return next(m for m in await api.messages(conversation_id) if m["id"] == message_id)


async def _settled(api: Api, conversation_id: int, message_id: int) -> str:
    """The message's delivery status once it is no longer pending: it is
    recorded in its own commit just after the platform answered."""
    for _ in range(100):
        status = (await _message(api, conversation_id, message_id))["delivery_status"]
        if status != "pending":
            return str(status)
        await asyncio.sleep(0.1)
    return "pending"


async def _reply(api: Api, token: str, conversation_id: int, body: str) -> dict[str, Any]:
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": body},
        headers=api.auth(token),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_reply_reaches_the_platform_in_its_shape_and_is_marked_sent(
    channel_api: Api, fake_inbox: dict[str, Any], platform: FakePlatform
) -> None:
    agent = await channel_api.create_agent()
    conversation_id = await _conversation(channel_api, fake_inbox)
    async with channel_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        reply = await _reply(channel_api, agent["token"], conversation_id, "Your parcel is out")
        assert reply["delivery_status"] == "pending"
        # The worker polls once a minute here: it was woken by the commit.
        (sent,) = await platform.wait_for(1, timeout=15)
        assert sent["chat_id"] == "c-1"
        assert sent["text"] == "Your parcel is out"
        assert sent["reply_to"] == "in-c-1"
        updated = await console.expect("message.updated")
        assert updated["message"]["id"] == reply["id"]
        assert updated["message"]["delivery_status"] == "sent"
    assert (await _message(channel_api, conversation_id, reply["id"]))["delivery_status"] == "sent"


async def test_platform_down_means_retries_not_a_lost_reply(
    channel_api: Api, fake_inbox: dict[str, Any], platform: FakePlatform
) -> None:
    conversation_id = await _conversation(channel_api, fake_inbox, "c-2")
    platform.fail("c-2", Failure(503, "down", retry_after=1), Failure(429, "slow", retry_after=1))
    reply = await _reply(channel_api, channel_api.admin_token, conversation_id, "Hang on")
    (sent,) = await platform.wait_for(1, timeout=20)
    assert sent["text"] == "Hang on"
    await asyncio.sleep(1.5)
    assert len(platform.received) == 1, "delivered once, not once per try"
    assert await _settled(channel_api, conversation_id, reply["id"]) == "sent"


async def test_permanent_failure_is_shown_to_the_agent_without_secrets(
    channel_api: Api, fake_inbox: dict[str, Any], platform: FakePlatform
) -> None:
    agent = await channel_api.create_agent()
    conversation_id = await _conversation(channel_api, fake_inbox, "c-3")
    platform.fail("c-3", Failure(403, "Forbidden: bot was blocked by the user"))
    async with channel_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        reply = await _reply(channel_api, agent["token"], conversation_id, "Hello?")
        updated = await console.expect("message.updated", timeout=15)
    failed = updated["message"]
    assert failed["id"] == reply["id"]
    assert failed["delivery_status"] == "failed"
    assert "bot was blocked by the user" in failed["delivery_error"]
    # The bot token sits in the send URL's path: it never reaches an agent.
    assert platform.bot_token not in failed["delivery_error"]
    stored = await _message(channel_api, conversation_id, reply["id"])
    assert stored["delivery_status"] == "failed"
    assert platform.received == []


async def test_private_notes_and_web_replies_never_enter_the_outbox(
    channel_api: Api, fake_inbox: dict[str, Any], platform: FakePlatform
) -> None:
    conversation_id = await _conversation(channel_api, fake_inbox, "c-4")
    r = await channel_api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "internal only", "private": True},
        headers=channel_api.auth(channel_api.admin_token),
    )
    assert r.status_code == 201
    assert "delivery_status" not in r.json()
    await asyncio.sleep(1)
    assert platform.received == []


async def test_a_reply_stored_before_a_crash_is_sent_after_the_restart(
    start_server: StartServer, platform: FakePlatform
) -> None:
    """The send job is committed with the reply: kill -9 while the platform is
    down, restart with it up, and the reply goes out, once."""
    api = await start_server({"MADOGUCHI_CHANNEL_PLUGINS": "tests.channels.fake_channel:FakeChat"})
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
    platform.received.clear()
    conversation_id = await _conversation(api, inbox, "c-crash")
    # The first try fails: the job waits in the table, not in memory.
    platform.fail("c-crash", Failure(503, "down", retry_after=8))
    reply = await _reply(api, api.admin_token, conversation_id, "Sorry for the wait")
    await asyncio.sleep(0.5)
    api.server.kill()
    assert platform.received == []
    await api.server.start()
    api.admin_token = await api.login("admin@example.com", "correct horse battery")
    (sent,) = await platform.wait_for(1, timeout=40)
    assert sent["text"] == "Sorry for the wait"
    assert await _settled(api, conversation_id, reply["id"]) == "sent"
