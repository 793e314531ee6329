"""A second look at every open agent socket, against the store.

Deactivations, role changes, password resets and logouts reach the sockets
as events (`AgentChanged`, `CloseAgentSockets`) the moment they commit, and
each acting frame reads the agent again (app/realtime/agent_socket.py). What
changes the store without an event (`madoguchi agents deactivate` or
`reset-password`, run in a process of their own; an event lost while Redis
was away) is found here: every SESSION_CHECK_SECONDS the digests of this
process's agent sockets are checked in one read per few hundred. A socket
whose token no longer signs an active agent in closes with 1008; one whose
agent has a new role or teams sees as they now may. A deactivated agent found
this way is announced with `AgentChanged`, so routing in every process takes
back their live conversations as it does for one deactivated over the API.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from typing import TypeVar

from app.agents import repository as agents_repo
from app.auth import repository as tokens_repo
from app.auth.roles import Role
from app.conversations.access import Viewer
from app.db import Database
from app.events.bus import EventBus
from app.events.domain import AgentChanged
from app.kit.background import BackgroundLoop
from app.kit.clock import clock
from app.realtime.connection import DEACTIVATED, POLICY_VIOLATION
from app.realtime.hub import Hub

log = logging.getLogger(__name__)

# The bound on how long a socket outlives a change made outside this process
# (the command line): a few seconds, for one cheap read per few hundred sockets.
SESSION_CHECK_SECONDS = 2.0
# Digests per statement: well under every driver's limit on bound parameters.
CHUNK = 500

_Key = TypeVar("_Key", str, int)


class AgentSessionCheck:
    def __init__(
        self, db: Database, bus: EventBus, hub: Hub, interval: float = SESSION_CHECK_SECONDS
    ) -> None:
        self.db = db
        self.bus = bus
        self.hub = hub
        self._loop = BackgroundLoop(self.check, name="agent-sessions", interval=interval, log=log)

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def check(self) -> float | None:
        conns = [c for c in self.hub.agent_connections() if c.token_digest is not None]
        if not conns:
            return None
        digests = {c.token_digest for c in conns if c.token_digest is not None}
        agent_ids = {c.agent_id for c in conns if c.agent_id is not None}
        live: set[str] = set()
        standing: dict[int, tuple[str, bool, frozenset[int]]] = {}
        now = clock.now()
        async with self.db.read() as session:
            for chunk in _chunks(digests):
                live |= await tokens_repo.live_digests(session, chunk, now)
            for ids in _chunks(agent_ids):
                standing.update(await agents_repo.standing_of(session, ids))
        deactivated: dict[int, tuple[str, frozenset[int]]] = {}
        for conn in conns:
            agent_id = conn.agent_id
            assert agent_id is not None
            role, active, team_ids = standing.get(agent_id, ("agent", False, frozenset()))
            if not active:
                deactivated[agent_id] = (role, team_ids)
            if conn.token_digest not in live or not active:
                conn.close(POLICY_VIOLATION, DEACTIVATED if not active else "session ended")
                continue
            viewer = Viewer(agent_id, Role(role), team_ids)
            if conn.viewer != viewer:
                conn.viewer = viewer
        for agent_id, (role, team_ids) in sorted(deactivated.items()):
            log.info("agent %s was deactivated: closing their sockets", agent_id)
            await self.bus.publish(AgentChanged(agent_id, role, tuple(sorted(team_ids)), False))
        return None


def _chunks(items: Iterable[_Key]) -> Iterator[list[_Key]]:
    iterator = iter(sorted(items))
    while chunk := list(itertools.islice(iterator, CHUNK)):
        yield chunk
