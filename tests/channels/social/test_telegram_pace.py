"""A bot's sends are spaced under Telegram's limit, and a 429's retry_after
holds the bot's other sends too: they wait their turn, or are deferred."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from app.channels.base import ChannelRetriableError, OutboundMessage, Sender
from app.channels.telegram.adapter import SendPace, TelegramAdapter, TelegramConfig
from app.config import Settings

CONFIG = TelegramConfig(bot_token="123456:ABCDEF", secret_token="s3cret")


def reply(chat: str) -> OutboundMessage:
    return OutboundMessage(
        conversation_id=1, message_id=1, recipient=Sender(external_id=chat), text="hello"
    )


async def test_sends_of_one_bot_are_spaced(monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    pace = SendPace(10)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    for _ in range(3):
        await pace.wait("bot-a")
    await pace.wait("bot-b")  # another bot has its own pace
    assert len(waited) == 2
    assert 0.09 <= waited[0] <= 0.1
    assert 0.19 <= waited[1] <= 0.2


async def test_a_held_bot_defers_rather_than_waits_long() -> None:
    pace = SendPace(30)
    pace.hold("bot-a", 60)
    with pytest.raises(ChannelRetriableError) as caught:
        await pace.wait("bot-a")
    assert caught.value.defer_seconds is not None
    assert 59 <= caught.value.defer_seconds <= 60
    await pace.wait("bot-b")


async def test_a_429_holds_the_bots_next_send_without_calling_telegram() -> None:
    calls: list[dict[str, Any]] = []

    def platform(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(
            429,
            json={
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 35",
                "parameters": {"retry_after": 35},
            },
        )

    adapter = TelegramAdapter(Settings())
    adapter._http._http = httpx.AsyncClient(
        transport=httpx.MockTransport(platform)
    )  # the platform, mocked
    with pytest.raises(ChannelRetriableError) as first:
        await adapter.send(CONFIG, reply("42"))
    assert first.value.defer_seconds == 35
    with pytest.raises(ChannelRetriableError) as second:
        await adapter.send(CONFIG, reply("43"))
    assert second.value.defer_seconds is not None
    assert second.value.defer_seconds > 30
    assert [c["chat_id"] for c in calls] == ["42"]
    await adapter._http._http.aclose()
