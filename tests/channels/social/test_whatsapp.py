"""WhatsApp Cloud API: messages in, `/{phone_number_id}/messages` out, and the
platform's statuses about what we sent."""

from __future__ import annotations

import time
from typing import Any

from tests.channels.social.conftest import reply, settled
from tests.channels.social.fake_platforms import FakePlatforms, graph_error
from tests.channels.social.payloads import fixture, unique, whatsapp_body, whatsapp_status
from tests.harness import Api


async def test_a_message_becomes_the_customers_and_the_answer_reaches_the_cloud_api(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("whatsapp", phone_number_id="106540352242922")
    body = fixture("whatsapp-text-message")
    # Now rather than the fixture's day: an answer is allowed for 24 hours.
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()))
    assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    assert conversation["customer"]["name"] == "Kerry Fisher"
    customer = await social_api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}",
        headers=social_api.auth(social_api.admin_token),
    )
    assert customer.json()["phones"] == ["+16505551234"]
    assert {
        "channel": "whatsapp",
        "external_id": "16505551234",
        "verified": True,
    } in customer.json()["identities"]
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == [
        "Hi, I need to change my delivery address."
    ]

    r = await reply(social_api, conversation["id"], "Sure, what is the new address?")
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert sent.endpoint == "106540352242922/messages"
    assert sent.headers["authorization"] == f"Bearer {inbox.config['access_token']}"
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Sure, what is the new address?", "preview_url": False},
    }
    done = await settled(social_api, conversation["id"], r.json()["id"])
    assert done["delivery_status"] == "sent"


async def test_statuses_are_no_messages_and_a_failure_marks_our_reply_failed(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("whatsapp")
    number, customer = inbox.config["phone_number_id"], str(unique())
    assert (await inbox.post(whatsapp_body(number, customer))).status_code == 200
    conversation = await inbox.only_conversation()
    r = await reply(social_api, conversation["id"], "Done")
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert (await settled(social_api, conversation["id"], r.json()["id"]))[
        "delivery_status"
    ] == "sent"

    # The fixture's status (delivered, of a message we never sent) and ours
    # being delivered and read change nothing and store nothing.
    status = fixture("whatsapp-status-update")
    status["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number
    assert (await inbox.post(status)).status_code == 200
    for news in ("sent", "delivered", "read"):
        body = whatsapp_status(number, str(sent.answer_id), news, recipient=customer)
        assert (await inbox.post(body)).status_code == 200
    messages = await social_api.messages(conversation["id"])
    assert [(m["author"]["kind"], m.get("delivery_status")) for m in messages] == [
        ("customer", None),
        ("agent", "sent"),
    ]

    # WhatsApp's later word that our reply failed is shown to the agent.
    agent = await social_api.create_agent()
    async with social_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await console.send({"type": "watch", "conversation_id": conversation["id"]})
        await console.expect("watch")
        failed = whatsapp_status(
            number,
            str(sent.answer_id),
            "failed",
            recipient=customer,
            errors=[
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {
                        "details": "Message failed to send because more than 24 hours have"
                        " passed since the customer last replied to this number."
                    },
                }
            ],
        )
        assert (await inbox.post(failed)).status_code == 200
        updated = await console.expect("message.updated")
    assert updated["message"]["id"] == r.json()["id"]
    assert updated["message"]["delivery_status"] == "failed"
    assert "131047 Re-engagement message" in updated["message"]["delivery_error"]
    messages = await social_api.messages(conversation["id"])
    assert [m["author"]["kind"] for m in messages] == ["customer", "agent"]


async def test_media_locations_and_buttons_become_readable_messages(
    social_api: Api, new_inbox: Any
) -> None:
    inbox = await new_inbox("whatsapp")
    number, customer = inbox.config["phone_number_id"], str(unique())
    contents: list[dict[str, Any]] = [
        {"type": "image", "image": {"id": "1479", "mime_type": "image/jpeg", "caption": "破損"}},
        {
            "type": "document",
            "document": {"id": "1480", "filename": "invoice.pdf", "mime_type": "application/pdf"},
        },
        {"type": "sticker", "sticker": {"id": "1481", "mime_type": "image/webp"}},
        {"type": "location", "location": {"latitude": 34.7025, "longitude": 135.4959}},
        {
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}},
        },
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
        {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
    ]
    for content in contents:
        body = whatsapp_body(number, customer, message=content)
        assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == [
        "[image]\n破損",
        "[file: invoice.pdf]",
        "[sticker]",
        "[location: 34.7025, 135.4959]",
        "Yes",
        "[unsupported message: Message type unknown]",
    ]


async def test_throughput_limits_are_retried_and_delivered_once(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("whatsapp")
    number, customer = inbox.config["phone_number_id"], str(unique())
    assert (await inbox.post(whatsapp_body(number, customer))).status_code == 200
    conversation = await inbox.only_conversation()
    platforms.fail(
        customer,
        graph_error(429, "(#130429) Rate limit hit", 130429, retry_after=1),
        graph_error(500, "(#131000) Something went wrong", 131000, retry_after=1),
    )
    r = await reply(social_api, conversation["id"], "Noted!")
    done = await settled(social_api, conversation["id"], r.json()["id"], timeout=30)
    assert done["delivery_status"] == "sent"
    assert platforms.attempts[customer] == 3
    assert [s.body["text"]["body"] for s in platforms.sent_with(inbox.token)] == ["Noted!"]


async def test_messages_for_another_number_of_the_account_are_not_this_inboxs(
    new_inbox: Any,
) -> None:
    inbox = await new_inbox("whatsapp")
    other_number = str(unique())
    assert (await inbox.post(whatsapp_body(other_number, str(unique())))).status_code == 200
    assert await inbox.conversations() == []
