"""The parts that make several processes one server, over Redis
(MADOGUCHI_REDIS_URL): the bus, shared presence and shared rate limits.
PostgreSQL does the rest (row locks, SKIP LOCKED); see docs/operations.md."""

from __future__ import annotations

from dataclasses import dataclass

from app.agents.presence import Presence
from app.agents.shared_presence import SharedPresence
from app.config import Settings
from app.kit.shared_ratelimit import SharedCounters
from app.realtime.redis_bus import RedisBus


@dataclass(slots=True)
class ScaleOut:
    bus: RedisBus
    presence: SharedPresence
    counters: SharedCounters

    @classmethod
    def from_settings(cls, settings: Settings, redis_url: str) -> ScaleOut:
        bus = RedisBus(redis_url)
        presence = SharedPresence(
            Presence(settings.presence_grace_seconds),
            bus.redis,
            bus.origin,
            heartbeat_seconds=settings.presence_heartbeat_seconds,
        )
        return cls(bus=bus, presence=presence, counters=SharedCounters(bus.redis))

    async def start(self) -> None:
        """After the bus: presence and counters share its Redis client."""
        await self.presence.start()
        await self.counters.start()

    async def stop(self) -> None:
        await self.counters.stop()
        await self.presence.stop()
