"""Signed chat links, attacked: a link is a key to one customer's history, so
it is never mailed to an address someone merely typed in, it opens one new
session of its own customer once, and whoever follows it with a session of
their own stays who they were: nobody's history is joined to anybody's."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

import httpx

from app.contacts import chat_link
from tests.channels.email.conftest import Sink, create_email_inbox
from tests.channels.social.conftest import PUBLIC_URL
from tests.channels.social.conftest import create_inbox as create_social_inbox
from tests.channels.social.fake_platforms import FakePlatforms
from tests.channels.social.payloads import line_body, line_event
from tests.contacts.conftest import FOLLOW_UP_SECONDS, get
from tests.contacts.test_other_channels import plain_text
from tests.harness import Api


def server_link(
    api: Api,
    customer_id: int,
    *,
    now: datetime | None = None,
    lifetime: timedelta = timedelta(hours=1),
) -> str:
    """A link signed with the server's own secret, as its mails and redirect
    answers carried them: genuine, not forged."""
    secret = api.server.env.get("MADOGUCHI_SECRET_KEY") or (
        (api.server.data_dir / "chat_link_secret").read_text(encoding="ascii").strip()
    )
    return chat_link.sign(secret, customer_id, now or datetime.now(UTC), lifetime)


async def follow(api: Api, inbox: dict[str, Any], **body: Any) -> httpx.Response:
    return await api.http.post(
        "/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"], **body}
    )


def refused(r: httpx.Response) -> bool:
    return (r.status_code, r.json().get("error")) == (403, "invalid_chat_link")


async def answered_chat(
    api: Api, session: dict[str, Any], agent: dict[str, Any], *, read: bool, body: str, reply: str
) -> int:
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": uuid.uuid4().hex, "body": body})
        ack = await widget.expect("ack")
        await agent_reply(api, agent, ack["conversation_id"], reply)
        frame = await widget.expect("message")
        if read:
            await widget.send({"type": "read", "seq": frame["seq"]})
            await asyncio.sleep(0.3)
    return int(ack["conversation_id"])


async def agent_reply(api: Api, agent: dict[str, Any], conversation_id: int, body: str) -> None:
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": body},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 201, r.text


async def confirm_by_mail(api: Api, mail: EmailMessage) -> None:
    """The reader of a confirmation request clicks its button."""
    found = re.search(r"/email/confirm/([\w-]+)", plain_text(mail))
    assert found, plain_text(mail)
    r = await api.http.post(f"/email/confirm/{found.group(1)}")
    assert r.status_code == 200, r.text


async def widget_conversations(api: Api, session_token: str) -> list[int]:
    r = await api.http.get("/api/v1/widget/conversations", headers=api.auth(session_token))
    assert r.status_code == 200, r.text
    return sorted(c["id"] for c in r.json()["items"])


async def line_link(api: Api, platforms: FakePlatforms) -> tuple[str, int]:
    """A LINE user writes one-to-one to a redirect inbox: the answer's chat
    link, and the LINE customer it was made for."""
    line = await create_social_inbox(api, platforms, "line", mode="redirect")
    assert (await line.post(line_body(line_event(f"U{uuid.uuid4().hex}")))).status_code == 200
    (answer,) = await platforms.wait_for(line.token, 1)
    found = re.search(rf"{re.escape(PUBLIC_URL)}/chat/[\w-]+\?link=([^\s'\"\\]+)", str(answer.body))
    assert found, answer.body
    return unquote(found.group(1)), (await line.only_conversation("resolved"))["customer_id"]


async def test_a_claimed_email_never_opens_its_owners_history(capi: Api, relay: Sink) -> None:
    await create_email_inbox(capi)
    web = await capi.create_inbox()
    agent = await capi.create_agent()
    owner_address = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    intruder_address = f"intruder-{uuid.uuid4().hex[:8]}@example.com"

    # The owner chats, reads the answer, and leaves their address for later answers.
    owner = await capi.new_session(web, name="Kenji")
    owner_chat = await answered_chat(
        capi, owner, agent, read=True, body="Refund to my card ending 4242?", reply="Done, 4242."
    )
    await capi.new_session(web, session_token=owner["session_token"], email=owner_address)

    # A visitor claims the owner's address and leaves an agent's reply unread.
    visitor = await capi.new_session(web, name="Not Kenji", email=owner_address)
    visitor_chat = await answered_chat(
        capi, visitor, agent, read=False, body="Mail me the answer", reply="Here it is."
    )
    (mail,) = await relay.wait_for(owner_address, 1, timeout=FOLLOW_UP_SECONDS + 20)
    text = plain_text(mail)
    # The address was only claimed: the owner is asked whether they want the
    # chat's answers, and the mail carries nothing of the chat, no name the
    # visitor typed and no key to the chat.
    assert "/email/confirm/" in text
    assert "Here it is." not in text
    assert "Not Kenji" not in str(mail)
    assert "?link=" not in text

    # Even a genuine link to the visitor's customer, followed by the owner with
    # their saved session, joins nothing: the owner stays the owner.
    link = server_link(capi, visitor["customer_id"])
    followed = await follow(capi, web, session_token=owner["session_token"], link=link)
    assert followed.status_code == 200, followed.text
    assert followed.json()["customer_id"] == owner["customer_id"]
    assert followed.json()["session_token"] == owner["session_token"]

    # The visitor's token sees only the visitor's own chat.
    assert await widget_conversations(capi, visitor["session_token"]) == [visitor_chat]
    r = await capi.http.get(
        f"/api/v1/widget/conversations/{owner_chat}/messages",
        headers=capi.auth(visitor["session_token"]),
    )
    assert r.status_code == 404
    for customer_id in (owner["customer_id"], visitor["customer_id"]):
        assert (await get(capi, f"/api/v1/customers/{customer_id}"))["merged_into_id"] is None
        assert (await get(capi, f"/api/v1/customers/{customer_id}/merges"))["items"] == []

    # The visitor leaves an address of theirs; the owner's next unread reply
    # still goes to the owner, never to the visitor.
    await capi.new_session(web, session_token=visitor["session_token"], email=intruder_address)
    await agent_reply(capi, agent, owner_chat, "Your refund arrived.")
    mails = await relay.wait_for(owner_address, 2, timeout=FOLLOW_UP_SECONDS + 20)
    await confirm_by_mail(capi, mails[-1])
    mails = await relay.wait_for(owner_address, 3, timeout=FOLLOW_UP_SECONDS + 20)
    assert "Your refund arrived." in plain_text(mails[-1])
    assert "?link=" not in plain_text(mails[-1])
    await asyncio.sleep(FOLLOW_UP_SECONDS + 1)
    assert relay.to(intruder_address) == []


async def test_a_link_opens_one_new_session_of_its_customer_once(
    capi: Api, fake_platforms: FakePlatforms
) -> None:
    web = await capi.create_inbox()
    token, line_customer = await line_link(capi, fake_platforms)

    first = await follow(capi, web, link=token)
    assert first.status_code == 200, first.text
    assert first.json()["customer_id"] == line_customer
    # Used: refused without a session, and with the session it opened too.
    assert refused(await follow(capi, web, link=token))
    assert refused(await follow(capi, web, link=token, session_token=first.json()["session_token"]))
    resumed = await capi.new_session(web, session_token=first.json()["session_token"])
    assert resumed["customer_id"] == line_customer

    # Followed from many tabs at once: exactly one gets in.
    racing = server_link(capi, line_customer)
    answers = await asyncio.gather(*(follow(capi, web, link=racing) for _ in range(6)))
    assert sorted(r.status_code for r in answers) == [200] + [403] * 5
    assert sum(refused(r) for r in answers) == 5


async def test_a_link_followed_with_another_customers_session_changes_nothing(
    capi: Api,
) -> None:
    web = await capi.create_inbox()
    linked = await capi.new_session(web, name="Aki")
    token = server_link(capi, linked["customer_id"])
    chatting = await capi.new_session(web, name="Yuki")
    async with capi.widget(chatting["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "y-1", "body": "hello"})
        own_chat = (await widget.expect("ack"))["conversation_id"]

    joined = await capi.new_session(web, session_token=chatting["session_token"], link=token)
    assert joined["customer_id"] == chatting["customer_id"]
    assert joined["session_token"] == chatting["session_token"]
    assert await widget_conversations(capi, chatting["session_token"]) == [own_chat]
    assert await widget_conversations(capi, linked["session_token"]) == []
    for customer_id in (chatting["customer_id"], linked["customer_id"]):
        assert (await get(capi, f"/api/v1/customers/{customer_id}"))["merged_into_id"] is None
        assert (await get(capi, f"/api/v1/customers/{customer_id}/merges"))["items"] == []
    # An agent may join them, if they are one person.
    suggestions = await get(capi, f"/api/v1/customers/{linked['customer_id']}/merge-suggestions")
    assert [(s["other_customer_id"], s["reason"], s["state"]) for s in suggestions["items"]] == [
        (chatting["customer_id"], "chat_link", "pending")
    ]
    # The link was not spent: its own customer still opens it, once.
    own = await capi.new_session(web, link=token)
    assert own["customer_id"] == linked["customer_id"]
    assert refused(await follow(capi, web, link=token))


async def test_forged_expired_and_old_links_are_refused(capi: Api) -> None:
    web = await capi.create_inbox()
    linked = (await capi.new_session(web))["customer_id"]
    token = server_link(capi, linked)
    customer, expiry, nonce, mac = token.split(".")
    forged = [
        f"{customer}.{expiry}.{nonce}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",
        f"{int(customer) + 1}.{expiry}.{nonce}.{mac}",  # another customer
        f"{customer}.{int(expiry) + 86400}.{nonce}.{mac}",  # a longer life
        f"{customer}.{expiry}.{'0' * len(nonce)}.{mac}",  # another use
        chat_link.sign("not the server's secret", linked, datetime.now(UTC), timedelta(hours=1)),
        f"{customer}.{expiry}.{mac}",  # the old reusable form
    ]
    for bad in forged:
        assert refused(await follow(capi, web, link=bad)), bad
    expired = server_link(
        capi, linked, now=datetime.now(UTC) - timedelta(hours=2), lifetime=timedelta(hours=1)
    )
    assert refused(await follow(capi, web, link=expired))
    chatting = await capi.new_session(web)
    assert refused(await follow(capi, web, link=expired, session_token=chatting["session_token"]))
    # None of them spent the genuine link.
    assert (await capi.new_session(web, link=token))["customer_id"] == linked
