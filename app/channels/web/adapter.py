"""The web widget. Its transport is our own WebSocket, so it has no webhook and
no `send`: the socket endpoint authenticates, and delivery is the realtime fan-out."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from app.channels.base import (
    ChannelKind,
    ChannelPermanentError,
    DeliveryReceipt,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    WebhookAnswer,
)
from app.kit.api_schema import Integer, NoNul
from app.kit.text import Storable, StorableStr

# A 6-digit hex colour, as `<input type=color>` gives it: #1a73e8.
HEX_COLOUR_PATTERN = r"^#[0-9A-Fa-f]{6}$"
MAX_OFFSET_PX = 200


def _none_if_blank(value: str | None) -> str | None:
    return value if value else None


class WidgetAppearance(BaseModel):
    """How the widget looks on the shop's pages, set by an admin without code
    (`config.appearance` of a web inbox). Public: the widget reads it from its
    session, so nothing here is a secret. A null leaves the widget's default."""

    model_config = ConfigDict(extra="forbid")

    color: (
        Annotated[
            str,
            StringConstraints(pattern=HEX_COLOUR_PATTERN),
            Field(description="the launcher's and header's colour, #RRGGBB"),
        ]
        | None
    ) = None
    position: Literal["left", "right"] | None = Field(
        default=None, description="the launcher's corner: bottom left or bottom right"
    )
    offset: Annotated[Integer, Field(ge=0, le=MAX_OFFSET_PX)] | None = Field(
        default=None, description="px from the page's side and bottom edge"
    )
    launcher_text: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=40), Storable, NoNul]
        | None
    ) = Field(default=None, description="a label next to the launcher's icon")
    greeting: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), Storable, NoNul]
        | None
    ) = Field(default=None, description="the welcome line the panel shows first")
    hide_on_mobile: StrictBool | None = Field(
        default=None, description="true: no launcher on phone-size screens"
    )

    @field_validator("color")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @field_validator("launcher_text", "greeting")
    @classmethod
    def _blank(cls, value: str | None) -> str | None:
        return _none_if_blank(value)

    def is_empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


def _absent(value: object) -> bool:
    return value is None


class WebConfig(BaseModel):
    allowed_origins: list[StorableStr] = Field(default_factory=list, max_length=100)
    identity_secret: StorableStr = Field(
        default_factory=lambda: secrets.token_hex(32), min_length=16
    )
    # Where this site's verified user ids live. Unset, each inbox is its own
    # namespace; an admin gives two inboxes the same name to share their users.
    identity_namespace: StorableStr | None = Field(default=None, min_length=1, max_length=80)
    # How the widget looks; absent (or all null): the widget's defaults.
    appearance: WidgetAppearance | None = Field(default=None, exclude_if=_absent)

    @field_validator("appearance")
    @classmethod
    def _unset(cls, value: WidgetAppearance | None) -> WidgetAppearance | None:
        return None if value is None or value.is_empty() else value

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
