"""Channel adapters by kind. A channel is available once its adapter is here.

The built-in adapters are registered at start-up; `MADOGUCHI_CHANNEL_PLUGINS`
names more (`package.module:AdapterClass`, comma separated), so a channel can
be added without touching this file (docs/channels.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import Any

from app.channels.base import (
    ChannelAdapter,
    channel_label,
    is_asynchronous,
    public_address,
)
from app.channels.email.adapter import EmailAdapter
from app.channels.line.adapter import LineAdapter
from app.channels.meta.messaging import InstagramAdapter, MessengerAdapter
from app.channels.meta.whatsapp import WhatsAppAdapter
from app.channels.telegram.adapter import TelegramAdapter
from app.channels.web.adapter import WebAdapter
from app.config import Settings


class UnknownChannel(LookupError):
    pass


class ChannelRegistry:
    def __init__(self, adapters: Iterable[ChannelAdapter[Any]] = ()) -> None:
        self._by_kind: dict[str, ChannelAdapter[Any]] = {}
        for adapter in adapters:
            self.register(adapter)

    def register(self, adapter: ChannelAdapter[Any]) -> None:
        if adapter.kind in self._by_kind:
            raise ValueError(f"two adapters for the {adapter.kind} channel")
        self._by_kind[adapter.kind] = adapter

    def get(self, kind: str) -> ChannelAdapter[Any] | None:
        return self._by_kind.get(kind)

    def __getitem__(self, kind: str) -> ChannelAdapter[Any]:
        adapter = self._by_kind.get(kind)
        if adapter is None:
            raise UnknownChannel(kind)
        return adapter

    def __iter__(self) -> Iterator[ChannelAdapter[Any]]:
        return iter(self._by_kind.values())

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_kind

    def kinds(self) -> tuple[str, ...]:
        """The available channels' kinds, built-ins first, in registration order."""
        return tuple(self._by_kind)

    def label(self, kind: str, language: str | None = None) -> str:
        """The channel's name as people read it; an unknown kind is its own name."""
        adapter = self._by_kind.get(kind)
        return channel_label(adapter, language) if adapter is not None else kind

    def async_kinds(self) -> frozenset[str]:
        """The channels customers write on and wait (email), rather than chat."""
        return frozenset(
            kind for kind, adapter in self._by_kind.items() if is_asynchronous(adapter)
        )

    def public_address(
        self,
        kind: str,
        config: Mapping[str, Any] | None,
        *,
        widget_key: str | None = None,
        public_url: str | None = None,
    ) -> str | None:
        """Where a customer reaches an inbox of this kind (base.public_address)."""
        adapter = self._by_kind.get(kind)
        if adapter is None:
            return None
        return public_address(adapter, config, widget_key=widget_key, public_url=public_url)


def load_plugin(spec: str, settings: Settings) -> ChannelAdapter[Any]:
    """`module:Class` → an adapter instance, built with the settings if it takes them."""
    module_name, _, attribute = spec.strip().partition(":")
    if not module_name or not attribute:
        raise ValueError(f"a channel plugin is module:Class, not {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    try:
        adapter: ChannelAdapter[Any] = factory(settings)
    except TypeError:
        adapter = factory()
    return adapter


def builtin_adapters(settings: Settings) -> list[ChannelAdapter[Any]]:
    return [
        WebAdapter(),
        EmailAdapter(settings),
        # The social channels; their API bases come from the settings (tests
        # point them at a local fake).
        TelegramAdapter(settings),
        LineAdapter(settings),
        MessengerAdapter(settings),
        InstagramAdapter(settings),
        WhatsAppAdapter(settings),
    ]


def build_registry(settings: Settings) -> ChannelRegistry:
    registry = ChannelRegistry(builtin_adapters(settings))
    for spec in settings.channel_plugins:
        registry.register(load_plugin(spec, settings))
    return registry


@cache
def builtin_registry() -> ChannelRegistry:
    """The built-in channels with default settings and no plug-ins: what code
    not handed the running server's registry falls back on. Defaults, not the
    environment: it answers what adapters say of themselves (labels, public
    addresses, which are asynchronous), and never sends."""
    return ChannelRegistry(builtin_adapters(Settings.model_construct()))
