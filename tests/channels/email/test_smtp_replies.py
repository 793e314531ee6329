"""Agent replies leave through the outbox to a real SMTP relay, threaded under
the customer's mail, and the customer's answer comes back to the same
conversation. A relay that is down means retries; a 5xx, or a bounce, shows
the reply as failed."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import pytest

from tests.channels.conftest import conversations_of
from tests.channels.email.conftest import (
    HAS_RESPONDERS,
    Sink,
    create_email_inbox,
    fixture,
    mail,
    only_conversation,
    readdress,
    send_mail,
)
from tests.conftest import StartServer
from tests.harness import Api


async def _reply(api: Api, token: str, conversation_id: int, body: str) -> dict[str, Any]:
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": body},
        headers=api.auth(token),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _message(api: Api, conversation_id: int, message_id: int) -> dict[str, Any]:
    return next(m for m in await api.messages(conversation_id) if m["id"] == message_id)


async def _status_becomes(
    api: Api, conversation_id: int, message_id: int, status: str
) -> dict[str, Any]:
    """The message once its delivery status is `status`: the relay has the mail
    a moment before the worker records that it went."""
    for _ in range(100):
        message = await _message(api, conversation_id, message_id)
        if message["delivery_status"] == status:
            return message
        await asyncio.sleep(0.1)
    raise AssertionError(f"delivery status stayed {message['delivery_status']}, not {status}")


def _text_and_html(sent: EmailMessage) -> tuple[str, str]:
    text = sent.get_body(("plain",))
    html = sent.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())  # type: ignore[attr-defined]


async def test_a_reply_threads_under_the_mail_and_the_answer_comes_back(
    mail_api: Api, mail_inbox: dict[str, Any], sink: Sink
) -> None:
    """The whole way round: mail in, the agent's reply out through a real SMTP
    server, the customer's answer to it in the same conversation."""
    address = mail_inbox["config"]["address"]
    await send_mail(mail_api, readdress(fixture("multipart-html-attachment.eml"), address), address)
    conversation = await only_conversation(mail_api, mail_inbox)
    agent = await mail_api.create_agent()
    reply = await _reply(
        mail_api, agent["token"], conversation["id"], "Please check your spam folder."
    )
    assert reply["delivery_status"] == "pending"
    (sent,) = await sink.wait_for("oliver.smith@example.com")
    message_id = str(sent["Message-ID"])
    assert message_id.startswith("<")
    assert message_id.endswith("@shop.example>")
    assert sent["In-Reply-To"] == "<CAF9x1-oliver-0001@mail.example.com>"
    assert "<CAF9x1-oliver-0001@mail.example.com>" in sent["References"]
    assert sent["Subject"] == "Re: Password reset email not arriving"
    assert sent["From"].addresses[0].addr_spec == address
    assert sent["From"].addresses[0].display_name == agent["name"]
    assert sent["To"].addresses[0].addr_spec == "oliver.smith@example.com"
    assert sent["Auto-Submitted"] is None  # a person wrote it
    text, html = _text_and_html(sent)
    assert text.startswith("Please check your spam folder.")
    assert agent["name"] in text.split("-- ")[-1]
    assert "Please check your spam folder." in html
    assert agent["name"] in html
    await _status_becomes(mail_api, conversation["id"], reply["id"], "sent")
    # The customer answers our mail: the same conversation, the new text as body.
    answer = readdress(
        fixture("reply-with-quote.eml"),
        address,
        **{"AGENT-REPLY-MESSAGE-ID@shop.example": message_id.strip("<>")},
    )
    await send_mail(mail_api, answer, address)
    assert [c["id"] for c in await conversations_of(mail_api, mail_inbox)] == [conversation["id"]]
    bodies = [m["body"] for m in await mail_api.messages(conversation["id"])]
    assert bodies[-1] == "That worked, thank you!"
    assert len(bodies) == 3
    # A second reply names the whole thread, oldest first.
    await _reply(mail_api, agent["token"], conversation["id"], "Glad to hear it!")
    second = (await sink.wait_for("oliver.smith@example.com", 2))[-1]
    assert second["In-Reply-To"] == "<CAF9x1-oliver-0002@mail.example.com>"
    assert second["References"].split() == [
        "<CAF9x1-oliver-0001@mail.example.com>",
        message_id,
        "<CAF9x1-oliver-0002@mail.example.com>",
    ]
    assert second["Subject"] == "Re: Password reset email not arriving"


async def test_a_relay_that_says_try_later_gets_the_reply_once_it_can(
    mail_api: Api, mail_inbox: dict[str, Any], sink: Sink
) -> None:
    address = mail_inbox["config"]["address"]
    customer = "patient@example.com"
    await send_mail(mail_api, mail(address, sender=customer), address)
    conversation = await only_conversation(mail_api, mail_inbox)
    sink.refuse[customer] = ["451 4.3.0 try again later"]
    reply = await _reply(mail_api, mail_api.admin_token, conversation["id"], "Hang on")
    # The worker's first backoff is 10 s.
    (sent,) = await sink.wait_for(customer, timeout=40)
    assert _text_and_html(sent)[0].startswith("Hang on")
    await _status_becomes(mail_api, conversation["id"], reply["id"], "sent")


async def test_a_relay_refusing_for_good_shows_the_reply_failed(
    mail_api: Api, mail_inbox: dict[str, Any], sink: Sink
) -> None:
    address = mail_inbox["config"]["address"]
    customer = "gone@example.com"
    await send_mail(mail_api, mail(address, sender=customer), address)
    conversation = await only_conversation(mail_api, mail_inbox)
    sink.refuse[customer] = ["550 5.1.1 mailbox unavailable"]
    agent = await mail_api.create_agent()
    async with mail_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        reply = await _reply(mail_api, agent["token"], conversation["id"], "Hello?")
        updated = await console.expect("message.updated", timeout=20)
    assert updated["message"]["id"] == reply["id"]
    assert updated["message"]["delivery_status"] == "failed"
    assert "550 5.1.1 mailbox unavailable" in updated["message"]["delivery_error"]
    assert sink.to(customer) == []


async def test_a_bounce_of_our_reply_marks_it_failed(
    mail_api: Api, mail_inbox: dict[str, Any], sink: Sink
) -> None:
    address = mail_inbox["config"]["address"]
    customer = "moved-away@example.com"
    await send_mail(mail_api, mail(address, sender=customer), address)
    conversation = await only_conversation(mail_api, mail_inbox)
    reply = await _reply(mail_api, mail_api.admin_token, conversation["id"], "Your refund")
    (sent,) = await sink.wait_for(customer)
    await _status_becomes(mail_api, conversation["id"], reply["id"], "sent")
    # The customer's server bounces it later, as a DSN with our headers.
    dsn = fixture("bounce-dsn.eml").replace(
        b"--BOUNDARY--",
        b"--BOUNDARY\nContent-Type: text/rfc822-headers\n\n"
        + f"From: {address}\nTo: {customer}\nSubject: {sent['Subject']}\n"
        f"Message-ID: {sent['Message-ID']}\n".encode()
        + b"\n--BOUNDARY--",
    )
    await send_mail(mail_api, readdress(dsn, address), address, mail_from="")
    bounced = await _message(mail_api, conversation["id"], reply["id"])
    assert bounced["delivery_status"] == "failed"
    assert "5.1.1" in bounced["delivery_error"]
    # The bounce itself opened no conversation with the mailer daemon.
    assert [c["id"] for c in await conversations_of(mail_api, mail_inbox)] == [conversation["id"]]


async def test_the_acknowledgement_is_mail_marked_automatic_and_never_answers_machines(
    mail_api: Api, sink: Sink
) -> None:
    if not HAS_RESPONDERS:
        pytest.skip("the responders (acknowledgements) are not in this tree")
    inbox = await create_email_inbox(mail_api, acknowledge=True)
    address = inbox["config"]["address"]
    customer = "first-timer@example.com"
    await send_mail(
        mail_api, mail(address, sender=customer, message_id="ack-me@example.com"), address
    )
    (ack,) = await sink.wait_for(customer)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<ack-me@example.com>"
    assert ack["Subject"] == "Re: Hello"
    assert ack["From"].addresses[0].addr_spec == address
    # The customer's conversation shows it, as the system's message.
    conversation = await only_conversation(mail_api, inbox)
    kinds = [m["author"]["kind"] for m in await mail_api.messages(conversation["id"])]
    assert kinds == ["customer", "system"]
    # An out-of-office and a newsletter get nothing back.
    for name, sender in (
        ("auto-reply-out-of-office.eml", "ooo-robot@example.com"),
        ("bulk-list-newsletter.eml", "news-robot@example.com"),
    ):
        raw = (
            readdress(fixture(name), address)
            .replace(b"oliver.smith@example.com", sender.encode())
            .replace(b"news@lists.example.org", sender.encode())
        )
        await send_mail(mail_api, raw, address)
    # A person's mail sent after them is acknowledged: the robots' were decided first.
    await send_mail(mail_api, mail(address, sender="second@example.com"), address)
    await sink.wait_for("second@example.com")
    assert sink.to("ooo-robot@example.com") == []
    assert sink.to("news-robot@example.com") == []


async def test_without_a_relay_a_reply_fails_at_once_and_says_why(
    start_server: StartServer,
) -> None:
    """No MADOGUCHI_SMTP_RELAY: the reply cannot leave, so it is failed with
    the missing setting named, not pending for ever; the log tells the admin."""
    api = await start_server({"MADOGUCHI_WORKER_POLL_SECONDS": "60"}, smtp=True)
    inbox = await create_email_inbox(api)
    address = inbox["config"]["address"]
    await send_mail(api, readdress(fixture("multipart-html-attachment.eml"), address), address)
    conversation = await only_conversation(api, inbox)
    agent = await api.create_agent()
    reply = await _reply(api, agent["token"], conversation["id"], "We are on it.")
    failed = await _status_becomes(api, conversation["id"], reply["id"], "failed")
    assert "MADOGUCHI_SMTP_RELAY" in failed["delivery_error"]
    # The text stays, for the agent to send another way.
    assert failed["body"] == "We are on it."


async def test_a_server_with_email_inboxes_and_no_relay_warns_at_start(
    start_server: StartServer,
) -> None:
    api = await start_server(smtp=True)
    warning = "no outbound relay is set (MADOGUCHI_SMTP_RELAY)"
    assert warning not in api.server.log_text()  # no email inbox yet: nothing to say
    await create_email_inbox(api)
    api.server.stop()
    await api.server.start()
    assert warning in api.server.log_text()
