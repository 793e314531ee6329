"""Mail through the real listener with smtplib: stored before 250, threaded by
its headers, read in every charset, made safe to show, stored once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.channels.conftest import conversations_of
from tests.channels.email.conftest import (
    Refused,
    create_email_inbox,
    fixture,
    fixture_names,
    mail,
    only_conversation,
    readdress,
    send_mail,
)
from tests.harness import Api


async def _email_view(api: Api, message_id: int) -> dict[str, Any]:
    r = await api.http.get(
        f"/api/v1/messages/{message_id}/email", headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_mail_becomes_a_conversation_the_agent_sees(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    address = mail_inbox["config"]["address"]
    raw = readdress(fixture("multipart-html-attachment.eml"), address)
    agent = await mail_api.create_agent()
    async with mail_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await send_mail(mail_api, raw, address, mail_from="oliver.smith@example.com")
        opened = await console.expect("conversation.updated")
        created = await console.expect("message.created")
    conversation = opened["conversation"]
    assert conversation["channel"] == "email"
    assert conversation["subject"] == "Password reset email not arriving"
    assert conversation["customer"]["name"] == "Oliver Smith"
    assert conversation["customer"]["email"] == "oliver.smith@example.com"
    message = created["message"]
    assert message["author"]["kind"] == "customer"
    assert message["body"] == (
        "Hi,\n\nMy password reset link never arrives. Screenshot attached.\n\nThanks,\nOliver Smith"
    )
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "screenshot.pdf"
    assert attachment["content_type"] == "application/pdf"
    # The REST view is the same message.
    (stored,) = await mail_api.messages(conversation["id"])
    assert stored["body"] == message["body"]
    assert stored["attachments"] == message["attachments"]
    # The customer is known by the address, as an email identity.
    customer = await mail_api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}",
        headers=mail_api.auth(mail_api.admin_token),
    )
    assert {"channel": "email", "external_id": "oliver.smith@example.com", "verified": True} in (
        customer.json()["identities"]
    )
    # The agent downloads the file: as a file, never shown inline.
    r = await mail_api.http.get(attachment["url"], headers=mail_api.auth(agent["token"]))
    assert r.status_code == 200
    assert r.content.startswith(b"%PDF-1.4")
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    # The HTML is kept, with its script, handler and javascript: link gone.
    view = await _email_view(mail_api, message["id"])
    html = view["html"]
    assert "password reset" in html
    for unsafe in ("<script", "alert", "onerror", "javascript:", "tracker.example"):
        assert unsafe not in html
    # And the raw mail as it came (smtplib sends CRLF line ends and a final one).
    r = await mail_api.http.get(view["raw_url"], headers=mail_api.auth(agent["token"]))
    assert r.status_code == 200
    assert r.content.replace(b"\r\n", b"\n").rstrip() == raw.rstrip()
    assert r.headers["content-disposition"].startswith("attachment;")


async def test_files_and_sources_are_for_agents_who_see_the_conversation(
    mail_api: Api,
) -> None:
    team_inbox = await create_email_inbox(mail_api)
    r = await mail_api.http.post(
        "/api/v1/agents",
        json={
            "email": "other@example.com",
            "name": "Other",
            "password": "other-password",
            "role": "agent",
            "capacity": 5,
            "teams": ["billing"],
            "skills": [],
        },
        headers=mail_api.auth(mail_api.admin_token),
    )
    assert r.status_code in (201, 409), r.text
    address = team_inbox["config"]["address"]
    await send_mail(mail_api, readdress(fixture("multipart-html-attachment.eml"), address), address)
    conversation = await only_conversation(mail_api, team_inbox)
    (message,) = await mail_api.messages(conversation["id"])
    url = message["attachments"][0]["url"]
    # Without a token: 401. A made-up id: 404.
    assert (await mail_api.http.get(url)).status_code == 401
    missing = await mail_api.http.get(
        "/api/v1/attachments/0123456789abcdef0123456789abcdef",
        headers=mail_api.auth(mail_api.admin_token),
    )
    assert missing.status_code == 404
    # An agent of a team that does not serve the inbox sees nothing of it.
    serves_other = await mail_api.create_agent(teams=["outsiders"])
    billing = await create_email_inbox(mail_api, "billing-only@shop.example", teams=["billing"])
    await send_mail(
        mail_api,
        readdress(fixture("multipart-html-attachment.eml"), "billing-only@shop.example"),
        "billing-only@shop.example",
    )
    (billing_conversation,) = await conversations_of(mail_api, billing)
    (billing_message,) = await mail_api.messages(billing_conversation["id"])
    headers = mail_api.auth(serves_other["token"])
    for path in (
        billing_message["attachments"][0]["url"],
        f"/api/v1/messages/{billing_message['id']}/email",
        f"/api/v1/messages/{billing_message['id']}/raw",
    ):
        assert (await mail_api.http.get(path, headers=headers)).status_code == 404, path
    # The agent who serves the first inbox may fetch its file.
    assert (await mail_api.http.get(url, headers=headers)).status_code == 200


@pytest.mark.parametrize("name", fixture_names())
async def test_every_sample_mail_goes_through_the_listener(mail_api: Api, name: str) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    raw = readdress(fixture(name), address)
    await send_mail(mail_api, raw, address, mail_from="" if name == "bounce-dsn.eml" else None)
    conversation = await only_conversation(mail_api, inbox)
    (message,) = await mail_api.messages(conversation["id"])
    automatic = "automatic" in message.get("flags", [])
    expected_automatic = name in (
        "auto-reply-out-of-office.eml",
        "bulk-list-newsletter.eml",
        "bounce-dsn.eml",
    )
    assert automatic == expected_automatic, message
    if name == "ja-iso2022jp-plain.eml":
        assert conversation["subject"] == "注文した商品が届きません"
        assert conversation["customer"]["name"] == "山田 花子"
        assert "注文番号 #12345 の商品がまだ届きません。" in message["body"]
    if name == "malformed-mime.eml":
        assert conversation["customer"]["email"] == "weird@example.net"
        assert "this is !!! not base64" in message["body"]
    if name == "reply-with-quote.eml":
        # Nothing of ours to thread under: a conversation of its own, new text first.
        assert message["body"] == "That worked, thank you!"
        view = await _email_view(mail_api, message["id"])
        assert "> Please check your spam folder" in view["quoted_text"]
        assert view["text"].startswith("That worked, thank you!")
    if name == "bounce-dsn.eml":
        assert "bounce" in message["flags"]


async def test_an_unknown_recipient_is_refused_at_rcpt(
    mail_api: Api, mail_inbox: dict[str, Any]
) -> None:
    with pytest.raises(Refused) as refused:
        await send_mail(mail_api, mail("nobody@shop.example"), "nobody@shop.example")
    assert refused.value.code == 550
    # One good recipient among bad ones: the mail goes to the good one only.
    address = mail_inbox["config"]["address"]
    with_good = mail(address)
    await asyncio.to_thread(_send_partly, mail_api.server.smtp_port, with_good, address)
    await only_conversation(mail_api, mail_inbox)


def _send_partly(port: int, raw: bytes, good: str) -> None:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        refused = client.sendmail("a@example.com", [good, "ghost@shop.example"], raw)
    assert list(refused) == ["ghost@shop.example"]
    assert refused["ghost@shop.example"][0] == 550


async def test_one_mail_to_two_inboxes_is_in_both(mail_api: Api) -> None:
    sales, support = await create_email_inbox(mail_api), await create_email_inbox(mail_api)
    addresses = [sales["config"]["address"], support["config"]["address"]]
    raw = mail(addresses[0], headers={"Cc": addresses[1]}, body="for both of you")
    await send_mail(mail_api, raw, addresses)
    for inbox in (sales, support):
        conversation = await only_conversation(mail_api, inbox)
        assert [m["body"] for m in await mail_api.messages(conversation["id"])] == [
            "for both of you"
        ]
