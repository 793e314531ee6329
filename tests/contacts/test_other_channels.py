"""Reaching the customer where they are: the redirect's signed chat link joins
the widget to the channel it came from; a reply the widget customer left
unread goes out by email; an agent continues a chat by email."""

from __future__ import annotations

import asyncio
import re
import uuid
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

from tests.channels.email.conftest import Sink, create_email_inbox
from tests.channels.social.conftest import PUBLIC_URL
from tests.channels.social.conftest import create_inbox as create_social_inbox
from tests.channels.social.fake_platforms import FakePlatforms
from tests.channels.social.payloads import line_body, line_event
from tests.contacts.conftest import FOLLOW_UP_SECONDS, get, identity_hash, post, timeline
from tests.harness import Api


async def test_the_redirect_link_joins_the_widget_to_the_channel_redirected_from(
    capi: Api, fake_platforms: FakePlatforms
) -> None:
    web = await capi.create_inbox()
    line = await create_social_inbox(capi, fake_platforms, "line", mode="redirect")
    assert (
        await line.post(line_body(line_event(f"U{uuid.uuid4().hex}", "配送は？")))
    ).status_code == 200
    (answer,) = await fake_platforms.wait_for(line.token, 1)
    text = str(answer.body)
    found = re.search(
        rf"{re.escape(PUBLIC_URL)}/chat/{web['widget_key']}\?link=([^\s'\"\\]+)", text
    )
    assert found, text
    token = unquote(found.group(1))
    line_customer = (await line.only_conversation("resolved"))["customer_id"]

    # Tampered with: refused clearly, nobody's history opened.
    r = await capi.http.post(
        "/api/v1/widget/sessions",
        json={
            "widget_key": web["widget_key"],
            "link": token[:-1] + ("0" if token[-1] != "0" else "1"),
        },
    )
    assert (r.status_code, r.json()["error"]) == (403, "invalid_chat_link")

    # The chat page hands the link on to the widget, escaped.
    page = await capi.http.get(f"/chat/{web['widget_key']}", params={"link": token})
    assert f'data-link="{token}"' in page.text
    session = await capi.new_session(web, link=token)
    assert session["customer_id"] == line_customer
    async with capi.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "l-1", "body": "from the link"})
        await widget.expect("ack")
    channels = [
        m["channel"]
        for m in await timeline(capi, line_customer)
        if m["author"]["kind"] == "customer"
    ]
    assert channels == ["line", "web"]

    # Once: followed again, even by a customer already chatting, it is
    # refused and joins nobody (tests/contacts/test_chat_links.py).
    chatting = await capi.new_session(web, name="Yuki")
    r = await capi.http.post(
        "/api/v1/widget/sessions",
        json={
            "widget_key": web["widget_key"],
            "session_token": chatting["session_token"],
            "link": token,
        },
    )
    assert (r.status_code, r.json()["error"]) == (403, "invalid_chat_link")
    customer = await get(capi, f"/api/v1/customers/{chatting['customer_id']}")
    assert "line" not in {i["channel"] for i in customer["identities"]}


def plain_text(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def _chat_with_reply(api: Api, email: str, *, read: bool) -> dict[str, Any]:
    web = await api.create_inbox()
    session = await api.new_session(
        web,
        external_id=email,
        identity_hash=identity_hash(web["config"]["identity_secret"], email),
        email=email,
    )
    agent = await api.create_agent()
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "where is my parcel?"})
        ack = await widget.expect("ack")
        r = await api.http.post(
            f"/api/v1/conversations/{ack['conversation_id']}/messages",
            json={"body": "It left the depot this morning."},
            headers=api.auth(agent["token"]),
        )
        assert r.status_code == 201
        reply = await widget.expect("message")
        if read:
            await widget.send({"type": "read", "seq": reply["seq"]})
            await asyncio.sleep(0.3)
    return {"session": session, "conversation_id": ack["conversation_id"], "agent": agent}


async def test_an_unread_reply_follows_the_customer_by_email(capi: Api, relay: Sink) -> None:
    await create_email_inbox(capi)
    email = f"left-{uuid.uuid4().hex[:8]}@example.com"
    chat = await _chat_with_reply(capi, email, read=False)
    (sent,) = await relay.wait_for(email, 1, timeout=FOLLOW_UP_SECONDS + 20)
    text = plain_text(sent)
    assert "It left the depot this morning." in text
    assert f"{PUBLIC_URL}/chat/" in text
    assert "?link=" in text
    # Once, and in the customer's history.
    await asyncio.sleep(FOLLOW_UP_SECONDS + 1)
    assert len(relay.to(email)) == 1
    history = await timeline(capi, chat["session"]["customer_id"])
    assert [m["channel"] for m in history][-1] == "email"


async def test_a_read_reply_is_not_mailed(capi: Api, relay: Sink) -> None:
    await create_email_inbox(capi)
    email = f"stayed-{uuid.uuid4().hex[:8]}@example.com"
    await _chat_with_reply(capi, email, read=True)
    await asyncio.sleep(FOLLOW_UP_SECONDS + 2)
    assert relay.to(email) == []


async def test_an_agent_continues_a_closed_chat_by_email(capi: Api, relay: Sink) -> None:
    mail_inbox = await create_email_inbox(capi)
    email = f"later-{uuid.uuid4().hex[:8]}@example.com"
    chat = await _chat_with_reply(capi, email, read=True)
    agent = chat["agent"]
    customer_id = chat["session"]["customer_id"]
    await post(
        capi, f"/api/v1/conversations/{chat['conversation_id']}/resolve", None, agent["token"]
    )
    started = await post(
        capi,
        f"/api/v1/customers/{customer_id}/conversations",
        {
            "inbox_id": mail_inbox["id"],
            "body": "Your parcel arrives tomorrow.",
            "subject": "Your parcel",
        },
        agent["token"],
    )
    assert started["conversation"]["channel"] == "email"
    assert started["conversation"]["assignee_id"] == agent["id"]
    assert started["message"]["delivery_status"] == "pending"
    (sent,) = await relay.wait_for(email, 1)
    assert "Your parcel arrives tomorrow." in plain_text(sent)
    assert sent["Subject"].endswith("Your parcel")
    channels = [m["channel"] for m in await timeline(capi, customer_id)]
    assert channels[-1] == "email"
    assert "web" in channels

    # Not an address of theirs, a customer with none, an inbox the agent does not serve.
    async def start(customer: int, body: dict[str, Any], token: str) -> Any:
        return await capi.http.post(
            f"/api/v1/customers/{customer}/conversations", json=body, headers=capi.auth(token)
        )

    r = await start(
        customer_id,
        {"inbox_id": mail_inbox["id"], "body": "x", "email": "someone@else.example"},
        agent["token"],
    )
    assert (r.status_code, r.json()["error"]) == (422, "no_address_on_channel")
    web = await capi.create_inbox()
    nameless = await capi.new_session(web)
    r = await start(
        nameless["customer_id"], {"inbox_id": mail_inbox["id"], "body": "x"}, capi.admin_token
    )
    assert (r.status_code, r.json()["error"]) == (422, "no_address_on_channel")
    team_inbox = await create_email_inbox(capi, teams=[f"billing-{uuid.uuid4().hex[:6]}"])
    r = await start(customer_id, {"inbox_id": team_inbox["id"], "body": "x"}, agent["token"])
    assert r.status_code == 404
