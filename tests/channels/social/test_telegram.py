"""Telegram: a bot's update becomes the customer's message; the agent's reply
reaches `sendMessage` in Telegram's shape."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.channels.social.conftest import reply, settled
from tests.channels.social.fake_platforms import Failure, FakePlatforms, telegram_error
from tests.channels.social.payloads import fixture, telegram_update, unique
from tests.harness import Api


async def test_an_update_becomes_a_message_and_the_reply_reaches_send_message(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("telegram")
    update = fixture("telegram-text-message")  # as Telegram sent it
    assert (await inbox.post(update)).status_code == 200

    conversation = await inbox.only_conversation()
    assert conversation["channel"] == "telegram"
    assert conversation["customer"]["name"] == "太郎 鈴木"
    (stored,) = await social_api.messages(conversation["id"])
    assert stored["body"] == "こんにちは。返品の手続きについて教えてください。"
    assert stored["author"] == {"kind": "customer", "name": "太郎 鈴木"}
    assert stored["sent_at"] == "2025-11-16T08:00:00+00:00"  # the update's `date`
    customer = await social_api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}",
        headers=social_api.auth(social_api.admin_token),
    )
    assert {
        "channel": "telegram",
        "external_id": "5512345678",
        "verified": True,
    } in customer.json()["identities"]

    r = await reply(social_api, conversation["id"], "返品は30日以内に承ります。")
    assert r.status_code == 201, r.text
    (sent,) = await platforms.wait_for(inbox.token, 1)
    assert sent.endpoint == "sendMessage"
    assert sent.body == {"chat_id": 5512345678, "text": "返品は30日以内に承ります。"}
    assert (await settled(social_api, conversation["id"], r.json()["id"]))[
        "delivery_status"
    ] == "sent"


async def test_a_wrong_or_missing_secret_token_is_refused_and_nothing_is_stored(
    new_inbox: Any,
) -> None:
    inbox = await new_inbox("telegram")
    update = telegram_update(unique())
    wrong = {"content-type": "application/json", "x-telegram-bot-api-secret-token": "guess"}
    assert (await inbox.post(update, wrong)).status_code == 401
    assert (await inbox.post(update, {"content-type": "application/json"})).status_code == 401
    assert await inbox.conversations() == []


async def test_an_edit_never_becomes_a_second_customer_message(
    social_api: Api, new_inbox: Any
) -> None:
    inbox = await new_inbox("telegram")
    assert (await inbox.post(fixture("telegram-text-message"))).status_code == 200
    edited = fixture("telegram-edited-message")  # the same message_id, edited
    assert (await inbox.post(edited)).status_code == 200
    conversation = await inbox.only_conversation()
    bodies = [m["body"] for m in await social_api.messages(conversation["id"])]
    assert bodies == ["こんにちは。返品の手続きについて教えてください。"]


async def test_photos_stickers_files_and_places_arrive_as_readable_messages(
    social_api: Api, new_inbox: Any
) -> None:
    inbox = await new_inbox("telegram")
    user = unique()
    photo = [{"file_id": "AgAD-small", "file_unique_id": "a", "width": 90, "height": 90}]
    updates = [
        telegram_update(user, None, photo=photo, caption="この箱が潰れていました"),
        telegram_update(user, None, sticker={"file_id": "CAAD", "emoji": "😢", "type": "regular"}),
        telegram_update(
            user,
            None,
            document={
                "file_id": "BQAD",
                "file_name": "receipt.pdf",
                "mime_type": "application/pdf",
            },
        ),
        telegram_update(user, None, location={"latitude": 35.6812, "longitude": 139.7671}),
    ]
    for update in updates:
        assert (await inbox.post(update)).status_code == 200
    conversation = await inbox.only_conversation()
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == [
        "[image]\nこの箱が潰れていました",
        "[sticker: 😢]",
        "[file: receipt.pdf]",
        "[location: 35.6812, 139.7671]",
    ]


async def test_a_blocked_bot_shows_the_agent_telegrams_reason_without_the_token(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("telegram")
    user = unique()
    assert (await inbox.post(telegram_update(user))).status_code == 200
    conversation = await inbox.only_conversation()
    platforms.fail(str(user), telegram_error(403, "Forbidden: bot was blocked by the user"))
    r = await reply(social_api, conversation["id"], "Hello?")
    failed = await settled(social_api, conversation["id"], r.json()["id"])
    assert failed["delivery_status"] == "failed"
    assert "Forbidden: bot was blocked by the user" in failed["delivery_error"]
    assert inbox.config["bot_token"] not in failed["delivery_error"]
    assert platforms.sent_with(inbox.token) == []


async def test_flood_limits_and_outages_are_retried_and_the_reply_goes_out_once(
    social_api: Api, platforms: FakePlatforms, new_inbox: Any
) -> None:
    inbox = await new_inbox("telegram")
    user = unique()
    assert (await inbox.post(telegram_update(user))).status_code == 200
    conversation = await inbox.only_conversation()
    platforms.fail(
        str(user),
        telegram_error(429, "Too Many Requests: retry after 1", retry_after=1),
        # Telegram's front end says nothing about when; the fake asks for 1 s
        # so the test need not wait out the worker's backoff.
        Failure(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, 1),
    )
    r = await reply(social_api, conversation["id"], "On its way")
    (sent,) = await platforms.wait_for(inbox.token, 1, timeout=30)
    assert sent.body["text"] == "On its way"
    assert platforms.attempts[str(user)] == 3
    assert (await settled(social_api, conversation["id"], r.json()["id"]))[
        "delivery_status"
    ] == "sent"
    await asyncio.sleep(0.5)
    assert len(platforms.sent_with(inbox.token)) == 1
