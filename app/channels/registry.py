"""Channel adapters by kind. A channel is available once its adapter is here.

The built-in adapters are registered at start-up; `MADOGUCHI_CHANNEL_PLUGINS`
names more (`package.module:AdapterClass`, comma separated), so a channel can
be added without touching this file (docs/channels.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any

from app.channels.base import ChannelAdapter
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


def build_registry(settings: Settings) -> ChannelRegistry:
    registry = ChannelRegistry([WebAdapter(), EmailAdapter(settings)])
    # The social channels; their API bases come from the settings (tests point
    # them at a local fake).
    for social in (
        TelegramAdapter(settings),
        LineAdapter(settings),
        MessengerAdapter(settings),
        InstagramAdapter(settings),
        WhatsAppAdapter(settings),
    ):
        registry.register(social)
    for spec in settings.channel_plugins:
        registry.register(load_plugin(spec, settings))
    return registry
