"""LINE: signed events become the customer's messages; the agent's answer goes
out as a reply while the reply token is fresh, as a push otherwise."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.channels.social.conftest import reply, settled
from tests.channels.social.fake_platforms import Failure, FakePlatforms, line_error
from tests.channels.social.payloads import (
    encode,
    line_body,
    line_event,
    line_signature,
    now_ms,
    raw,
)
from tests.harness import Api


def _user() -> str:
    return "U" + uuid.uuid4().hex


async def test_an_event_becomes_a_message_answered_by_reply_then_by_push(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("line")
    user = _user()
    event = line_event(user, "注文した商品の配送状況を知りたいです 📦")
    platforms.reply_tokens.add(event["replyToken"])  # LINE handed it out with the event
    assert (await inbox.post(line_body(event))).status_code == 200

    conversation = await inbox.only_conversation()
    assert conversation["channel"] == "line"
    (stored,) = await social_api.messages(conversation["id"])
    assert stored["body"] == "注文した商品の配送状況を知りたいです 📦"
    assert stored["author"]["kind"] == "customer"
    customer = await social_api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}",
        headers=social_api.auth(social_api.admin_token),
    )
    assert {"channel": "line", "external_id": user, "verified": True} in customer.json()[
        "identities"
    ]

    # The first answer uses the fresh reply token: free, and LINE's own way.
    first = await reply(social_api, conversation["id"], "確認いたします。")
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert sent.endpoint == "reply"
    assert sent.body == {
        "replyToken": event["replyToken"],
        "messages": [{"type": "text", "text": "確認いたします。"}],
    }
    assert sent.headers["authorization"] == f"Bearer {inbox.config['channel_access_token']}"
    assert (await settled(social_api, conversation["id"], first.json()["id"]))[
        "delivery_status"
    ] == "sent"
    # The token is spent: the second answer is a push, with a retry key.
    second = await reply(social_api, conversation["id"], "明日お届けの予定です。")
    pushed = (await platforms.wait_for(inbox.token, 2))[1]
    assert pushed.endpoint == "push"
    assert pushed.body == {
        "to": user,
        "messages": [{"type": "text", "text": "明日お届けの予定です。"}],
    }
    uuid.UUID(pushed.headers["x-line-retry-key"])
    assert (await settled(social_api, conversation["id"], second.json()["id"]))[
        "delivery_status"
    ] == "sent"


async def test_an_old_reply_token_is_not_tried_the_answer_is_pushed(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("line")
    user = _user()
    event = line_event(user, "まだですか？", timestamp=now_ms(-300))
    platforms.reply_tokens.add(event["replyToken"])
    assert (await inbox.post(line_body(event))).status_code == 200
    conversation = await inbox.only_conversation()
    await reply(social_api, conversation["id"], "Sorry for the wait")
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert sent.endpoint == "push"
    assert sent.body["to"] == user


async def test_a_redelivered_event_is_stored_once(social_api: Api, new_inbox: Any) -> None:
    inbox = await new_inbox("line")
    first = json.loads(raw("line-text-message"))
    again = json.loads(raw("line-redelivery"))  # isRedelivery, same webhookEventId
    assert (await inbox.post(first)).status_code == 200
    assert (await inbox.post(again)).status_code == 200
    conversation = await inbox.only_conversation()
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == [
        "注文した商品の配送状況を知りたいです"
    ]


async def test_the_empty_connectivity_check_is_answered_and_stores_nothing(
    new_inbox: Any,
) -> None:
    inbox = await new_inbox("line")
    body = {"destination": "U0f3b1c2d4e5f60718293a4b5c6d7e8f9", "events": []}
    assert (await inbox.post(body)).status_code == 200
    assert await inbox.conversations() == []


async def test_the_signature_covers_the_raw_bytes(new_inbox: Any) -> None:
    inbox = await new_inbox("line")
    secret = inbox.config["channel_secret"]
    body = encode(line_body(line_event(_user(), "こんにちは 🙇‍♀️ 配送について")))
    assert "🙇".encode() in body  # raw UTF-8, as LINE sends it
    # The same JSON written differently (escaped, spaced) no longer matches.
    respelled = json.dumps(json.loads(body), indent=1).encode()
    headers = {"content-type": "application/json", "x-line-signature": line_signature(secret, body)}
    assert (await inbox.post(respelled, headers)).status_code == 401
    wrong = {"content-type": "application/json", "x-line-signature": line_signature("x" * 32, body)}
    assert (await inbox.post(body, wrong)).status_code == 401
    assert (await inbox.post(body, {"content-type": "application/json"})).status_code == 401
    assert await inbox.conversations() == []
    assert (await inbox.post(body, headers)).status_code == 200
    assert len(await inbox.conversations()) == 1


async def test_a_batch_stores_every_message_and_skips_what_is_not_one(
    social_api: Api, new_inbox: Any
) -> None:
    inbox = await new_inbox("line")
    user = _user()
    follow = {**line_event(user), "type": "follow"}
    del follow["message"]
    unfollow = {k: v for k, v in follow.items() if k != "replyToken"} | {"type": "unfollow"}
    events = [
        follow,
        line_event(user, "一つ目"),
        line_event(user, "", message={"type": "sticker", "packageId": "446", "stickerId": "1988"}),
        line_event(
            user,
            "",
            message={
                "type": "location",
                "title": "東京駅",
                "address": "東京都千代田区丸の内1丁目",
                "latitude": 35.6812,
                "longitude": 139.7671,
            },
        ),
        line_event(user, "", message={"type": "image", "contentProvider": {"type": "line"}}),
        line_event(user, "", message={"type": "file", "fileName": "invoice.pdf", "fileSize": 2048}),
        unfollow,
    ]
    assert (await inbox.post(line_body(*events))).status_code == 200
    conversation = await inbox.only_conversation()
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == [
        "一つ目",
        "[sticker]",
        "[location: 東京駅 (35.6812, 139.7671)]",
        "[image]",
        "[file: invoice.pdf]",
    ]


async def test_a_push_whose_answer_was_lost_is_retried_with_its_key_and_sent_once(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("line")
    user = _user()
    assert (
        await inbox.post(line_body(line_event(user, timestamp=now_ms(-600))))
    ).status_code == 200
    conversation = await inbox.only_conversation()
    # LINE takes the push, then its answer is a 500; the retry meets 409.
    platforms.fail(user, Failure(500, {"message": "Internal error"}, retry_after=1, accept=True))
    r = await reply(social_api, conversation["id"], "お待たせしました")
    done = await settled(social_api, conversation["id"], r.json()["id"], timeout=30)
    assert done["delivery_status"] == "sent"
    assert platforms.attempts[user] == 1  # the 409 answers before any new delivery
    assert [s.body["messages"][0]["text"] for s in platforms.sent_with(inbox.token)] == [
        "お待たせしました"
    ]


async def test_a_refused_push_shows_the_agent_lines_reason(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("line")
    user = _user()
    assert (
        await inbox.post(line_body(line_event(user, timestamp=now_ms(-600))))
    ).status_code == 200
    conversation = await inbox.only_conversation()
    platforms.fail(user, line_error(400, "Failed to send messages"))
    r = await reply(social_api, conversation["id"], "Hello")
    failed = await settled(social_api, conversation["id"], r.json()["id"])
    assert failed["delivery_status"] == "failed"
    assert "Failed to send messages" in failed["delivery_error"]
    assert inbox.config["channel_access_token"] not in failed["delivery_error"]
