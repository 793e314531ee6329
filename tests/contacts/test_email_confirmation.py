"""An address typed into the widget is asked before it gets the chat's
replies: the request carries nothing of the chat, a link scanner's GET
confirms nothing, one click sends the replies that waited, and no address
can be flooded with requests by visitors who type it in."""

from __future__ import annotations

import asyncio
import re
import uuid
from email.message import EmailMessage

from tests.channels.email.conftest import Sink, create_email_inbox
from tests.contacts.conftest import FOLLOW_UP_SECONDS
from tests.contacts.test_chat_links import agent_reply, answered_chat
from tests.contacts.test_other_channels import plain_text
from tests.harness import Api

CONFIRM = re.compile(r"/email/confirm/([\w-]+)")


def confirmation_token(mail: EmailMessage) -> str:
    found = CONFIRM.search(plain_text(mail))
    assert found, plain_text(mail)
    return found.group(1)


async def test_the_replies_wait_for_a_click_and_then_arrive(capi: Api, relay: Sink) -> None:
    await create_email_inbox(capi)
    web = await capi.create_inbox()
    agent = await capi.create_agent()
    address = f"typed-{uuid.uuid4().hex[:8]}@example.com"
    visitor = await capi.new_session(web, name="Visitor <b>Name</b>", email=address)
    chat = await answered_chat(
        capi, visitor, agent, read=False, body="Mail me please", reply="Your order ships today."
    )

    (request,) = await relay.wait_for(address, 1, timeout=FOLLOW_UP_SECONDS + 20)
    assert "Your order ships today." not in plain_text(request)
    assert "Visitor" not in str(request)
    token = confirmation_token(request)

    # A mail scanner (or a link preview) opens the link: that confirms nothing.
    page = await capi.http.get(f"/email/confirm/{token}")
    assert page.status_code == 200
    assert address in page.text
    assert "<form method='post'>" in page.text
    # A second reply while the question is open is not mailed either.
    await agent_reply(capi, agent, chat, "It left the warehouse.")
    await asyncio.sleep(FOLLOW_UP_SECONDS + 1.5)
    assert len(relay.to(address)) == 1

    # The reader clicks: both waiting replies go out together, with no chat link.
    confirmed = await capi.http.post(f"/email/confirm/{token}")
    assert confirmed.status_code == 200
    assert "will reach you by mail" in confirmed.text
    mails = await relay.wait_for(address, 2, timeout=20)
    text = plain_text(mails[-1])
    assert "Your order ships today." in text
    assert "It left the warehouse." in text
    assert "?link=" not in text

    # A second click changes nothing; later replies are mailed as they come.
    assert (await capi.http.post(f"/email/confirm/{token}")).status_code == 200
    await agent_reply(capi, agent, chat, "Delivered.")
    mails = await relay.wait_for(address, 3, timeout=FOLLOW_UP_SECONDS + 20)
    assert "Delivered." in plain_text(mails[-1])
    await asyncio.sleep(1)
    assert len(relay.to(address)) == 3


async def test_forged_and_unknown_tokens_confirm_nothing(capi: Api) -> None:
    for token in ("x", uuid.uuid4().hex, "a" * 43):
        r = await capi.http.post(f"/email/confirm/{token}")
        assert r.status_code == 403
        assert "not valid" in r.text
        assert (await capi.http.get(f"/email/confirm/{token}")).status_code == 403


async def test_visitors_typing_one_address_cannot_flood_it(capi: Api, relay: Sink) -> None:
    await create_email_inbox(capi)
    web = await capi.create_inbox()
    agent = await capi.create_agent()
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    for n in range(5):
        visitor = await capi.new_session(web, name=f"Visitor {n}", email=victim)
        await answered_chat(capi, visitor, agent, read=False, body="hi", reply=f"Answer {n}")
    await relay.wait_for(victim, 3, timeout=FOLLOW_UP_SECONDS + 20)
    await asyncio.sleep(FOLLOW_UP_SECONDS + 2)
    mails = relay.to(victim)
    assert len(mails) == 3
    for mail in mails:
        assert "Answer" not in plain_text(mail)
        assert CONFIRM.search(plain_text(mail))


async def test_an_erased_customers_request_confirms_nothing(capi: Api, relay: Sink) -> None:
    await create_email_inbox(capi)
    web = await capi.create_inbox()
    agent = await capi.create_agent()
    address = f"erased-{uuid.uuid4().hex[:8]}@example.com"
    visitor = await capi.new_session(web, email=address)
    await answered_chat(capi, visitor, agent, read=False, body="hi", reply="Hello there.")
    (request,) = await relay.wait_for(address, 1, timeout=FOLLOW_UP_SECONDS + 20)
    erased = await capi.http.post(
        f"/api/v1/customers/{visitor['customer_id']}/erase", headers=capi.auth(capi.admin_token)
    )
    assert erased.status_code == 200, erased.text
    refused = await capi.http.post(f"/email/confirm/{confirmation_token(request)}")
    assert refused.status_code == 403
    await asyncio.sleep(1)
    assert len(relay.to(address)) == 1
