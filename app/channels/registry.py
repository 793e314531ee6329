"""Channel adapters by kind. A channel is available once its adapter is here."""

from __future__ import annotations

from typing import Any

from app.channels.base import ChannelAdapter, ChannelKind
from app.channels.web.adapter import WebAdapter

ADAPTERS: dict[ChannelKind, ChannelAdapter[Any]] = {
    ChannelKind.WEB: WebAdapter(),
}


def adapter_for(kind: str) -> ChannelAdapter[Any] | None:
    try:
        return ADAPTERS.get(ChannelKind(kind))
    except ValueError:
        return None
