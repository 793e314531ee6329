"""WhatsApp Cloud API: the business account's webhook in, `/{phone_number_id}/messages` out.

A webhook's `entry[].changes[].value` holds `messages` (what customers
wrote, each with its `wamid`, the idempotency key, and the sender's profile
name in `contacts`) and `statuses` (news about what we sent: sent,
delivered, read, failed). Only a failure changes anything here: it marks our
message failed with WhatsApp's reason. Media arrive as ids that need the
access token to fetch, so they are stored as placeholders with their names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from app.channels.base import (
    Attachment,
    ChannelKind,
    ChannelPermanentError,
    DeliveryReceipt,
    DeliveryUpdate,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    OutboundMessage,
    Sender,
    WebhookAnswer,
)
from app.channels.content import (
    attachment,
    from_epoch_seconds,
    joined,
    location_text,
    placeholder,
)
from app.channels.meta import common
from app.channels.platform_http import PlatformClient, json_body
from app.config import Settings

# Not something a customer said: a reaction to a message, a number change
# notice, the "chat opened" ping.
_IGNORED_TYPES = frozenset({"reaction", "system", "request_welcome"})


class WhatsAppConfig(BaseModel):
    phone_number_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9]+$")
    app_secret: str = Field(min_length=8, max_length=200)
    verify_token: str = Field(min_length=1, max_length=200)
    access_token: str = Field(min_length=8, max_length=2000)
    # Public: the redirect text links to https://wa.me/<digits>.
    display_phone_number: str | None = Field(
        default=None, max_length=40, pattern=r"^\+?[0-9 ()-]+$"
    )


class WhatsAppAdapter:
    kind: ClassVar[str] = ChannelKind.WHATSAPP.value
    config_model: ClassVar[type[WhatsAppConfig]] = WhatsAppConfig
    sends: ClassVar[bool] = True
    webhook_path: ClassVar[str | None] = "meta"
    reply_window: ClassVar[timedelta] = common.REPLY_WINDOW
    label: ClassVar[str] = "WhatsApp"

    def __init__(self, settings: Settings) -> None:
        self.api_base = settings.graph_api_base.rstrip("/")
        self._http = PlatformClient("WhatsApp")

    def public_address(
        self, config: WhatsAppConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        """The click-to-chat link: the number's digits, without "+" or spaces."""
        digits = re.sub(r"\D", "", config.display_phone_number or "")
        return f"https://wa.me/{digits}" if digits else None

    def verify(self, config: WhatsAppConfig, request: InboundRequest) -> WebhookAnswer | None:
        return common.verify(config.app_secret, config.verify_token, request)

    def parse(self, config: WhatsAppConfig, request: InboundRequest) -> Sequence[InboundEvent]:
        found: list[InboundEvent] = []
        for entry in common.entries(request, "whatsapp_business_account"):
            for change in common.dicts(entry.get("changes")):
                value = change.get("value")
                if change.get("field") != "messages" or not isinstance(value, dict):
                    continue
                metadata = value.get("metadata")
                number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
                # One business account may hold several numbers; this inbox is one.
                if str(number) != config.phone_number_id:
                    continue
                names = {
                    str(c.get("wa_id")): c["profile"].get("name")
                    for c in common.dicts(value.get("contacts"))
                    if isinstance(c.get("profile"), dict)
                }
                for message in common.dicts(value.get("messages")):
                    inbound = _message(message, names)
                    if inbound is not None:
                        found.append(inbound)
                for status in common.dicts(value.get("statuses")):
                    update = _status(status)
                    if update is not None:
                        found.append(update)
        return found

    async def send(self, config: WhatsAppConfig, message: OutboundMessage) -> DeliveryReceipt:
        data: Mapping[str, Any] = message.last_inbound.channel_data if message.last_inbound else {}
        to = data.get("wa_id") or message.recipient.external_id
        if not to:
            raise ChannelPermanentError("WhatsApp: no one to answer")
        response = await self._http.post(
            f"{self.api_base}/{config.phone_number_id}/messages",
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"body": message.text, "preview_url": False},
            },
            what="messages",
            headers=common.auth(config.access_token),
        )
        if response.status_code >= 300:
            raise common.send_error("WhatsApp", "messages", response)
        sent = common.dicts(json_body(response).get("messages"))
        return DeliveryReceipt(
            external_id=str(sent[0]["id"]) if sent and sent[0].get("id") else None
        )


def _message(message: dict[str, Any], names: Mapping[str, Any]) -> InboundMessage | None:
    kind = str(message.get("type") or "")
    sender = message.get("from")
    if kind in _IGNORED_TYPES or not sender or not message.get("id"):
        return None
    text, attachments = _content(kind, message)
    name = names.get(str(sender))
    return InboundMessage(
        external_id=str(message["id"]),
        thread_key="",
        sender=Sender(
            external_id=str(sender),
            name=str(name) if name else None,
            phone=f"+{sender}",
        ),
        text=text,
        sent_at=from_epoch_seconds(message.get("timestamp")),
        attachments=attachments,
        channel_data={"wa_id": str(sender)},
    )


def _content(kind: str, message: dict[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
    raw = message.get(kind)
    body: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind == "text":
        return str(body.get("body") or ""), ()
    if kind in ("image", "video", "audio", "sticker", "document"):
        filename = body.get("filename")
        caption = body.get("caption")
        label = "voice" if kind == "audio" and body.get("voice") else kind
        return joined(
            placeholder(label, filename), caption if isinstance(caption, str) else None
        ), (attachment(label, filename=filename, content_type=body.get("mime_type")),)
    if kind == "location":
        where = body.get("name") or body.get("address")
        return location_text(body.get("latitude"), body.get("longitude"), where), ()
    if kind == "contacts":
        people = [
            str(c["name"].get("formatted_name"))
            for c in common.dicts(message.get("contacts"))
            if isinstance(c.get("name"), dict) and c["name"].get("formatted_name")
        ]
        return placeholder("contact", ", ".join(people) or None), ()
    if kind == "button":
        return str(body.get("text") or placeholder("button")), ()
    if kind == "interactive":
        for reply in ("button_reply", "list_reply"):
            chosen = body.get(reply)
            if isinstance(chosen, dict) and chosen.get("title"):
                return str(chosen["title"]), ()
        return placeholder("interactive reply"), ()
    errors = common.dicts(message.get("errors"))
    detail = str(errors[0].get("title")) if errors and errors[0].get("title") else kind or None
    return placeholder("unsupported message", detail), ()


def _status(status: dict[str, Any]) -> DeliveryUpdate | None:
    if status.get("status") != "failed" or not status.get("id"):
        # sent, delivered, read: nothing an agent must act on.
        return None
    reasons = []
    for error in common.dicts(status.get("errors")):
        details = error.get("error_data")
        detail = details.get("details") if isinstance(details, dict) else None
        reason = " ".join(str(p) for p in (error.get("code"), error.get("title")) if p)
        reasons.append(f"{reason}: {detail}" if detail else reason)
    return DeliveryUpdate(
        external_id=str(status["id"]),
        status="failed",
        error="WhatsApp: " + ("; ".join(reasons) or "failed"),
    )
