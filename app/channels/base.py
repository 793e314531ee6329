"""The one small interface every channel implements, and the DTOs it speaks.

A channel adapter turns its protocol into `InboundMessage`s and sends
`OutboundMessage`s. It never touches the database; services never speak a
channel's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel


class ChannelKind(StrEnum):
    WEB = "web"
    EMAIL = "email"
    TELEGRAM = "telegram"
    LINE = "line"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    WHATSAPP = "whatsapp"


@dataclass(frozen=True, slots=True)
class Sender:
    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None


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
    thread_key: str  # what ties it to a running conversation on that channel
    sender: Sender
    text: str
    sent_at: datetime | None = None
    subject: str | None = None
    in_reply_to: Sequence[str] = ()
    attachments: Sequence[Attachment] = ()
    # Raw headers responders need (Auto-Submitted, Precedence, List-Id, ...).
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    conversation_id: int
    message_id: int
    recipient: Sender
    text: str
    author_name: str | None = None
    thread_key: str = ""
    references: Sequence[str] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    external_id: str | None


class ChannelError(Exception):
    pass


class ChannelVerificationError(ChannelError):
    """The request is not from the platform (bad signature or secret)."""


class ChannelParseError(ChannelError):
    """The body is not something the platform sends."""


class ChannelRetriableError(ChannelError):
    def __init__(self, detail: str, defer_seconds: float = 30) -> None:
        super().__init__(detail)
        self.defer_seconds = defer_seconds


class ChannelPermanentError(ChannelError):
    pass


C = TypeVar("C", bound=BaseModel, contravariant=True)


class ChannelAdapter(Protocol[C]):
    kind: ClassVar[ChannelKind]
    config_model: ClassVar[type[BaseModel]]

    def verify(self, config: C, headers: Mapping[str, str], body: bytes) -> None:
        """Raises ChannelVerificationError unless the platform sent this."""
        ...

    def parse(self, config: C, body: bytes) -> Sequence[InboundMessage]:
        """Pure: the customer messages in a request body (none for status events)."""
        ...

    async def send(self, config: C, message: OutboundMessage) -> DeliveryReceipt:
        """Delivers one message; raises ChannelRetriableError or ChannelPermanentError."""
        ...
