"""LINE: the Messaging API's webhook in, a reply or a push out.

LINE signs the raw body: `X-Line-Signature` is the base64 HMAC-SHA256 of it
under the channel secret. A webhook carries a batch of events; only `message`
events are things a customer said (follow, unfollow, join, postback, unsend
are not). `webhookEventId` stays the same when LINE redelivers an event, so
it is the idempotency key. The payload names no one: LINE gives a user id,
and a display name only through a profile call, so customers start nameless.

A reply token is free to use (a push counts against the plan's message quota)
but single use and short-lived, so an agent's first answer within that time
goes out as a reply and everything else as a push.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, Field

from app.channels.base import (
    Attachment,
    ChannelKind,
    ChannelParseError,
    ChannelPermanentError,
    ChannelVerificationError,
    DeliveryReceipt,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    OutboundMessage,
    Sender,
    WebhookAnswer,
)
from app.channels.content import attachment, from_epoch_millis, location_text, placeholder
from app.channels.platform_http import PlatformClient, json_body, reason_text
from app.config import Settings
from app.kit.clock import clock

SIGNATURE_HEADER = "x-line-signature"
# LINE documents reply tokens as valid for about a minute; after 50 s a push is
# the safer way, since a stale token costs a round trip and then a push anyway.
REPLY_TOKEN_LIFETIME = timedelta(seconds=50)
_RETRY_KEYS = uuid.UUID("6f1c7d2e-52b4-4c52-9a8e-6d61646f6775")


class LineConfig(BaseModel):
    channel_secret: str = Field(min_length=8, max_length=200)
    channel_access_token: str = Field(min_length=8, max_length=2000)
    # Public: the redirect text links to https://line.me/R/ti/p/<basic_id>.
    basic_id: str | None = Field(default=None, max_length=40, pattern=r"^@?[A-Za-z0-9._-]+$")


def signature(channel_secret: str, body: bytes) -> str:
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class LineAdapter:
    kind: ClassVar[str] = ChannelKind.LINE.value
    config_model: ClassVar[type[LineConfig]] = LineConfig
    sends: ClassVar[bool] = True
    webhook_path: ClassVar[str | None] = "line"
    label: ClassVar[str] = "LINE"

    def __init__(self, settings: Settings) -> None:
        self.api_base = settings.line_api_base.rstrip("/")
        self._http = PlatformClient("LINE")

    def public_address(
        self, config: LineConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        """The add-friend link; LINE's basic ids start with "@", said or not."""
        if not config.basic_id:
            return None
        handle = config.basic_id if config.basic_id.startswith("@") else f"@{config.basic_id}"
        return f"https://line.me/R/ti/p/{quote(handle)}"

    def verify(self, config: LineConfig, request: InboundRequest) -> WebhookAnswer | None:
        given = request.headers.get(SIGNATURE_HEADER, "")
        expected = signature(config.channel_secret, request.body)
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ChannelVerificationError("bad or missing X-Line-Signature")
        return None

    def parse(self, config: LineConfig, request: InboundRequest) -> Sequence[InboundEvent]:
        try:
            payload = json.loads(request.body)
        except ValueError as exc:
            raise ChannelParseError("not JSON") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            raise ChannelParseError("not a LINE webhook")
        # `"events": []` is LINE's connectivity check: answered 200, nothing stored.
        messages = (_message(e) for e in payload["events"] if isinstance(e, dict))
        return [m for m in messages if m is not None]

    async def send(self, config: LineConfig, message: OutboundMessage) -> DeliveryReceipt:
        data: Mapping[str, Any] = message.last_inbound.channel_data if message.last_inbound else {}
        to = data.get("to") or message.recipient.external_id
        if not to:
            raise ChannelPermanentError("LINE: no chat to answer")
        messages = [{"type": "text", "text": message.text}]
        auth = {"authorization": f"Bearer {config.channel_access_token}"}
        token = data.get("reply_token")
        issued = from_epoch_millis(data.get("reply_token_at"))
        if isinstance(token, str) and issued and clock.now() - issued < REPLY_TOKEN_LIFETIME:
            response = await self._http.post(
                f"{self.api_base}/v2/bot/message/reply",
                {"replyToken": token, "messages": messages},
                what="reply",
                headers=auth,
            )
            if response.status_code < 300:
                return DeliveryReceipt(external_id=_sent_id(response))
            if response.status_code != 400:
                raise ChannelPermanentError(
                    f"LINE reply: {response.status_code} {_reason(response)}"
                )
            # 400: the token was used (an earlier answer) or ran out. Push instead.
        # The retry key makes a retried push go out once even when an earlier try
        # reached LINE and only its answer was lost; 409 means it did.
        retry_key = uuid.uuid5(_RETRY_KEYS, f"{to}:{message.conversation_id}:{message.message_id}")
        response = await self._http.post(
            f"{self.api_base}/v2/bot/message/push",
            {"to": to, "messages": messages},
            what="push",
            headers={**auth, "x-line-retry-key": str(retry_key)},
        )
        if response.status_code == 409:
            return DeliveryReceipt(external_id=None)
        if response.status_code >= 300:
            raise ChannelPermanentError(f"LINE push: {response.status_code} {_reason(response)}")
        return DeliveryReceipt(external_id=_sent_id(response))


def _sent_id(response: Any) -> str | None:
    sent = json_body(response).get("sentMessages")
    if isinstance(sent, list) and sent and isinstance(sent[0], dict) and sent[0].get("id"):
        return str(sent[0]["id"])
    return None


def _reason(response: Any) -> str:
    reason = reason_text(response)
    details = json_body(response).get("details")
    if isinstance(details, list):
        extra = "; ".join(
            str(d.get("message")) for d in details if isinstance(d, dict) and d.get("message")
        )
        if extra:
            reason = f"{reason} ({extra})"
    return reason


def _message(event: dict[str, Any]) -> InboundMessage | None:
    if event.get("type") != "message":
        return None
    content = event.get("message")
    source = event.get("source")
    if not isinstance(content, dict) or not isinstance(source, dict):
        return None
    user_id = source.get("userId")
    if not isinstance(user_id, str) or not user_id:
        return None
    kind = source.get("type")
    if kind == "group" and source.get("groupId"):
        to, thread_key = str(source["groupId"]), f"group:{source['groupId']}"
    elif kind == "room" and source.get("roomId"):
        to, thread_key = str(source["roomId"]), f"room:{source['roomId']}"
    else:
        to, thread_key = user_id, ""
    text, attachments = _content(content)
    event_id = event.get("webhookEventId") or content.get("id")
    if not event_id:
        return None
    channel_data: dict[str, str | int | float | bool | None] = {
        "to": to,
        "message_id": str(content.get("id")),
    }
    if isinstance(event.get("replyToken"), str):
        channel_data["reply_token"] = event["replyToken"]
        channel_data["reply_token_at"] = event.get("timestamp")
    return InboundMessage(
        external_id=str(event_id),
        # A group or a room is a conversation of its own, answered there.
        thread_key=thread_key,
        sender=Sender(external_id=user_id),
        text=text,
        sent_at=from_epoch_millis(event.get("timestamp")),
        attachments=attachments,
        channel_data=channel_data,
        # A reply token answers where the event came from: a group or a room
        # is read by many, even when its id is missing and the push goes to the user.
        group=kind != "user",
    )


def _content(content: dict[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
    kind = str(content.get("type") or "")
    if kind == "text":
        return str(content.get("text") or ""), ()
    if kind in ("image", "video", "audio"):
        provider = content.get("contentProvider")
        url = provider.get("originalContentUrl") if isinstance(provider, dict) else None
        return placeholder(kind), (attachment(kind, url=url),)
    if kind == "file":
        name = content.get("fileName")
        return placeholder("file", name), (
            attachment("file", filename=name, size=content.get("fileSize")),
        )
    if kind == "sticker":
        keywords = content.get("keywords")
        hint = keywords[0] if isinstance(keywords, list) and keywords else None
        return placeholder("sticker", str(hint) if hint else None), (attachment("sticker"),)
    if kind == "location":
        where = content.get("title") or content.get("address")
        return location_text(content.get("latitude"), content.get("longitude"), where), ()
    return placeholder("unsupported message", kind or None), ()
