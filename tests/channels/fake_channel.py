"""FakeChat: the test channel that exercises the channel protocol end to end.

A small platform of our own invention, shaped like the real ones: it signs
each webhook with an HMAC of the raw body, puts its bot token in the send
URL's path (as Telegram does), retries on 5xx, and says Retry-After on 429.
The server loads it as a plug-in (MADOGUCHI_CHANNEL_PLUGINS); docs/channels.md
walks through it as the example of a new channel. Like a built-in channel it
says what only it knows: its label, and where customers find the business on
it (the redirect text names both).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, Field

from app.channels.base import (
    ChannelParseError,
    ChannelPermanentError,
    ChannelRetriableError,
    ChannelVerificationError,
    DeliveryReceipt,
    DeliveryUpdate,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    OutboundMessage,
    Sender,
    WebhookAnswer,
)


class FakeChatConfig(BaseModel):
    secret: str = Field(min_length=8)
    bot_token: str = Field(min_length=8)
    api_base: str
    verify_token: str = "subscribe-me"
    # Public: the business's account, https://fakechat.example/<handle>.
    handle: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")


PUBLIC_BASE = "https://fakechat.example"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeChat:
    kind: ClassVar[str] = "fakechat"
    config_model: ClassVar[type[FakeChatConfig]] = FakeChatConfig
    sends: ClassVar[bool] = True
    webhook_path: ClassVar[str | None] = "fakechat"
    label: ClassVar[str] = "FakeChat"

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    def public_address(
        self, config: FakeChatConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        return f"{PUBLIC_BASE}/{config.handle}" if config.handle else None

    def verify(self, config: FakeChatConfig, request: InboundRequest) -> WebhookAnswer | None:
        if request.method == "GET":
            # The subscription handshake: echo the challenge for the right token.
            if not hmac.compare_digest(request.query.get("token", ""), config.verify_token):
                raise ChannelVerificationError("wrong verify token", status=403)
            return WebhookAnswer(200, request.query.get("challenge", ""))
        given = request.headers.get("x-fake-signature", "")
        if not hmac.compare_digest(given, sign(config.secret, request.body)):
            raise ChannelVerificationError("bad signature")
        return None

    def parse(self, config: FakeChatConfig, request: InboundRequest) -> Sequence[InboundEvent]:
        try:
            payload = json.loads(request.body)
            events = payload["events"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelParseError("not a FakeChat webhook") from exc
        parsed: list[InboundEvent] = []
        for event in events:
            if event.get("type") == "status":
                parsed.append(
                    DeliveryUpdate(event["message_id"], event["status"], event.get("error"))
                )
            elif event.get("type") == "message":
                user = event["user"]
                parsed.append(
                    InboundMessage(
                        external_id=str(event["id"]),
                        thread_key=str(event.get("thread", "")),
                        sender=Sender(external_id=str(user["id"]), name=user.get("name")),
                        text=str(event["text"]),
                        sent_at=datetime.fromtimestamp(event.get("ts", 0), UTC),
                        in_reply_to=tuple(event.get("reply_to", ())),
                        channel_data={"chat_id": str(user["id"])},
                    )
                )
        return parsed

    async def send(self, config: FakeChatConfig, message: OutboundMessage) -> DeliveryReceipt:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10)
        body: dict[str, Any] = {
            "chat_id": message.last_inbound.channel_data.get("chat_id")
            if message.last_inbound
            else message.recipient.external_id,
            "text": message.text,
            "reply_to": message.last_inbound.external_id if message.last_inbound else None,
        }
        url = f"{config.api_base}/bot{config.bot_token}/send"
        try:
            response = await self._http.post(url, json=body)
        except httpx.TransportError as exc:
            raise ChannelRetriableError(f"{url}: {exc.__class__.__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("retry-after")
            raise ChannelRetriableError(
                f"{url}: {response.status_code}",
                float(retry_after) if retry_after else None,
            )
        if response.status_code >= 400:
            raise ChannelPermanentError(f"{url}: {response.json().get('description')}")
        return DeliveryReceipt(external_id=str(response.json()["message_id"]))
