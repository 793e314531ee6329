"""The adapters' pure halves: what each payload shape becomes, without a server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.channels.base import InboundMessage, InboundRequest, reply_window
from app.channels.line.adapter import LineAdapter, LineConfig
from app.channels.meta.messaging import InstagramAdapter, InstagramConfig, MessengerAdapter
from app.channels.meta.whatsapp import WhatsAppAdapter
from app.channels.platform_http import retry_after
from app.channels.telegram.adapter import TelegramAdapter, TelegramConfig
from app.config import Settings
from tests.channels.social.payloads import (
    encode,
    fixture,
    instagram_comment,
    line_body,
    line_event,
    messaging_body,
    telegram_update,
)

SETTINGS = Settings()


def _parse(adapter: Any, config: Any, payload: dict[str, Any]) -> list[Any]:
    return list(adapter.parse(config, InboundRequest("POST", encode(payload))))


def test_a_telegram_group_is_a_conversation_of_its_own_answered_in_the_group() -> None:
    config = TelegramConfig(bot_token="123:abcdefgh", secret_token="s")
    update = telegram_update(77, "who can help?")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Buyers"}
    (message,) = _parse(TelegramAdapter(SETTINGS), config, update)
    assert message.sender.external_id == "77"
    assert message.thread_key == "chat:-100123"
    assert message.channel_data["chat_id"] == -100123


def test_telegram_service_messages_bots_and_callbacks_are_not_customer_messages() -> None:
    adapter, config = (
        TelegramAdapter(SETTINGS),
        TelegramConfig(bot_token="123:abcdefgh", secret_token="s"),
    )
    joined = telegram_update(
        78, None, new_chat_members=[{"id": 5, "is_bot": False, "first_name": "A"}]
    )
    bot = telegram_update(79, "beep")
    bot["message"]["from"]["is_bot"] = True
    callback = {"update_id": 5, "callback_query": {"id": "1", "from": {"id": 80}, "data": "x"}}
    for update in (joined, bot, callback):
        assert _parse(adapter, config, update) == []
    unknown = telegram_update(81, None, giveaway={"chats": []})
    (message,) = _parse(adapter, config, unknown)
    assert message.text == "[unsupported message]"


def test_line_groups_and_rooms_are_answered_where_they_were_said() -> None:
    config = LineConfig(channel_secret="secret-secret", channel_access_token="token-token")
    event = line_event("Uaaa", "グループから")
    event["source"] = {"type": "group", "groupId": "Cgroup1", "userId": "Uaaa"}
    (message,) = _parse(LineAdapter(SETTINGS), config, line_body(event))
    assert message.sender.external_id == "Uaaa"
    assert message.thread_key == "group:Cgroup1"
    assert message.channel_data["to"] == "Cgroup1"


def test_messenger_postbacks_are_the_customers_answer_and_reactions_are_not() -> None:
    adapter = MessengerAdapter(SETTINGS)
    config = adapter.config_model(
        page_id="1", app_secret="app-secret", verify_token="v", page_access_token="token-token"
    )
    body = messaging_body("messenger", "1", "222")
    event = body["entry"][0]["messaging"][0]
    del event["message"]
    event["postback"] = {"title": "Track my order", "payload": "TRACK", "mid": "m_pb1"}
    reaction = messaging_body("messenger", "1", "222")
    reaction_event = reaction["entry"][0]["messaging"][0]
    del reaction_event["message"]
    reaction_event["reaction"] = {"mid": "m_1", "action": "react", "emoji": "❤️"}
    (message,) = _parse(adapter, config, body)
    assert (message.external_id, message.text) == ("m_pb1", "Track my order")
    assert _parse(adapter, config, reaction) == []


def test_instagram_story_replies_and_the_business_own_comments() -> None:
    adapter = InstagramAdapter(SETTINGS)
    config = InstagramConfig(
        page_id="1", app_secret="app-secret", verify_token="v", page_access_token="token-token"
    )
    story = messaging_body(
        "instagram", "178", "333", "love it", reply_to={"story": {"url": "https://x", "id": "9"}}
    )
    (message,) = _parse(adapter, config, story)
    assert message.text == "[story reply]\nlove it"
    own = instagram_comment("178", "178", "Thanks! DM us")
    assert _parse(adapter, config, own) == []
    # Another product's object on the same callback is not Instagram's.
    page = fixture("messenger-text-message")
    assert _parse(adapter, config, page) == []


def test_an_instagram_inbox_takes_only_its_own_accounts_events() -> None:
    """Two Instagram accounts on one Meta app: one callback carries both."""
    adapter = InstagramAdapter(SETTINGS)
    secrets = {"app_secret": "app-secret", "verify_token": "v", "page_access_token": "token-token"}
    ours = InstagramConfig(page_id="1", account_id="178", **secrets)
    both = messaging_body("instagram", "178", "333", "for us")
    other = messaging_body("instagram", "999", "444", "for the other shop")
    both["entry"].extend(other["entry"])
    (message,) = _parse(adapter, ours, both)
    assert message.text == "for us"
    assert message.sender.external_id == "333"
    comment = instagram_comment("999", "555", "the other shop's post")
    assert _parse(adapter, ours, comment) == []
    # Without an account id (one account per app) every entry is the inbox's.
    unset = InstagramConfig(page_id="1", **secrets)
    assert len(_parse(adapter, unset, both)) == 2


def test_whatsapp_names_come_from_contacts_and_failed_statuses_carry_the_reason() -> None:
    adapter = WhatsAppAdapter(SETTINGS)
    config = adapter.config_model(
        phone_number_id="106540352242922",
        app_secret="app-secret",
        verify_token="v",
        access_token="token-token",
    )
    (message,) = _parse(adapter, config, fixture("whatsapp-text-message"))
    assert isinstance(message, InboundMessage)
    assert (message.sender.name, message.sender.phone) == ("Kerry Fisher", "+16505551234")
    status = fixture("whatsapp-status-update")
    item = status["entry"][0]["changes"][0]["value"]["statuses"][0]
    item["status"] = "failed"
    item["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
    (update,) = _parse(adapter, config, status)
    assert (update.status, update.error) == ("failed", "WhatsApp: 131026 Message undeliverable")


def test_only_metas_platforms_have_a_reply_window() -> None:
    windows = {
        kind: reply_window(adapter)
        for kind, adapter in (
            ("telegram", TelegramAdapter(SETTINGS)),
            ("line", LineAdapter(SETTINGS)),
            ("messenger", MessengerAdapter(SETTINGS)),
            ("instagram", InstagramAdapter(SETTINGS)),
            ("whatsapp", WhatsAppAdapter(SETTINGS)),
        )
    }
    assert {k: w.total_seconds() / 3600 if w else None for k, w in windows.items()} == {
        "telegram": None,
        "line": None,
        "messenger": 24,
        "instagram": 24,
        "whatsapp": 24,
    }


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("7", {}, 7.0),
        (None, {"ok": False, "parameters": {"retry_after": 12}}, 12.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", {}, 0.0),  # a date in the past: now
        ("soon", {}, None),
        ("86400", {}, None),  # longer than we park a reply: the worker's backoff
    ],
)
def test_retry_after_as_seconds_a_date_or_telegrams_body(
    header: str | None, body: dict[str, Any], expected: float | None
) -> None:
    response = httpx.Response(429, headers={"retry-after": header} if header else {}, json=body)
    hint = body.get("parameters", {}).get("retry_after")
    assert retry_after(response, hint) == expected
