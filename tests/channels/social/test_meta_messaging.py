"""Messenger and Instagram: Meta's signed webhooks become the customer's
messages; answers go to the Send API, inside the 24-hour window only."""

from __future__ import annotations

import json
from typing import Any

from tests.channels.social.conftest import reply, settled
from tests.channels.social.fake_platforms import FakePlatforms, graph_error
from tests.channels.social.payloads import (
    encode,
    fixture,
    hub_signature,
    messaging_body,
    now_ms,
    unique,
)
from tests.harness import Api


def _fresh(name: str, owner_id: str) -> dict[str, Any]:
    """The fixture as the platform sent it, but now (inside the window)."""
    body = fixture(name)
    entry = body["entry"][0]
    entry["id"] = owner_id
    for event in entry.get("messaging", []):
        event["timestamp"] = now_ms()
        event["recipient"]["id"] = owner_id
    return body


async def test_a_messenger_message_becomes_the_customers_and_the_answer_uses_the_send_api(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("messenger")
    body = _fresh("messenger-text-message", inbox.config["page_id"])
    assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    assert conversation["channel"] == "messenger"
    (stored,) = await social_api.messages(conversation["id"])
    assert stored["body"] == "Hi! Is the blue jacket back in stock?"

    r = await reply(social_api, conversation["id"], "Yes, in all sizes!")
    assert r.status_code == 201, r.text
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert sent.endpoint == "me/messages"
    assert sent.headers["authorization"] == f"Bearer {inbox.config['page_access_token']}"
    assert sent.body == {
        "recipient": {"id": "6789012345678901"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, in all sizes!"},
    }
    assert (await settled(social_api, conversation["id"], r.json()["id"]))[
        "delivery_status"
    ] == "sent"


async def test_an_instagram_message_is_answered_through_the_same_send_api(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("instagram")
    body = _fresh("instagram-direct-message", "17841400000000001")
    assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == [
        "do you ship to Osaka?"
    ]
    await reply(social_api, conversation["id"], "We do, in 2 days.")
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert sent.endpoint == "me/messages"
    assert sent.body == {
        "recipient": {"id": "1234567890123456"},
        "messaging_type": "RESPONSE",
        "message": {"text": "We do, in 2 days."},
    }


async def test_a_comment_on_a_post_is_answered_privately_never_in_public(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("instagram")
    body = fixture("instagram-comment")
    body["entry"][0]["time"] = now_ms()
    assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    assert conversation["customer"]["name"] == "mika.travels"
    (stored,) = await social_api.messages(conversation["id"])
    assert stored["body"] == "[comment on a post] My order #5521 never arrived and nobody answers!!"
    await reply(social_api, conversation["id"], "So sorry! Checking order 5521 now.")
    (sent,) = await platforms.wait_for(inbox.token, 1)
    # A private reply: the comment's id as the recipient, to the Send API;
    # nothing is posted to the comment's public replies.
    assert sent.endpoint == "me/messages"
    assert sent.body == {
        "recipient": {"comment_id": "17865799348089039"},
        "message": {"text": "So sorry! Checking order 5521 now."},
    }


async def test_the_subscription_handshake(new_inbox: Any, social_api: Api) -> None:
    inbox = await new_inbox("messenger")
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    ok = await social_api.http.get(
        inbox.url, params={**query, "hub.verify_token": inbox.config["verify_token"]}
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    wrong = await social_api.http.get(inbox.url, params={**query, "hub.verify_token": "guess"})
    assert wrong.status_code == 403
    unsubscribe = await social_api.http.get(
        inbox.url,
        params={
            **query,
            "hub.mode": "unsubscribe",
            "hub.verify_token": inbox.config["verify_token"],
        },
    )
    assert unsubscribe.status_code == 403


async def test_a_bad_or_missing_signature_stores_nothing_and_the_raw_bytes_count(
    new_inbox: Any,
) -> None:
    inbox = await new_inbox("messenger")
    body = encode(
        messaging_body("messenger", inbox.config["page_id"], str(unique()), "サイズは？ 👗✨")
    )
    secret = inbox.config["app_secret"]
    plain = {"content-type": "application/json"}
    bare_hex = hub_signature(secret, body).removeprefix("sha256=")
    for headers in (
        plain,
        {**plain, "x-hub-signature-256": hub_signature("not-the-secret", body)},
        {**plain, "x-hub-signature-256": bare_hex},  # without the sha256= prefix
    ):
        assert (await inbox.post(body, headers)).status_code == 401
    respelled = json.dumps(json.loads(body)).encode()  # \u escapes instead of UTF-8
    signed = {**plain, "x-hub-signature-256": hub_signature(secret, body)}
    assert (await inbox.post(respelled, signed)).status_code == 401
    assert await inbox.conversations() == []
    assert (await inbox.post(body, signed)).status_code == 200
    assert len(await inbox.conversations()) == 1


async def test_echoes_receipts_and_other_pages_never_become_customer_messages(
    new_inbox: Any,
) -> None:
    inbox = await new_inbox("messenger")
    page = inbox.config["page_id"]
    customer = str(unique())
    echo = messaging_body("messenger", page, page, "Our own answer", is_echo=True, app_id=1)
    echo["entry"][0]["messaging"][0]["recipient"]["id"] = customer
    receipts = messaging_body("messenger", page, customer)
    event = receipts["entry"][0]["messaging"][0]
    del event["message"]
    event["read"] = {"watermark": now_ms()}
    other_page = messaging_body("messenger", str(unique()), customer, "for another page")
    for body in (echo, receipts, other_page):
        assert (await inbox.post(body)).status_code == 200
    assert await inbox.conversations() == []


async def test_every_entry_of_a_batch_is_stored(social_api: Api, new_inbox: Any) -> None:
    inbox = await new_inbox("messenger")
    page = inbox.config["page_id"]
    alice, bob = str(unique()), str(unique())
    first = messaging_body("messenger", page, alice, "one")
    second = messaging_body("messenger", page, bob, "two")
    third = messaging_body("messenger", page, alice, "three")
    batch = first
    batch["entry"][0]["messaging"].append(third["entry"][0]["messaging"][0])
    batch["entry"].append(second["entry"][0])
    assert (await inbox.post(batch)).status_code == 200
    bodies = {
        c["customer_id"]: [m["body"] for m in await social_api.messages(c["id"])]
        for c in await inbox.conversations()
    }
    assert sorted(bodies.values()) == [["one", "three"], ["two"]]


async def test_attachments_become_readable_messages(social_api: Api, new_inbox: Any) -> None:
    inbox = await new_inbox("messenger")
    page, customer = inbox.config["page_id"], str(unique())
    image = {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/photo.jpg"}}
    like = {
        "type": "image",
        "payload": {"url": "https://x.fbcdn.net/l.png", "sticker_id": 369239263222822},
    }
    bodies = [
        messaging_body("messenger", page, customer, None, attachments=[image]),
        messaging_body("messenger", page, customer, None, attachments=[like]),
        messaging_body(
            "messenger",
            page,
            customer,
            "the receipt",
            attachments=[{"type": "file", "payload": {"url": "https://cdn.fbsbx.com/r.pdf"}}],
        ),
    ]
    for body in bodies:
        assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == [
        "[image]",
        "[sticker]",
        "[file]\nthe receipt",
    ]


async def test_a_reply_outside_the_24_hour_window_is_refused_with_a_clear_error(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("messenger")
    page, customer = inbox.config["page_id"], str(unique())
    # Meta's timestamp says the customer wrote 25 hours ago (we store it now).
    old = messaging_body("messenger", page, customer, "anyone?", timestamp=now_ms(-25 * 3600))
    assert (await inbox.post(old)).status_code == 200
    conversation = await inbox.only_conversation()
    agent = await social_api.create_agent()
    refused = await reply(social_api, conversation["id"], "Sorry for the delay", agent["token"])
    assert refused.status_code == 422
    assert refused.json()["error"] == "messaging_window_closed"
    assert "24 hours" in refused.json()["detail"]
    # Nothing stored, nothing sent, and the refused reply did not take the conversation.
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == ["anyone?"]
    assert (await inbox.only_conversation())["assignee_id"] is None
    # A private note is no reply: it is fine.
    note = await social_api.http.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        json={"body": "customer waited a day", "private": True},
        headers=social_api.auth(agent["token"]),
    )
    assert note.status_code == 201
    # The agent socket gets the same answer.
    async with social_api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await console.send(
            {
                "type": "message",
                "conversation_id": conversation["id"],
                "client_id": "late-1",
                "body": "hi",
            }
        )
        error = await console.expect("error")
        assert error["code"] == "messaging_window_closed"
        assert error["client_id"] == "late-1"
    # Once the customer writes again, the window is open.
    fresh = messaging_body("messenger", page, customer, "hello again")
    assert (await inbox.post(fresh)).status_code == 200
    assert (
        await reply(social_api, conversation["id"], "Here now!", agent["token"])
    ).status_code == 201
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert sent.body["message"]["text"] == "Here now!"


async def test_permanent_send_errors_show_the_agent_metas_reason(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("messenger")
    page, customer = inbox.config["page_id"], str(unique())
    assert (await inbox.post(messaging_body("messenger", page, customer))).status_code == 200
    conversation = await inbox.only_conversation()
    platforms.fail(
        customer,
        graph_error(400, "(#551) This person isn't available right now.", 551, 1545041),
    )
    r = await reply(social_api, conversation["id"], "Hello?")
    failed = await settled(social_api, conversation["id"], r.json()["id"])
    assert failed["delivery_status"] == "failed"
    assert "This person isn't available right now." in failed["delivery_error"]
    assert inbox.config["page_access_token"] not in failed["delivery_error"]
    assert platforms.attempts[customer] == 1


async def test_rate_limits_and_outages_are_retried_and_delivered_once(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("instagram")
    customer = str(unique())
    body = messaging_body("instagram", "17841400000000001", customer, "stock?")
    assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    platforms.fail(
        customer,
        graph_error(
            400, "(#613) Calls to this api have exceeded the rate limit.", 613, retry_after=1
        ),
        graph_error(503, "Service temporarily unavailable", 2, retry_after=1),
    )
    r = await reply(social_api, conversation["id"], "In stock!")
    done = await settled(social_api, conversation["id"], r.json()["id"], timeout=30)
    assert done["delivery_status"] == "sent"
    assert platforms.attempts[customer] == 3
    assert len(platforms.sent_with(inbox.token)) == 1
