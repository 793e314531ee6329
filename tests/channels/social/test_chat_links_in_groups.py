"""A redirect answer in a group chat is read by everyone in the group: it names
the chat page, never with the signed link that would let any of them in as
the customer who wrote. In a one-to-one chat the link is the customer's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.channels.base import InboundMessage, InboundRequest, Sender
from app.channels.line.adapter import LineAdapter, LineConfig
from app.channels.telegram.adapter import TelegramAdapter, TelegramConfig
from app.config import Settings
from app.responders import redirect
from tests.channels.social.conftest import PUBLIC_URL, Inbox, create_inbox, server_env
from tests.channels.social.fake_platforms import FakePlatforms
from tests.channels.social.payloads import encode, line_body, line_event, telegram_update, unique
from tests.conftest import StartServer

SETTINGS = Settings()


@pytest.fixture(scope="module")
async def business(start_module_server: StartServer, platforms: FakePlatforms) -> dict[str, Any]:
    """A server of its own: one web chat served live, Telegram and LINE only
    pointing people there."""
    api = await start_module_server(server_env(platforms))
    web = await api.create_inbox()
    return {
        "chat_page": f"{PUBLIC_URL}/chat/{web['widget_key']}",
        "telegram": await create_inbox(api, platforms, "telegram", mode="redirect"),
        "line": await create_inbox(api, platforms, "line", mode="redirect"),
    }


async def _answer(
    platforms: FakePlatforms, inbox: Inbox, payload: dict[str, Any], to: str, key: str
) -> str:
    """Posts a customer's message and waits for the redirect answer sent to `to`."""
    before = len(platforms.sent_with(inbox.token))
    assert (await inbox.post(payload)).status_code == 200
    sent = await platforms.wait_for(inbox.token, before + 1)
    (answer,) = [s for s in sent[before:] if str(s.body.get(key)) == to]
    return str(answer.body)


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
async def test_a_telegram_group_gets_the_chat_page_without_a_link(
    business: dict[str, Any], platforms: FakePlatforms, chat_type: str
) -> None:
    telegram: Inbox = business["telegram"]
    group = -(10**12) - unique()
    update = telegram_update(unique(), "who sells this?")
    update["message"]["chat"] = {"id": group, "type": chat_type, "title": "Buyers"}
    text = await _answer(platforms, telegram, update, str(group), "chat_id")
    assert business["chat_page"] in text
    assert "?link=" not in text

    # The same kind of customer, one to one: the link is theirs alone.
    user = unique()
    text = await _answer(platforms, telegram, telegram_update(user), str(user), "chat_id")
    assert f"{business['chat_page']}?link=" in text


@pytest.mark.parametrize("source", ["group", "room"])
async def test_a_line_group_or_room_gets_the_chat_page_without_a_link(
    business: dict[str, Any], platforms: FakePlatforms, source: str
) -> None:
    line: Inbox = business["line"]
    user, place = f"U{unique()}", f"C{unique()}"
    event = line_event(user, "誰か知ってる？")
    event["source"] = {"type": source, f"{source}Id": place, "userId": user}
    text = await _answer(platforms, line, line_body(event), place, "to")
    assert business["chat_page"] in text
    assert "?link=" not in text

    other = f"U{unique()}"
    text = await _answer(platforms, line, line_body(line_event(other)), other, "to")
    assert f"{business['chat_page']}?link=" in text


def test_the_adapters_say_when_a_message_came_from_a_group() -> None:
    telegram = TelegramAdapter(SETTINGS)
    telegram_config = TelegramConfig(bot_token="123:abcdefgh", secret_token="s")
    line = LineAdapter(SETTINGS)
    line_config = LineConfig(channel_secret="secret-secret", channel_access_token="token-token")

    def parsed(adapter: Any, config: Any, payload: dict[str, Any]) -> InboundMessage:
        (message,) = adapter.parse(config, InboundRequest("POST", encode(payload)))
        assert isinstance(message, InboundMessage)
        return message

    assert parsed(telegram, telegram_config, telegram_update(5)).group is False
    for chat_type in ("group", "supergroup", "channel", None):
        update = telegram_update(5)
        update["message"]["chat"] = {"id": -100123, "type": chat_type}
        assert parsed(telegram, telegram_config, update).group is True
    assert parsed(line, line_config, line_body(line_event("Uaaa"))).group is False
    for source in (
        {"type": "group", "groupId": "Cg", "userId": "Uaaa"},
        {"type": "room", "roomId": "Rr", "userId": "Uaaa"},
        # A group without its id is still a group: a reply token answers there.
        {"type": "group", "userId": "Uaaa"},
    ):
        event = line_event("Uaaa")
        event["source"] = source
        assert parsed(line, line_config, line_body(event)).group is True


def test_a_link_goes_only_to_the_sender_alone_and_only_where_the_channel_vouches() -> None:
    def inbound(**extra: Any) -> InboundMessage:
        sender = extra.pop("sender", Sender("u1"))
        return InboundMessage(external_id="m", thread_key="", sender=sender, text="hi", **extra)

    assert redirect.links_allowed(inbound()) is True
    assert redirect.links_allowed(inbound(group=True)) is False
    # A mail whose sender failed authentication: the answer may reach someone else.
    assert redirect.links_allowed(inbound(sender=Sender("a@b.example", verified=False))) is False
    job = redirect.plan(7, 42, inbound(group=True), datetime(2026, 12, 7, tzinfo=UTC))
    assert job is not None
    assert job.payload["link"] is False
