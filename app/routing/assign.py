"""One assignment pass: hands waiting conversations to online agents with room.

A pass is one transaction. It walks the queue in order (priority, then first
come, first served) and, for each conversation, asks the inbox's policy to
pick among the online agents who serve it and have room, until nobody has
room left. Capacity holds across processes: an agent's live load is counted
from the database, and on PostgreSQL the agent's row is locked (skipping
rows another pass holds) before the count that decides, so two passes never
fill the same room; the queue's rows are locked with SKIP LOCKED, so a
conversation is never assigned twice. On SQLite the process's single writer
serialises passes. Manual assignment (conversations/service.py) may exceed
capacity; a pass never does.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Role
from app.conversations import access
from app.realtime.events import ConversationScope
from app.routing import repository as routing_repo
from app.routing.config import RoutingConfig, RoutingPolicy
from app.routing.language import language_of
from app.routing.policies import Candidate, Hold, Policy, Waiting, registry
from app.routing.repository import InboxRouting

# Rows read per step of the walk, past the first.
PAGE = 200
# How long an agent's capacity, skills and teams are taken as read between
# passes. Routing never fills more room than the database shows at the moment
# of assigning (see `_room_confirmed`); this only bounds how long another
# process's change of skills or teams takes to reach this one.
PROFILE_SECONDS = 30.0
# Agents' loads are read whole at most this often; in between only those the
# bus says changed are read again. A stale load only ever makes a pass pass
# an agent over (too high) or try them and find them full (too low).
LOADS_SECONDS = 10.0
# The inboxes' routing settings; a change made here is seen at once.
INBOXES_SECONDS = 10.0

ANSWER_TIMEOUT = "routing.answer_timeout"
RECHECK = "routing.recheck"


@dataclass(frozen=True, slots=True)
class Assignment:
    conversation_id: int
    inbox_id: int
    agent_id: int
    # The conversation's automatic assignments so far, this one included.
    attempt: int


@dataclass(slots=True)
class PassOutcome:
    # In the order they were made.
    assigned: list[Assignment] = field(default_factory=list)
    # Conversations held back for a better agent, and until when.
    held: dict[int, datetime] = field(default_factory=dict)
    # Every online agent the pass considered (for expected waits).
    online: list[Candidate] = field(default_factory=list)
    inboxes: dict[int, InboxRouting] = field(default_factory=dict)


def may_take(candidate: Candidate, waiting: Waiting, scope: ConversationScope) -> bool:
    """Whether routing may give this conversation to this agent: they serve it
    (the one visibility rule), or, escalated to supervisors, they outrank it."""
    if candidate.id == waiting.passed_agent_id:
        return False
    if waiting.required_skill and waiting.required_skill.lower() not in candidate.skills:
        return False
    viewer = access.Viewer(candidate.id, candidate.role, candidate.team_ids)
    if waiting.escalated_to == "supervisor":
        return viewer.sees_everything and access.may_see(viewer, scope)
    return access.serves(candidate.id, candidate.team_ids, scope)


def waiting_scope(waiting: Waiting, inbox: InboxRouting) -> ConversationScope:
    return ConversationScope(
        conversation_id=waiting.id,
        inbox_id=waiting.inbox_id,
        customer_id=waiting.customer_id,
        assignee_id=None,
        team_id=waiting.team_id,
        inbox_team_ids=inbox.team_ids,
        status="open",
    )


@dataclass(frozen=True, slots=True)
class _Profile:
    """What routing reads of an agent that rarely changes."""

    role: Role
    capacity: int
    skills: frozenset[str]
    team_ids: frozenset[int]
    last_routed_at: datetime | None


class Assigner:
    """Runs passes. Keeps agents' profiles between passes (re-read after
    PROFILE_SECONDS, or at once when `forget` is called) and whom each shape
    of conversation may go to; the room that decides is always read from the
    database, in the pass's own transaction."""

    def __init__(self, *, is_postgres: bool) -> None:
        self.is_postgres = is_postgres
        self.policies: dict[RoutingPolicy, Policy] = registry()
        self._profiles: dict[int, tuple[float, _Profile]] = {}
        self._candidates: dict[int, Candidate] = {}
        self._eligible: dict[tuple[object, ...], list[Candidate]] = {}
        self._inbox_shapes: set[tuple[int, tuple[int, ...], bool]] = set()
        self._loads: dict[int, int] = {}
        self._loads_until = 0.0
        self._dirty: set[int] = set()
        self._inboxes: dict[int, InboxRouting] = {}
        self._inboxes_until = 0.0

    def load_changed(self, agent_ids: Collection[int]) -> None:
        """These agents' live conversations changed (the bus said so)."""
        self._dirty.update(agent_ids)

    def inboxes_changed(self) -> None:
        self._inboxes_until = 0.0

    def reset(self) -> None:
        """After a pass that failed: read everything afresh next time."""
        self._loads_until = 0.0
        self._inboxes_until = 0.0
        self._profiles.clear()

    def forget(self, agent_id: int | None = None) -> None:
        """An agent changed (capacity, skills, teams): read them afresh."""
        if agent_id is None:
            self._profiles.clear()
        else:
            self._profiles.pop(agent_id, None)

    async def run(
        self,
        session: AsyncSession,
        online_ids: Collection[int],
        now: datetime,
        *,
        limit: int | None = None,
    ) -> PassOutcome:
        """Assigns what it can (at most `limit`) in the caller's transaction."""
        outcome = PassOutcome()
        outcome.inboxes = await self._inbox_map(session)
        reread_inboxes = False
        outcome.online = await self._online(session, online_ids, outcome.inboxes)
        routable = [c for c in outcome.online if c.capacity > 0]
        pool = [c for c in routable if c.free > 0]
        seats = sum(c.free for c in pool)
        if limit is not None:
            seats = min(seats, limit)
        sticky_window = max((i.config.sticky_seconds for i in outcome.inboxes.values()), default=0)
        after: routing_repo.QueueKey | None = None
        # Most passes fill a seat or two from the head of the queue; read a
        # little past that first, then whole pages while seats remain.
        size = min(PAGE, 16 + 2 * seats)
        sticky_since = now - timedelta(seconds=sticky_window) if sticky_window > 0 else None
        while pool and (limit is None or len(outcome.assigned) < limit):
            page = await routing_repo.waiting_page(
                session, after, size, lock=self.is_postgres, sticky_since=sticky_since
            )
            if not page:
                break
            after = routing_repo.queue_key(page[-1])
            for waiting in page:
                inbox = outcome.inboxes.get(waiting.inbox_id)
                if inbox is None and not reread_inboxes:
                    # An inbox made since the settings were read.
                    reread_inboxes = True
                    outcome.inboxes = await self._inbox_map(session, fresh=True)
                    inbox = outcome.inboxes.get(waiting.inbox_id)
                if inbox is None or not inbox.live:
                    continue
                eligible = self._eligible_for(waiting, inbox, routable)
                sticky = _sticky_agent(waiting, inbox.config, now)
                chosen = await self._choose(
                    session, waiting, eligible, inbox.config, sticky, now, outcome
                )
                if chosen is None:
                    continue
                attempt = await routing_repo.assign(session, waiting.id, chosen.id, now)
                if attempt is not None:
                    chosen.load += 1
                    chosen.last_routed_at = now
                    outcome.assigned.append(
                        Assignment(waiting.id, waiting.inbox_id, chosen.id, attempt)
                    )
                pool = [c for c in pool if c.free > 0]
                if not pool or (limit is not None and len(outcome.assigned) >= limit):
                    break
            if len(page) < size:
                break
            size = PAGE
        for candidate in outcome.online:
            if candidate.verified:
                self._loads[candidate.id] = candidate.load
        assigned_agents = {a.agent_id for a in outcome.assigned}
        # Only round-robin's turns need the time in the database (for other
        # processes); least-loaded breaks ties with this process's memory of it.
        await routing_repo.touch_agents(
            session,
            {
                a.agent_id
                for a in outcome.assigned
                if (i := outcome.inboxes.get(a.inbox_id)) is not None
                and i.config.policy == RoutingPolicy.ROUND_ROBIN
            },
            now,
        )
        for agent_id in assigned_agents:
            cached = self._profiles.get(agent_id)
            if cached is not None:
                self._profiles[agent_id] = (cached[0], replace(cached[1], last_routed_at=now))
        return outcome

    async def _online(
        self,
        session: AsyncSession,
        online_ids: Collection[int],
        inboxes: dict[int, InboxRouting],
    ) -> list[Candidate]:
        """The online agents as candidates, with their load counted now."""
        clock_now = time.monotonic()
        wanted = set(online_ids)
        stale = [a for a in wanted if (c := self._profiles.get(a)) is None or c[0] < clock_now]
        changed = False
        if stale:
            fresh = await routing_repo.profiles(session, stale)
            for agent_id in stale:
                row = fresh.get(agent_id)
                before = self._profiles.get(agent_id)
                if row is None:
                    changed = changed or before is not None
                    self._profiles.pop(agent_id, None)
                    continue
                profile = _Profile(
                    role=row.role,
                    capacity=row.capacity,
                    skills=row.skills,
                    team_ids=row.team_ids,
                    last_routed_at=row.last_routed_at,
                )
                if before is None or before[1] != profile:
                    changed = True
                self._profiles[agent_id] = (clock_now + PROFILE_SECONDS, profile)
        known = {a for a in wanted if a in self._profiles}
        shapes = {(i, inbox.team_ids, inbox.live) for i, inbox in inboxes.items()}
        if changed or known != set(self._candidates) or shapes != self._inbox_shapes:
            # Whom each conversation may go to depends on who is here and
            # what they are; anything else keeps the answers of last pass.
            self._eligible.clear()
            self._inbox_shapes = shapes
            self._candidates = {}
            for agent_id in sorted(known):
                profile = self._profiles[agent_id][1]
                self._candidates[agent_id] = Candidate(
                    id=agent_id,
                    role=profile.role,
                    capacity=profile.capacity,
                    load=0,
                    skills=profile.skills,
                    team_ids=profile.team_ids,
                    last_routed_at=profile.last_routed_at,
                )
        if clock_now >= self._loads_until:
            self._dirty.clear()
            self._loads = await routing_repo.loads(session)
            self._loads_until = clock_now + LOADS_SECONDS
        elif self._dirty:
            dirty = sorted(self._dirty)
            self._dirty.clear()
            fresh_loads = await routing_repo.load_of(session, dirty)
            for agent_id in dirty:
                self._loads[agent_id] = fresh_loads.get(agent_id, 0)
        for candidate in self._candidates.values():
            profile = self._profiles[candidate.id][1]
            candidate.capacity = profile.capacity
            candidate.last_routed_at = profile.last_routed_at
            candidate.load = self._loads.get(candidate.id, 0)
            candidate.verified = False
        return list(self._candidates.values())

    async def inbox_map(
        self, session: AsyncSession, *, fresh: bool = False
    ) -> dict[int, InboxRouting]:
        """Every inbox's routing settings, as recently read."""
        return await self._inbox_map(session, fresh=fresh)

    async def _inbox_map(
        self, session: AsyncSession, *, fresh: bool = False
    ) -> dict[int, InboxRouting]:
        clock_now = time.monotonic()
        if fresh or clock_now >= self._inboxes_until:
            self._inboxes = await routing_repo.inboxes(session)
            self._inboxes_until = clock_now + INBOXES_SECONDS
        return self._inboxes

    def _eligible_for(
        self, waiting: Waiting, inbox: InboxRouting, routable: list[Candidate]
    ) -> list[Candidate]:
        shape = (
            waiting.inbox_id,
            waiting.team_id,
            waiting.required_skill,
            waiting.escalated_to,
            waiting.passed_agent_id,
        )
        eligible = self._eligible.get(shape)
        if eligible is None:
            scope = waiting_scope(waiting, inbox)
            # Those with no room now too: a busy speaker is worth a wait.
            eligible = [c for c in routable if may_take(c, waiting, scope)]
            self._eligible[shape] = eligible
        return eligible

    async def _choose(
        self,
        session: AsyncSession,
        waiting: Waiting,
        eligible: list[Candidate],
        config: RoutingConfig,
        sticky: int | None,
        now: datetime,
        outcome: PassOutcome,
    ) -> Candidate | None:
        open_ = [c for c in eligible if c.free > 0]
        if not open_:
            return None
        full = [c for c in eligible if c.free <= 0]
        if config.policy == RoutingPolicy.SKILLS and waiting.language is None:
            waiting = await self._with_language(session, waiting)
        while open_:
            chosen = next((c for c in open_ if c.id == sticky), None)
            if chosen is None:
                picked = self.policies[config.policy].pick(waiting, open_, config, now, full)
                if isinstance(picked, Hold):
                    outcome.held[waiting.id] = picked.until
                    return None
                chosen = picked
            if chosen is None:
                return None
            if await self._room_confirmed(session, chosen):
                return chosen
            full.append(chosen)
            open_ = [c for c in open_ if c is not chosen and c.free > 0]
        return None

    async def _room_confirmed(self, session: AsyncSession, candidate: Candidate) -> bool:
        """The room that decides: the agent's capacity and load as the database
        has them now, read once per pass per agent. On PostgreSQL the agent's
        row is locked first (skipped when another pass holds it: that one is
        filling the room) and held to commit, so no other process can fill the
        same room before this pass commits."""
        if candidate.verified:
            return candidate.free > 0
        room = await routing_repo.room_of(session, candidate.id, lock=self.is_postgres)
        if room is None:
            candidate.load = candidate.capacity
            return False
        candidate.capacity, candidate.load = room
        candidate.verified = True
        return candidate.free > 0

    async def _with_language(self, session: AsyncSession, waiting: Waiting) -> Waiting:
        """Finds the conversation's language once and stores it ("" for none)."""
        meta, body, customer_language = await routing_repo.first_customer_words(session, waiting.id)
        language = language_of(meta, customer_language, body)
        await routing_repo.set_language(session, waiting.id, language)
        return replace(waiting, language=language)


def _sticky_agent(waiting: Waiting, config: RoutingConfig, now: datetime) -> int | None:
    """The agent a returning customer goes back to, within the inbox's window."""
    if waiting.last_agent_at is None or config.sticky_seconds <= 0:
        return None
    if waiting.last_agent_at < now - timedelta(seconds=config.sticky_seconds):
        return None
    return waiting.last_agent_id
