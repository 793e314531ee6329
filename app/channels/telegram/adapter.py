"""Telegram: a bot's webhook in, `sendMessage` out.

Telegram signs nothing; it sends the `secret_token` given to `setWebhook` in
the `X-Telegram-Bot-Api-Secret-Token` header of every update. One update
carries at most one message. A message's id is unique within its chat, so
`{chat_id}:{message_id}` is the idempotency key: a redelivered update is the
same message, and an edit (`edited_message`) carries the same ids and never
becomes a second customer message.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from app.channels.base import (
    Attachment,
    ChannelKind,
    ChannelParseError,
    ChannelPermanentError,
    ChannelRetriableError,
    ChannelVerificationError,
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
    from_epoch_seconds,
    joined,
    location_text,
    placeholder,
)
from app.channels.platform_http import PlatformClient, json_body, reason_text
from app.config import Settings

SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name

# Service messages in a chat (someone joined, a title changed): not something
# a customer said to the business.
_SERVICE_KEYS = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "channel_chat_created",
        "message_auto_delete_timer_changed",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "write_access_allowed",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "video_chat_started",
        "video_chat_ended",
        "video_chat_scheduled",
        "video_chat_participants_invited",
        "chat_shared",
        "users_shared",
        "connected_website",
        "proximity_alert_triggered",
        "boost_added",
    }
)


class TelegramConfig(BaseModel):
    bot_token: str = Field(min_length=8, max_length=200, pattern=r"^[^/\s]+$")
    # What setWebhook was given: 1-256 characters of A-Z, a-z, 0-9, _ and -.
    secret_token: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$")
    # Public: the redirect text links to https://t.me/<bot_username>.
    bot_username: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_]+$")


class TelegramAdapter:
    kind: ClassVar[str] = ChannelKind.TELEGRAM.value
    config_model: ClassVar[type[TelegramConfig]] = TelegramConfig
    sends: ClassVar[bool] = True
    webhook_path: ClassVar[str | None] = "telegram"
    label: ClassVar[str] = "Telegram"

    def __init__(self, settings: Settings) -> None:
        self.api_base = settings.telegram_api_base.rstrip("/")
        self._http = PlatformClient("Telegram")
        self.pace = SendPace(BOT_SENDS_PER_SECOND)

    def public_address(
        self, config: TelegramConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        return f"https://t.me/{config.bot_username}" if config.bot_username else None

    def verify(self, config: TelegramConfig, request: InboundRequest) -> WebhookAnswer | None:
        given = request.headers.get(SECRET_HEADER, "")
        if not given or not hmac.compare_digest(given.encode(), config.secret_token.encode()):
            raise ChannelVerificationError("wrong or missing X-Telegram-Bot-Api-Secret-Token")
        return None

    def parse(self, config: TelegramConfig, request: InboundRequest) -> Sequence[InboundEvent]:
        try:
            update = json.loads(request.body)
        except ValueError as exc:
            raise ChannelParseError("not JSON") from exc
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise ChannelParseError("not a Telegram update")
        # Edits, channel posts, button presses, membership changes: none is a
        # new customer message. An edit keeps the original as it was stored.
        message = update.get("message")
        if not isinstance(message, dict):
            return []
        inbound = _message(message)
        return [inbound] if inbound is not None else []

    async def send(self, config: TelegramConfig, message: OutboundMessage) -> DeliveryReceipt:
        data: Mapping[str, Any] = message.last_inbound.channel_data if message.last_inbound else {}
        chat_id = data.get("chat_id") or message.recipient.external_id
        if not chat_id:
            raise ChannelPermanentError("Telegram: no chat to answer")
        await self.pace.wait(config.bot_token)
        try:
            response = await self._http.post(
                f"{self.api_base}/bot{config.bot_token}/sendMessage",
                {"chat_id": chat_id, "text": message.text},
                what="sendMessage",
            )
        except ChannelRetriableError as exc:
            if exc.defer_seconds:
                # 429's retry_after holds the bot's other sends too, not only this one.
                self.pace.hold(config.bot_token, exc.defer_seconds)
            raise
        body = json_body(response)
        if response.status_code >= 400 or body.get("ok") is not True:
            # 400 chat not found, 403 blocked by the user, 401 a revoked token:
            # sending again will not help.
            raise ChannelPermanentError(
                f"Telegram sendMessage: {response.status_code} {reason_text(response)}"
            )
        result = body.get("result")
        sent_id = result.get("message_id") if isinstance(result, dict) else None
        return DeliveryReceipt(external_id=f"{chat_id}:{sent_id}" if sent_id else None)


# Telegram's bot limit: about 30 messages a second in all, more draws 429s
# (core.telegram.org/bots/faq). Sends are spaced to stay under it.
BOT_SENDS_PER_SECOND = 30.0
# A send that would wait longer than this for its turn is deferred instead
# (the job retries then), so a held bot does not hold the worker's round.
MAX_PACE_WAIT_SECONDS = 2.0


class SendPace:
    """Spaces one bot's sends `1/rate` seconds apart, in this process."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next: dict[str, float] = {}

    async def wait(self, key: str) -> None:
        now = asyncio.get_running_loop().time()
        turn = max(now, self._next.get(key, now))
        if turn - now > MAX_PACE_WAIT_SECONDS:
            raise ChannelRetriableError("Telegram: the bot's sending rate is spent", turn - now)
        self._next[key] = turn + self.interval
        if turn > now:
            await asyncio.sleep(turn - now)

    def hold(self, key: str, seconds: float) -> None:
        """The platform said wait (429): no send of this bot before then."""
        until = asyncio.get_running_loop().time() + seconds
        self._next[key] = max(self._next.get(key, until), until)


def _message(message: dict[str, Any]) -> InboundMessage | None:
    sender = message.get("from")
    chat = message.get("chat")
    if not isinstance(sender, dict) or not isinstance(chat, dict) or "id" not in chat:
        return None
    if sender.get("is_bot"):
        return None
    text, attachments = _content(message)
    if text is None:
        return None
    chat_id = chat["id"]
    private = chat.get("type") == "private"
    name = " ".join(str(p) for p in (sender.get("first_name"), sender.get("last_name")) if p)
    return InboundMessage(
        external_id=f"{chat_id}:{message.get('message_id')}",
        # A group is a conversation of its own: a reply goes to the whole group,
        # never into the customer's private chat, nor the other way round.
        thread_key="" if private else f"chat:{chat_id}",
        sender=Sender(
            external_id=str(sender.get("id")),
            name=name or sender.get("username"),
            language=sender.get("language_code"),
        ),
        text=text,
        sent_at=from_epoch_seconds(message.get("date")),
        attachments=attachments,
        channel_data={"chat_id": chat_id, "message_id": message.get("message_id")},
        # Anything but a private chat (a group, a supergroup, a channel) is read by many.
        group=not private,
    )


def _content(message: dict[str, Any]) -> tuple[str | None, tuple[Attachment, ...]]:
    """The readable text and the attachments; (None, ()) for a service message."""
    caption = message.get("caption") if isinstance(message.get("caption"), str) else None
    if isinstance(message.get("text"), str):
        return message["text"], ()
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        largest = photo[-1] if isinstance(photo[-1], dict) else {}
        return joined(placeholder("photo"), caption), (
            attachment("photo", size=largest.get("file_size")),
        )
    sticker = message.get("sticker")
    if isinstance(sticker, dict):
        return placeholder("sticker", sticker.get("emoji")), (attachment("sticker"),)
    # An animation comes with a `document` too: look at it first.
    for kind in ("animation", "video", "video_note", "audio", "voice", "document"):
        media = message.get(kind)
        if isinstance(media, dict):
            filename = media.get("file_name")
            return joined(placeholder(kind, filename), caption), (
                attachment(
                    kind,
                    filename=filename,
                    content_type=media.get("mime_type"),
                    size=media.get("file_size"),
                ),
            )
    venue = message.get("venue")
    location = message.get("location")
    if isinstance(location, dict):
        title = venue.get("title") if isinstance(venue, dict) else None
        return location_text(location.get("latitude"), location.get("longitude"), title), ()
    contact = message.get("contact")
    if isinstance(contact, dict):
        who = " ".join(
            str(p)
            for p in (
                contact.get("first_name"),
                contact.get("last_name"),
                contact.get("phone_number"),
            )
            if p
        )
        return placeholder("contact", who or None), ()
    if isinstance(message.get("poll"), dict):
        return placeholder("poll", message["poll"].get("question")), ()
    if isinstance(message.get("dice"), dict):
        return placeholder("dice", message["dice"].get("emoji")), ()
    if _SERVICE_KEYS.intersection(message):
        return None, ()
    return joined(placeholder("unsupported message"), caption), ()
