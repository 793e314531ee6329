"""The web widget. Its transport is our own WebSocket, so it has no webhook and
no `send`: the socket endpoint authenticates, and delivery is the realtime fan-out."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from app.channels.base import (
    ChannelKind,
    ChannelPermanentError,
    DeliveryReceipt,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    WebhookAnswer,
)
from app.kit.text import StorableStr


class WebConfig(BaseModel):
    allowed_origins: list[StorableStr] = Field(default_factory=list, max_length=100)
    identity_secret: StorableStr = Field(
        default_factory=lambda: secrets.token_hex(32), min_length=16
    )
    # Where this site's verified user ids live. Unset, each inbox is its own
    # namespace; an admin gives two inboxes the same name to share their users.
    identity_namespace: StorableStr | None = Field(default=None, min_length=1, max_length=80)

    @field_validator("allowed_origins")
    @classmethod
    def _normalise(cls, origins: list[str]) -> list[str]:
        out = []
        for origin in origins:
            origin = origin.strip().rstrip("/").lower()
            if not origin.startswith(("http://", "https://")):
                raise ValueError(f"an origin is scheme://host[:port], not {origin!r}")
            out.append(origin)
        return out

    def allows_origin(
        self, origin: str | None, host: str | None = None, public_url: str | None = None
    ) -> bool:
        """Whether a page of `origin` may use the widget. The server's own
        pages (`/chat/{key}`, `/demo`) always may, whatever the list says:
        the request's own `host`, or the server's `public_url`."""
        if not self.allowed_origins:
            return True
        if origin is None:
            return False
        origin = origin.rstrip("/").lower()
        authority = urlsplit(origin).netloc
        if authority and authority in (
            (host or "").lower(),
            urlsplit((public_url or "").lower()).netloc,
        ):
            return True
        return origin in self.allowed_origins

    def namespace(self, inbox_id: int) -> str:
        if self.identity_namespace:
            return f"shared:{self.identity_namespace}"
        return f"inbox:{inbox_id}"


class WebAdapter:
    kind: ClassVar[str] = ChannelKind.WEB.value
    config_model: ClassVar[type[WebConfig]] = WebConfig
    sends: ClassVar[bool] = False
    webhook_path: ClassVar[str | None] = None
    label: ClassVar[str] = "Chat"
    localized_labels: ClassVar[Mapping[str, str]] = {"ja": "チャット"}

    def public_address(
        self, config: WebConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        """The inbox's chat page, served by us under the public URL."""
        if public_url and widget_key:
            return f"{public_url.rstrip('/')}/chat/{widget_key}"
        return None

    def verify(self, config: WebConfig, request: InboundRequest) -> WebhookAnswer | None:
        return None

    def parse(self, config: WebConfig, request: InboundRequest) -> Sequence[InboundEvent]:
        return ()

    async def send(self, config: WebConfig, message: OutboundMessage) -> DeliveryReceipt:
        # Widget messages reach the customer through the hub after commit, and
        # by `resume` after a reconnect; nothing leaves through the outbox.
        raise ChannelPermanentError("web messages are delivered over the widget socket")
