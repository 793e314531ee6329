"""Presence across processes, in Redis (when MADOGUCHI_REDIS_URL is set).

Each process keeps its own sockets and grace timers (app/agents/presence.py)
and says so in Redis: a key per agent and process, whose expiry its heartbeat
refreshes. An agent is present while any process holds such a key, and their
status is the one they last chose, kept in a key of its own (every process
shares it, so `away` chosen on A holds on B). A process that dies stops
refreshing its keys: they expire a grace period and two heartbeats later, and
the agent goes offline for routing everywhere.

Reads are synchronous (routing and the hub ask often): they answer from this
process's own state and a snapshot of the others', refreshed on every
heartbeat and whenever the bus says someone's presence changed. While Redis
is unreachable the snapshot stays as it was, so nobody's conversations are
taken back because this process lost its link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.agents.presence import Presence, Status
from app.events.domain import AgentPresenceChanged, Event
from app.kit.background import BackgroundLoop

log = logging.getLogger(__name__)

HERE = "madoguchi:presence:here:"
CHOSEN = "madoguchi:presence:chosen:"
# A chosen status outlives the sockets that chose it: the next console opened
# reads it from the agent's row anyway.
CHOSEN_TTL_SECONDS = 24 * 3600
_STATUSES: dict[str | None, Status] = {"online": "online", "away": "away", "offline": "offline"}


class SharedPresence:
    def __init__(
        self, local: Presence, redis: Redis, process: str, *, heartbeat_seconds: float
    ) -> None:
        self.local = local
        self.redis = redis
        self.process = process
        self.heartbeat_seconds = heartbeat_seconds
        self.ttl_seconds = max(1, math.ceil(local.grace_seconds + 2 * heartbeat_seconds))
        # Published on the bus: a presence change made here (all processes hear it).
        self.publish: Callable[[AgentPresenceChanged], None] | None = None
        # Told to this process's subscribers only: a change found in the snapshot
        # (another process's agent came or went, or a process died).
        self.notify_local: Callable[[AgentPresenceChanged], None] | None = None
        self._remote_here: set[int] = set()
        self._chosen: dict[int, Status] = {}
        self._told: dict[int, Status] = {}
        self._changed_here: set[int] = set()
        self._chosen_here: dict[int, Status] = {}
        self._refresh_wanted = False
        self._next_beat = 0.0
        self._loop = BackgroundLoop(
            self._round, name="shared-presence", interval=heartbeat_seconds, log=log
        )
        local.on_change = self._local_changed

    @property
    def grace_seconds(self) -> float:
        return self.local.grace_seconds

    # -- reads ------------------------------------------------------------------

    def status(self, agent_id: int) -> Status:
        if not (self.local.present(agent_id) or agent_id in self._remote_here):
            return "offline"
        chosen = self._chosen.get(agent_id)
        if chosen is not None:
            return chosen
        return self.local.status(agent_id) if self.local.present(agent_id) else "online"

    def is_online(self, agent_id: int) -> bool:
        return self.status(agent_id) == "online"

    def online_agent_ids(self) -> list[int]:
        present = self.local.present_agent_ids() | self._remote_here
        return [a for a in present if self.is_online(a)]

    # -- changes made here ------------------------------------------------------

    def connected(self, agent_id: int, chosen: Status) -> None:
        self.local.connected(agent_id, chosen)
        self._choose_here(agent_id, self.local.status(agent_id))

    def disconnected(self, agent_id: int) -> None:
        self.local.disconnected(agent_id)

    def choose(self, agent_id: int, status: Status) -> None:
        self._choose_here(agent_id, status)
        self.local.choose(agent_id, status)

    def _choose_here(self, agent_id: int, status: Status) -> None:
        self._chosen[agent_id] = status
        self._chosen_here[agent_id] = status
        self._local_changed(agent_id, status)

    def _local_changed(self, agent_id: int, _status: Status) -> None:
        self._changed_here.add(agent_id)
        self._loop.wake()

    def on_event(self, event: Event) -> None:
        """Bus subscriber: someone's presence changed somewhere; look again."""
        if isinstance(event, AgentPresenceChanged):
            self._refresh_wanted = True
            self._loop.wake()

    # -- the heartbeat ----------------------------------------------------------

    async def start(self) -> None:
        self._next_beat = 0.0
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        # Leaving cleanly: this process's agents go offline now, not at expiry.
        with contextlib.suppress(RedisError, OSError):
            here = [f"{HERE}{a}:{self.process}" for a in self.local.present_agent_ids()]
            if here:
                await self.redis.delete(*here)

    async def _round(self) -> float:
        """A heartbeat when one is due; otherwise what changed since the last round."""
        loop = asyncio.get_running_loop()
        beat = loop.time() >= self._next_beat
        if beat:
            self._next_beat = loop.time() + self.heartbeat_seconds
        changed, self._changed_here = self._changed_here, set()
        chosen, self._chosen_here = self._chosen_here, {}
        refresh, self._refresh_wanted = self._refresh_wanted or beat or bool(changed), False
        before = {a: self.status(a) for a in self._remote_here | changed}
        try:
            await self._write(self.local.present_agent_ids() if beat else changed, chosen)
            if refresh:
                await self._read()
        except (RedisError, OSError) as exc:
            log.warning("presence: Redis unreachable (%s); using the last snapshot", exc)
        self._tell(changed, before)
        return max(0.0, self._next_beat - loop.time())

    async def _write(self, agents: set[int], chosen: dict[int, Status]) -> None:
        if not agents and not chosen:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id, status in chosen.items():
                pipe.set(f"{CHOSEN}{agent_id}", status, ex=CHOSEN_TTL_SECONDS)
            for agent_id in agents:
                key = f"{HERE}{agent_id}:{self.process}"
                if self.local.present(agent_id):
                    pipe.set(key, "1", ex=self.ttl_seconds)
                else:
                    pipe.delete(key)
            await pipe.execute()

    async def _read(self) -> None:
        remote: set[int] = set()
        async for raw in self.redis.scan_iter(match=f"{HERE}*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            agent, _, process = key[len(HERE) :].partition(":")
            if process != self.process and agent.isdigit():
                remote.add(int(agent))
        agents = sorted(remote | self.local.present_agent_ids())
        values = await self.redis.mget([f"{CHOSEN}{a}" for a in agents]) if agents else []
        chosen: dict[int, Status] = {}
        for agent_id, value in zip(agents, values, strict=True):
            text = value.decode() if isinstance(value, bytes) else value
            status = _STATUSES.get(text)
            if status is not None:
                chosen[agent_id] = status
        self._remote_here = remote
        self._chosen = chosen

    def _tell(self, changed_here: set[int], before: dict[int, Status]) -> None:
        for agent_id in sorted(set(before) | self._remote_here | changed_here):
            now = self.status(agent_id)
            if self._told.get(agent_id, "offline") == now:
                continue
            self._told[agent_id] = now
            event = AgentPresenceChanged(agent_id, now)
            if agent_id in changed_here:
                if self.publish is not None:
                    self.publish(event)
            elif self.notify_local is not None:
                self.notify_local(event)
