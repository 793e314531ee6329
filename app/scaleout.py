"""The parts that make several processes one server, over Redis
(MADOGUCHI_REDIS_URL): the bus, shared presence, shared rate limits and the
watch on which processes are alive.
PostgreSQL does the rest (row locks, SKIP LOCKED); see docs/operations.md."""

from __future__ import annotations

from dataclasses import dataclass

from app.agents.presence import Presence
from app.agents.shared_presence import SharedPresence
from app.config import Settings
from app.events.redis_bus import RedisBus
from app.kit.shared_ratelimit import SharedCounters
from app.realtime.peers import PeerWatch


@dataclass(slots=True)
class ScaleOut:
    bus: RedisBus
    presence: SharedPresence
    counters: SharedCounters
    peers: PeerWatch

    @classmethod
    def from_settings(cls, settings: Settings, redis_url: str) -> ScaleOut:
        bus = RedisBus(redis_url)
        presence = SharedPresence(
            Presence(settings.presence_grace_seconds),
            bus.redis,
            bus.origin,
            heartbeat_seconds=settings.presence_heartbeat_seconds,
        )
        # A peer that dies may take unpublished events with it: resync as
        # when our own link comes back.
        peers = PeerWatch(
            bus.redis,
            bus.origin,
            heartbeat_seconds=settings.presence_heartbeat_seconds,
            on_peer_died=bus.resync,
        )
        bus.on_peer_left(peers.peer_left)
        return cls(bus=bus, presence=presence, counters=SharedCounters(bus.redis), peers=peers)

    async def start(self) -> None:
        """After the bus: presence and counters share its Redis client."""
        await self.presence.start()
        await self.counters.start()
        await self.peers.start()

    async def stop(self) -> None:
        """After the writer: every event is queued; it is published before we
        say we left and our liveness key goes."""
        await self.counters.stop()
        await self.presence.stop()
        await self.bus.leave()
        await self.peers.stop()
