"""The one small interface every channel implements, and the DTOs it speaks.

A channel adapter turns its protocol into `InboundMessage`s and sends
`OutboundMessage`s. It never touches the database; services never speak a
channel's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

# What a channel may keep about a message for its later replies (a LINE reply
# token, the platform's chat id): small JSON values, stored with the message.
ChannelData = Mapping[str, str | int | float | bool | None]


class ChannelKind(StrEnum):
    """The channels that ship with Madoguchi; plug-ins may add kinds of their own."""

    WEB = "web"
    EMAIL = "email"
    TELEGRAM = "telegram"
    LINE = "line"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A delivery as it reached us, before anyone trusted it: an HTTP webhook
    (method, query, headers, the raw body its signature covers) or a mail."""

    method: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What to answer instead of storing anything (Meta's GET handshake)."""

    status: int
    body: str
    media_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote, as the channel knows them. `external_id` is unique on the channel."""

    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str | None = None
    # False when the channel cannot vouch for the id (an email whose DMARC
    # failed): it never joins an existing customer's history.
    verified: bool = True


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    url: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer message as the channel saw it."""

    external_id: str  # the platform's own id: the idempotency key
    thread_key: str  # what ties it to a running conversation ("" for one per customer)
    sender: Sender
    text: str
    sent_at: datetime | None = None
    subject: str | None = None
    # Ids of earlier messages this one answers (email In-Reply-To/References):
    # a match in the same customer's conversation continues it.
    in_reply_to: Sequence[str] = ()
    attachments: Sequence[Attachment] = ()
    # Raw headers responders need (Auto-Submitted, Precedence, List-Id, ...).
    headers: Mapping[str, str] = field(default_factory=dict)
    channel_data: ChannelData = field(default_factory=dict)
    # Set when the sender is a machine (an out-of-office, a bounce, a bot):
    # stored like any message, but no responder ever answers it.
    automatic: bool = False
    # Set when it came from a chat others read too (a Telegram group, a LINE
    # group or room): an answer there is read by all of them, so it never
    # carries what is meant for the sender alone (a signed chat link).
    group: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """The platform's news about a message we sent: delivered, read, failed."""

    external_id: str  # the platform's id of our message (DeliveryReceipt.external_id)
    status: str  # "sent" | "failed"
    error: str | None = None


InboundEvent = InboundMessage | DeliveryUpdate


@dataclass(frozen=True, slots=True)
class PriorMessage:
    """The customer's latest message in the conversation, for replies that must
    refer to it (email threading, a LINE reply token, Meta's 24-hour window)."""

    external_id: str | None
    received_at: datetime
    channel_data: ChannelData = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    conversation_id: int
    message_id: int
    recipient: Sender
    text: str
    author_name: str | None = None
    thread_key: str = ""
    subject: str | None = None
    # Platform ids of the conversation's messages, oldest first (email References).
    references: Sequence[str] = ()
    last_inbound: PriorMessage | None = None
    # An automatic reply (greeting, away, acknowledgement, redirect): mail
    # marks it `Auto-Submitted: auto-replied` (RFC 3834) so no robot answers it.
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    external_id: str | None


class ChannelError(Exception):
    pass


class ChannelVerificationError(ChannelError):
    """The request is not from the platform (bad signature or secret)."""

    def __init__(self, detail: str, status: int = 401) -> None:
        super().__init__(detail)
        self.status = status


class ChannelParseError(ChannelError):
    """The body is not something the platform sends."""


class ChannelRetriableError(ChannelError):
    """Try again later: after `defer_seconds` when the platform said (Retry-After),
    else after the worker's backoff."""

    def __init__(self, detail: str, defer_seconds: float | None = None) -> None:
        super().__init__(detail)
        self.defer_seconds = defer_seconds


class ChannelPermanentError(ChannelError):
    """It will never go through (blocked user, closed window): the agent sees why."""


C = TypeVar("C", bound=BaseModel)


class ChannelAdapter(Protocol[C]):
    """One channel. `verify` and `parse` are pure; only `send` does I/O.

    What else only the channel knows it states as optional attributes, read
    through the functions below, so a plug-in without them still works:

    - `label`: its name as people read it ("LINE", "Email"), and
      `localized_labels` by language ({"ja": "メール"}); else its kind;
    - `public_address(config, *, widget_key, public_url)`: where a customer
      reaches the business through an inbox of it (a link, an address), or
      None; without it the channel has none to give;
    - `asynchronous`: True where a customer writes and waits for an answer
      later (email): they get an acknowledgement, not a chat's greeting;
    - `reply_window`: see `reply_window`.
    """

    @property
    def kind(self) -> str: ...

    @property
    def config_model(self) -> type[C]:
        """The pydantic model of an inbox's `config` on this channel."""
        ...

    @property
    def sends(self) -> bool:
        """Whether replies leave through `send` (the outbox); the widget's are
        delivered over its own socket instead."""
        ...

    @property
    def webhook_path(self) -> str | None:
        """The `{slug}` of `/webhooks/{slug}/{inbox_id}`, or None without webhooks."""
        ...

    def verify(self, config: C, request: InboundRequest) -> WebhookAnswer | None:
        """Raises ChannelVerificationError unless the platform sent this. May answer
        the request itself (a subscription handshake); then nothing is parsed."""
        ...

    def parse(self, config: C, request: InboundRequest) -> Sequence[InboundEvent]:
        """Pure: the events in a verified request (none for pings)."""
        ...

    async def send(self, config: C, message: OutboundMessage) -> DeliveryReceipt:
        """Delivers one message; raises ChannelRetriableError or ChannelPermanentError."""
        ...


def reply_window(adapter: object) -> timedelta | None:
    """How long after the customer's latest message the business may answer
    freely (Meta's platforms: 24 hours), or None where the channel sets no
    limit. An adapter states it as a `reply_window` attribute; the console
    refuses a reply outside it rather than let it fail on the platform."""
    window = getattr(adapter, "reply_window", None)
    return window if isinstance(window, timedelta) else None


def channel_label(adapter: object, language: str | None = None) -> str:
    """The channel's name as a customer or an agent reads it, in the language
    when the adapter translates it (`localized_labels`), else its `label`,
    else its kind."""
    if language:
        localized = getattr(adapter, "localized_labels", None)
        if isinstance(localized, Mapping):
            found = localized.get(language)
            if isinstance(found, str) and found.strip():
                return found
    label = getattr(adapter, "label", None)
    if isinstance(label, str) and label.strip():
        return label
    return str(getattr(adapter, "kind", "") or "")


def is_asynchronous(adapter: object) -> bool:
    """Whether customers write on the channel and expect the answer later
    (email), rather than chat; an adapter says so with `asynchronous = True`."""
    return getattr(adapter, "asynchronous", False) is True


def public_address(
    adapter: object,
    config: Mapping[str, Any] | None,
    *,
    widget_key: str | None = None,
    public_url: str | None = None,
) -> str | None:
    """Where a customer can reach the business through an inbox on the channel
    (`config` as stored), or None: the adapter's `public_address`, given the
    inbox's validated config, this server's public URL and the inbox's widget
    key (for channels served from our own pages). A config the channel cannot
    read names no address rather than failing the caller's answer."""
    address_of = getattr(adapter, "public_address", None)
    model = getattr(adapter, "config_model", None)
    if not callable(address_of) or not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    try:
        parsed = model.model_validate(dict(config or {}))
    except ValidationError:
        return None
    address = address_of(parsed, widget_key=widget_key, public_url=public_url)
    return address.strip() if isinstance(address, str) and address.strip() else None
