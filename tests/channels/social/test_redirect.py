"""Redirect inboxes: a channel the business does not serve answers on that same
channel with the live channels' addresses, once a day per customer, keeps the
exchange in the customer's history, and never offers it to an agent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from app.channels.base import InboundMessage, Sender
from app.channels.registry import build_registry
from app.config import Settings
from app.models import Inbox as InboxRow
from app.responders import redirect
from tests.channels.social.conftest import PUBLIC_URL, Inbox, create_inbox, server_env
from tests.channels.social.fake_platforms import FakePlatforms
from tests.channels.social.payloads import fixture, now_ms, telegram_update, unique
from tests.conftest import StartServer
from tests.harness import Api


@pytest.fixture(scope="module")
async def business(start_module_server: StartServer, platforms: FakePlatforms) -> dict[str, Any]:
    """A server of its own (the redirect text lists every live inbox): a web
    chat, a LINE account and a WhatsApp number served live; Instagram and
    Telegram only point people there."""
    api = await start_module_server(server_env(platforms))
    web = await api.create_inbox()
    await create_inbox(api, platforms, "line", basic_id="@shop-jp")
    await create_inbox(api, platforms, "whatsapp", display_phone_number="+1 555-078-3881")
    instagram = await create_inbox(api, platforms, "instagram", mode="redirect")
    telegram = await create_inbox(api, platforms, "telegram", mode="redirect")
    return {"api": api, "web": web, "instagram": instagram, "telegram": telegram}


async def _sent_after_quiet(platforms: FakePlatforms, inbox: Inbox, count: int) -> list[Any]:
    await platforms.wait_for(inbox.token, count)
    await asyncio.sleep(1)  # time enough for another answer, if one were coming
    return platforms.sent_with(inbox.token)


async def test_a_comment_gets_one_private_answer_naming_the_live_channels_and_no_agent_hears_of_it(
    business: dict[str, Any], platforms: FakePlatforms
) -> None:
    api: Api = business["api"]
    instagram: Inbox = business["instagram"]
    agent = await api.create_agent()
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        comment = fixture("instagram-comment")
        comment["entry"][0]["time"] = now_ms()
        assert (await instagram.post(comment)).status_code == 200
        sent = await _sent_after_quiet(platforms, instagram, 1)
        # A direct message later the same day is kept, and not answered again.
        dm = fixture("instagram-direct-message")
        dm["entry"][0]["messaging"][0]["timestamp"] = now_ms()
        assert (await instagram.post(dm)).status_code == 200
        await asyncio.sleep(1.5)
        frames = await console.quiet(0.5)
    assert [f for f in console.seen if f["type"] != "hello"] == [] == frames

    (answer,) = sent
    assert len(platforms.sent_with(instagram.token)) == 1
    # Privately, to the commenter: the comment id as the recipient, never a
    # public reply; nothing from the comment (the order number) is repeated.
    assert answer.endpoint == "me/messages"
    assert answer.body["recipient"] == {"comment_id": "17865799348089039"}
    text = answer.body["message"]["text"]
    assert f"{PUBLIC_URL}/chat/{business['web']['widget_key']}" in text
    assert "https://line.me/R/ti/p/%40shop-jp" in text
    assert "https://wa.me/15550783881" in text
    assert "5521" not in text
    assert "instagram" not in text.lower()
    assert "t.me" not in text

    # Kept in the history: resolved, not waiting in anyone's queue.
    assert await instagram.conversations() == []
    conversation = await instagram.only_conversation("resolved")
    assert conversation["assignee_id"] is None
    history = await api.messages(conversation["id"])
    assert [(m["author"]["kind"], m["body"]) for m in history] == [
        ("customer", "[comment on a post] My order #5521 never arrived and nobody answers!!"),
        ("system", text),
        ("customer", "do you ship to Osaka?"),
    ]
    assert history[1]["delivery_status"] == "sent"
    timeline = await api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}/timeline",
        headers=api.auth(api.admin_token),
    )
    assert [m["id"] for m in timeline.json()["items"]] == [m["id"] for m in history]


async def test_a_japanese_customer_is_answered_in_japanese_on_telegram(
    business: dict[str, Any], platforms: FakePlatforms
) -> None:
    api: Api = business["api"]
    telegram: Inbox = business["telegram"]
    user = unique()
    for _ in range(3):
        assert (await telegram.post(telegram_update(user, "返品したいです"))).status_code == 200
    (answer,) = await _sent_after_quiet(platforms, telegram, 1)
    assert answer.body["chat_id"] == user
    assert answer.body["text"].startswith("メッセージありがとうございます。")
    assert f"- チャット: {PUBLIC_URL}/chat/{business['web']['widget_key']}" in answer.body["text"]
    conversation = await telegram.only_conversation("resolved")
    kinds = [m["author"]["kind"] for m in await api.messages(conversation["id"])]
    # One answer, after the first message; the others may come before or after it.
    assert kinds[0] == "customer"
    assert sorted(kinds) == ["customer", "customer", "customer", "system"]


def _inbox(channel: str, mode: str = "live", **config: Any) -> InboxRow:
    return InboxRow(
        id=unique(), name=channel, channel=channel, mode=mode, config=config, widget_key="wk-1"
    )


# The adapters read a config as stored, that is as validated, secrets and all.
PAGE_SECRETS = {
    "app_secret": "meta-app-secret",
    "verify_token": "verify-me",
    "page_access_token": "page-token",
}


def test_the_text_names_each_live_inbox_by_its_public_address() -> None:
    inboxes = [
        _inbox("web"),
        _inbox("email", address="support@shop.example"),
        _inbox("email", mode="redirect", address="old@shop.example"),
        # No basic_id: no public address to give.
        _inbox("line", channel_secret="line-secret", channel_access_token="line-token"),
        _inbox("messenger", page_id="104857600123456", **PAGE_SECRETS),
    ]
    registry = build_registry(Settings())
    channels = redirect.public_channels(inboxes, "https://help.shop.example/", registry)
    assert redirect.redirect_text(channels, "en", registry) == (
        "Thank you for your message. We don't answer messages here; please reach us on one"
        " of these channels:\n"
        "- Chat: https://help.shop.example/chat/wk-1\n"
        "- Email: support@shop.example\n"
        "- Messenger: https://m.me/104857600123456"
    )
    ja = redirect.redirect_text(channels, "ja", registry)
    assert "- メール: support@shop.example" in ja
    assert "old@shop.example" not in ja
    assert redirect.redirect_text([], "en", registry) == NO_CHANNELS_EN


NO_CHANNELS_EN = "Thank you for your message. We don't answer messages here."


def test_the_answer_is_keyed_by_inbox_customer_and_day() -> None:
    message = InboundMessage(external_id="m1", thread_key="", sender=Sender("u1"), text="hi")
    monday = redirect.plan(7, 42, message, datetime(2026, 12, 7, 23, 59, tzinfo=UTC))
    later = redirect.plan(7, 42, message, datetime(2026, 12, 7, 0, 1, tzinfo=UTC))
    tuesday = redirect.plan(7, 42, message, datetime(2026, 12, 8, 0, 0, tzinfo=UTC))
    assert monday is not None
    assert later is not None
    assert tuesday is not None
    assert monday.dedupe_key == later.dedupe_key == "redirect:7:42:2026-12-07"
    assert tuesday.dedupe_key == "redirect:7:42:2026-12-08"
    machine = InboundMessage(
        external_id="m2", thread_key="", sender=Sender("u1"), text="auto", automatic=True
    )
    assert redirect.plan(7, 42, machine, datetime(2026, 12, 7, tzinfo=UTC)) is None
