"""The web widget. Its transport is our own WebSocket, so verify/parse/send are
thin: the socket endpoint authenticates, and delivery is the realtime fan-out."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from app.channels.base import (
    ChannelKind,
    ChannelPermanentError,
    DeliveryReceipt,
    InboundMessage,
    OutboundMessage,
)
from app.kit.text import StorableStr


class WebConfig(BaseModel):
    allowed_origins: list[StorableStr] = Field(default_factory=list, max_length=100)
    identity_secret: StorableStr = Field(
        default_factory=lambda: secrets.token_hex(32), min_length=16
    )

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

    def allows_origin(self, origin: str | None) -> bool:
        if not self.allowed_origins:
            return True
        return origin is not None and origin.rstrip("/").lower() in self.allowed_origins


class WebAdapter:
    kind: ClassVar[ChannelKind] = ChannelKind.WEB
    config_model: ClassVar[type[BaseModel]] = WebConfig

    def verify(self, config: WebConfig, headers: Mapping[str, str], body: bytes) -> None:
        return None

    def parse(self, config: WebConfig, body: bytes) -> Sequence[InboundMessage]:
        return ()

    async def send(self, config: WebConfig, message: OutboundMessage) -> DeliveryReceipt:
        # Widget messages reach the customer through the hub after commit, and
        # by `resume` after a reconnect; nothing is sent from the outbox.
        raise ChannelPermanentError("web messages are delivered over the widget socket")
