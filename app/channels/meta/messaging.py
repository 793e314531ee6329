"""Messenger and Instagram: the Messenger Platform's webhook in, the Send API out.

Both post `{"object": "page" | "instagram", "entry": [{"messaging": [...]}]}`;
a customer message has the platform's `mid` (the idempotency key). Echoes of
what the business sent (`is_echo`), read and delivery receipts, reactions and
edits are not customer messages. An Instagram comment on a post arrives as
`entry[].changes[]` (`field: "comments"`) and is answered by a private reply
(`recipient.comment_id`), never in public. Neither payload names the
customer beyond an id (a comment gives the username).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from app.channels.base import (
    Attachment,
    ChannelKind,
    ChannelPermanentError,
    DeliveryReceipt,
    InboundEvent,
    InboundMessage,
    InboundRequest,
    OutboundMessage,
    Sender,
    WebhookAnswer,
)
from app.channels.content import (
    attachment,
    from_epoch_millis,
    from_epoch_seconds,
    joined,
    location_text,
    placeholder,
)
from app.channels.meta import common
from app.channels.platform_http import PlatformClient, json_body
from app.config import Settings


class PageConfig(BaseModel):
    page_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9]+$")
    app_secret: str = Field(min_length=8, max_length=200)
    verify_token: str = Field(min_length=1, max_length=200)
    page_access_token: str = Field(min_length=8, max_length=2000)


class InstagramConfig(PageConfig):
    # Public: the redirect text links to https://ig.me/m/<username>.
    username: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9._]+$")
    # The Instagram professional account's id (`entry[].id` of its webhooks).
    # One Meta app's callback carries every account the app serves: with it
    # set, this inbox takes only its own account's events. Unset, it takes
    # every account's (one account per app).
    account_id: str | None = Field(default=None, max_length=64, pattern=r"^[0-9]+$")


class _PageMessaging:
    """What Messenger and Instagram do alike; `object_name` tells them apart."""

    object_name: ClassVar[str]
    platform: ClassVar[str]
    sends: ClassVar[bool] = True
    webhook_path: ClassVar[str | None] = "meta"
    reply_window: ClassVar[timedelta] = common.REPLY_WINDOW

    def __init__(self, settings: Settings) -> None:
        self.api_base = settings.graph_api_base.rstrip("/")
        self._http = PlatformClient(self.platform)

    def verify(self, config: PageConfig, request: InboundRequest) -> WebhookAnswer | None:
        return common.verify(config.app_secret, config.verify_token, request)

    def parse(self, config: PageConfig, request: InboundRequest) -> Sequence[InboundEvent]:
        found: list[InboundEvent] = []
        for entry in common.entries(request, self.object_name):
            if not self._for_us(config, entry):
                continue
            for event in common.dicts(entry.get("messaging")):
                inbound = _messaging_event(event, own_id=str(entry.get("id", "")))
                if inbound is not None:
                    found.append(inbound)
            for change in common.dicts(entry.get("changes")):
                inbound = self._change(entry, change)
                if inbound is not None:
                    found.append(inbound)
        return found

    def _for_us(self, config: PageConfig, entry: dict[str, Any]) -> bool:
        return True

    def _change(self, entry: dict[str, Any], change: dict[str, Any]) -> InboundMessage | None:
        return None

    async def send(self, config: PageConfig, message: OutboundMessage) -> DeliveryReceipt:
        data: Mapping[str, Any] = message.last_inbound.channel_data if message.last_inbound else {}
        comment_id = data.get("comment_id")
        payload: dict[str, Any]
        if comment_id:
            # A private reply: the answer to a public comment goes to the
            # commenter's inbox, so nothing personal is ever said in public.
            payload = {"recipient": {"comment_id": comment_id}, "message": {"text": message.text}}
        else:
            recipient = data.get("recipient_id") or message.recipient.external_id
            if not recipient:
                raise ChannelPermanentError(f"{self.platform}: no one to answer")
            payload = {
                "recipient": {"id": recipient},
                "messaging_type": "RESPONSE",
                "message": {"text": message.text},
            }
        response = await self._http.post(
            f"{self.api_base}/me/messages",
            payload,
            what="Send API",
            headers=common.auth(config.page_access_token),
        )
        if response.status_code >= 300:
            raise common.send_error(self.platform, "Send API", response)
        sent = json_body(response).get("message_id")
        return DeliveryReceipt(external_id=str(sent) if sent else None)


class MessengerAdapter(_PageMessaging):
    kind: ClassVar[str] = ChannelKind.MESSENGER.value
    config_model: ClassVar[type[PageConfig]] = PageConfig
    object_name: ClassVar[str] = "page"
    platform: ClassVar[str] = "Messenger"
    label: ClassVar[str] = "Messenger"

    def public_address(
        self, config: PageConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        return f"https://m.me/{config.page_id}"

    def _for_us(self, config: PageConfig, entry: dict[str, Any]) -> bool:
        # One app's callback carries every page it serves: this inbox is one page.
        return str(entry.get("id")) == config.page_id


class InstagramAdapter(_PageMessaging):
    kind: ClassVar[str] = ChannelKind.INSTAGRAM.value
    config_model: ClassVar[type[InstagramConfig]] = InstagramConfig
    object_name: ClassVar[str] = "instagram"
    platform: ClassVar[str] = "Instagram"
    label: ClassVar[str] = "Instagram"

    def public_address(
        self, config: InstagramConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        return f"https://ig.me/m/{config.username}" if config.username else None

    def _for_us(self, config: PageConfig, entry: dict[str, Any]) -> bool:
        account_id = config.account_id if isinstance(config, InstagramConfig) else None
        return account_id is None or str(entry.get("id")) == account_id

    def _change(self, entry: dict[str, Any], change: dict[str, Any]) -> InboundMessage | None:
        value = change.get("value")
        if change.get("field") != "comments" or not isinstance(value, dict):
            return None
        author = value.get("from")
        comment_id = value.get("id")
        if not isinstance(author, dict) or not author.get("id") or not comment_id:
            return None
        if str(author["id"]) == str(entry.get("id")):
            return None  # the business's own comment (an answer in the thread)
        return InboundMessage(
            external_id=f"comment:{comment_id}",
            thread_key="",
            sender=Sender(external_id=str(author["id"]), name=author.get("username")),
            text=placeholder("comment on a post") + " " + str(value.get("text") or ""),
            sent_at=_entry_time(entry.get("time")),
            channel_data={"recipient_id": str(author["id"]), "comment_id": str(comment_id)},
        )


def _entry_time(value: object) -> datetime | None:
    # Instagram gives `time` in milliseconds on some fields and seconds on others.
    if isinstance(value, int | float) and value > 10**11:
        return from_epoch_millis(value)
    return from_epoch_seconds(value)


def _messaging_event(event: dict[str, Any], own_id: str) -> InboundMessage | None:
    sender = event.get("sender")
    sender_id = str(sender.get("id", "")) if isinstance(sender, dict) else ""
    if not sender_id or sender_id == own_id:
        return None  # nobody, or the business itself
    sent_at = from_epoch_millis(event.get("timestamp"))
    message = event.get("message")
    if isinstance(message, dict):
        if message.get("is_echo") or message.get("is_deleted") or not message.get("mid"):
            return None
        text, attachments = _content(message)
        return InboundMessage(
            external_id=str(message["mid"]),
            thread_key="",
            sender=Sender(external_id=sender_id),
            text=text,
            sent_at=sent_at,
            attachments=attachments,
            channel_data={"recipient_id": sender_id},
        )
    postback = event.get("postback")
    if isinstance(postback, dict):
        # A tap on a button we offered: the customer's answer is its title.
        key = postback.get("mid") or f"postback:{sender_id}:{event.get('timestamp')}"
        return InboundMessage(
            external_id=str(key),
            thread_key="",
            sender=Sender(external_id=sender_id),
            text=str(postback.get("title") or placeholder("button")),
            sent_at=sent_at,
            channel_data={"recipient_id": sender_id},
        )
    # read, delivery, reaction, message_edit, optin, referral: not messages.
    return None


def _content(message: dict[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
    parts: list[str] = []
    found: list[Attachment] = []
    if message.get("is_unsupported"):
        parts.append(placeholder("unsupported message"))
    for item in common.dicts(message.get("attachments")):
        kind = str(item.get("type") or "attachment")
        raw = item.get("payload")
        payload: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if kind == "location":
            coordinates = payload.get("coordinates")
            if isinstance(coordinates, dict):
                parts.append(location_text(coordinates.get("lat"), coordinates.get("long")))
                continue
        if kind == "image" and payload.get("sticker_id"):
            kind = "sticker"
        parts.append(placeholder(kind, item.get("title") if kind == "fallback" else None))
        found.append(attachment(kind, url=payload.get("url")))
    reply_to = message.get("reply_to")
    if isinstance(reply_to, dict) and isinstance(reply_to.get("story"), dict):
        parts.append(placeholder("story reply"))
    text = message.get("text")
    body = joined(*parts, text if isinstance(text, str) else None)
    return body or placeholder("empty message"), tuple(found)
