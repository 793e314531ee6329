"""One assignment pass: hands waiting conversations to online agents with room.

A pass is one transaction. It walks the queue in order (priority, then first
come, first served) and, for each conversation, asks the inbox's policy to
pick among the online agents who serve it and have room, until nobody has
room left. Passes run one at a time: on PostgreSQL every process's pass
holds one advisory lock until it commits (pass_store.PASS_LOCK), on SQLite
the process's single writer serialises them. So first come, first served
holds across processes, and the room that decides, an agent's capacity less
their open conversations, is counted in the pass, after every earlier pass
committed. The queue's rows are also taken with SKIP LOCKED: a row an agent
or supervisor is changing right now is left for the next pass. Manual
assignment (conversations/service.py) may exceed capacity; a pass never does.

A pass is synchronous, over one connection (app/routing/pass_store.py):
`Database.write_batch` runs it whole, in one hop to SQLite's writer thread.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from app.auth.roles import Role
from app.conversations import access
from app.events.domain import ConversationScope
from app.inboxes import calendar
from app.inboxes.routing_config import RoutingConfig, RoutingPolicy
from app.kit.language import language_of
from app.routing import pass_store as store
from app.routing.pass_store import InboxRouting, Timer
from app.routing.policies import Candidate, Hold, Policy, Waiting, registry

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
    # Due-time jobs the pass added (the worker is woken after the commit).
    timers: int = 0
    # Inboxes closed now with conversations waiting, and when each opens
    # (None: not within the calendar's horizon).
    closed: dict[int, datetime | None] = field(default_factory=dict)
    open_now: dict[int, bool] = field(default_factory=dict)


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


@dataclass(slots=True)
class Changes:
    """What the bus said changed since the last pass. Collected on the event
    loop and handed to the pass whole, which may run on another thread."""

    # Agents whose live conversations changed: their load is read again.
    loads: set[int] = field(default_factory=set)
    # Agents whose capacity, skills or teams may have changed.
    agents: set[int] = field(default_factory=set)
    inboxes: bool = False
    # After a failed pass: read everything afresh.
    everything: bool = False


class Assigner:
    """Runs passes. Keeps agents' profiles between passes (re-read after
    PROFILE_SECONDS, or at once when told they changed) and whom each shape
    of conversation may go to; the room that decides is always read from the
    database, in the pass's own transaction. Its caches are touched only by
    `run`, one pass at a time; what changed meanwhile waits in `Changes`."""

    def __init__(self, *, is_postgres: bool) -> None:
        self.is_postgres = is_postgres
        self.policies: dict[RoutingPolicy, Policy] = registry()
        self._profiles: dict[int, tuple[float, _Profile]] = {}
        self._candidates: dict[int, Candidate] = {}
        self._eligible: dict[tuple[object, ...], list[Candidate]] = {}
        self._inbox_shapes: set[tuple[int, tuple[int, ...], bool]] = set()
        self._loads: dict[int, int] = {}
        self._loads_until = 0.0
        self._inboxes: dict[int, InboxRouting] = {}
        self._inboxes_until = 0.0
        self._pending = Changes()
        # Bumped whenever who is online, or what they are, changed.
        self.generation = 0
        self._profiles_checked = 0.0
        self._routable: list[Candidate] = []
        # Free seats among the candidates, and the candidates changed this pass.
        self._seats = 0
        self._touched: set[int] = set()

    def load_changed(self, agent_ids: Collection[int]) -> None:
        """These agents' live conversations changed (the bus said so)."""
        self._pending.loads.update(agent_ids)

    def agent_changed(self, agent_id: int) -> None:
        """An agent's capacity, skills or teams may have changed."""
        self._pending.agents.add(agent_id)

    def inboxes_changed(self) -> None:
        self._pending.inboxes = True

    def reset(self) -> None:
        self._pending.everything = True

    def take_changes(self) -> Changes:
        changes, self._pending = self._pending, Changes()
        return changes

    def _apply(self, changes: Changes) -> set[int]:
        """Forgets what changed; returns the agents whose load to read again."""
        if changes.everything:
            self._profiles.clear()
            self._loads_until = 0.0
            self._inboxes_until = 0.0
        for agent_id in changes.agents:
            self._profiles.pop(agent_id, None)
        if changes.inboxes:
            self._inboxes_until = 0.0
        return changes.loads

    def run(
        self,
        conn: Connection,
        online_ids: Collection[int],
        now: datetime,
        *,
        limit: int | None = None,
        changes: Changes | None = None,
    ) -> PassOutcome:
        """Assigns what it can (at most `limit`) in the caller's transaction.
        `changes`: taken on the event loop when the pass runs elsewhere."""
        store.one_pass_at_a_time(conn)
        dirty = self._apply(changes if changes is not None else self.take_changes())
        outcome = PassOutcome()
        outcome.inboxes = self._inbox_map(conn)
        reread_inboxes = False
        self._online(conn, online_ids, outcome.inboxes, dirty)
        outcome.online = list(self._candidates.values())
        routable = self._routable
        seats = self._seats if limit is None else min(self._seats, limit)
        sticky_window = max((i.config.sticky_seconds for i in outcome.inboxes.values()), default=0)
        after: store.QueueKey | None = None
        # Most passes fill a seat or two from the head of the queue; read a
        # little past that first, then whole pages while seats remain.
        size = min(PAGE, 16 + 2 * seats)
        sticky_since = now - timedelta(seconds=sticky_window) if sticky_window > 0 else None
        while self._seats > 0 and (limit is None or len(outcome.assigned) < limit):
            page = store.waiting_page(
                conn, after, size, lock=self.is_postgres, sticky_since=sticky_since
            )
            if not page:
                break
            after = store.queue_key(page[-1])
            for waiting in page:
                inbox = outcome.inboxes.get(waiting.inbox_id)
                if inbox is None and not reread_inboxes:
                    # An inbox made since the settings were read.
                    reread_inboxes = True
                    outcome.inboxes = self._inbox_map(conn, fresh=True)
                    inbox = outcome.inboxes.get(waiting.inbox_id)
                if inbox is None or not inbox.live:
                    continue
                if not self._open(waiting.inbox_id, inbox, now, outcome):
                    continue
                eligible = self._eligible_for(waiting, inbox, routable)
                sticky = _sticky_agent(waiting, inbox.config, now)
                chosen = self._choose(conn, waiting, eligible, inbox.config, sticky, now, outcome)
                if chosen is None:
                    continue
                attempt = store.assign(conn, waiting.id, chosen.id, now)
                if attempt is not None:
                    self._set_room(chosen, chosen.capacity, chosen.load + 1)
                    chosen.routed_at(now)
                    outcome.assigned.append(
                        Assignment(waiting.id, waiting.inbox_id, chosen.id, attempt)
                    )
                if self._seats <= 0 or (limit is not None and len(outcome.assigned) >= limit):
                    break
            if len(page) < size:
                break
            size = PAGE
        self._add_timers(conn, outcome, now)
        for agent_id in self._touched:
            candidate = self._candidates[agent_id]
            if candidate.verified:
                self._loads[agent_id] = candidate.load
        assigned_agents = {a.agent_id for a in outcome.assigned}
        # Only round-robin's turns need the time in the database (for other
        # processes); least-loaded breaks ties with this process's memory of it.
        store.touch_agents(
            conn,
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

    def _open(
        self, inbox_id: int, inbox: InboxRouting, now: datetime, outcome: PassOutcome
    ) -> bool:
        """Whether the inbox is open now (`calendar.is_open`, the responders'
        and availability's answer too). Closed, its conversations wait: the
        away message told the customer when a person answers, agents may
        still take them by hand, and the pass at the opening hands them out."""
        known = outcome.open_now.get(inbox_id)
        if known is None:
            known = outcome.open_now[inbox_id] = calendar.is_open(inbox.hours, now)
            if not known:
                outcome.closed[inbox_id] = calendar.next_opening(inbox.hours, now)
        return known

    def _add_timers(self, conn: Connection, outcome: PassOutcome, now: datetime) -> None:
        """In the pass's transaction: each assignment's answer timeout, a
        second look at each conversation held back when its hold ends, and
        one at each closed inbox's opening."""
        timers = []
        for made in outcome.assigned:
            inbox = outcome.inboxes.get(made.inbox_id)
            timeout = inbox.config.answer_timeout_seconds if inbox is not None else 0
            if timeout > 0:
                timers.append(
                    Timer(
                        ANSWER_TIMEOUT,
                        {
                            "conversation_id": made.conversation_id,
                            "agent_id": made.agent_id,
                            "attempt": made.attempt,
                            "assigned_at": now.isoformat(),
                            "timeout_seconds": timeout,
                        },
                        due_at=now + timedelta(seconds=timeout),
                        dedupe_key=f"routing-answer:{made.conversation_id}:{made.attempt}",
                    )
                )
        for conversation_id, until in outcome.held.items():
            timers.append(
                Timer(
                    RECHECK,
                    {"conversation_id": conversation_id},
                    due_at=until,
                    dedupe_key=f"routing-recheck:{conversation_id}:{until.timestamp():.0f}",
                )
            )
        for inbox_id, opens in outcome.closed.items():
            if opens is not None:
                timers.append(
                    Timer(
                        RECHECK,
                        {"inbox_id": inbox_id},
                        due_at=opens,
                        dedupe_key=f"routing-opens:{inbox_id}:{opens.timestamp():.0f}",
                    )
                )
        if timers:
            store.add_timers(conn, timers, now)
            outcome.timers = len(timers)

    def _online(
        self,
        conn: Connection,
        online_ids: Collection[int],
        inboxes: dict[int, InboxRouting],
        dirty: set[int],
    ) -> None:
        """Brings the online agents up to date as candidates, touching only
        what changed: a pass with a thousand agents online reads and walks a
        handful of them, not all."""
        clock_now = time.monotonic()
        wanted = online_ids if isinstance(online_ids, set | frozenset) else set(online_ids)
        stale = wanted - self._profiles.keys()
        if clock_now >= self._profiles_checked:
            stale |= {
                a for a in wanted & self._profiles.keys() if self._profiles[a][0] <= clock_now
            }
            self._profiles_checked = clock_now + 1.0
        changed = False
        if stale:
            fresh = store.profiles(conn, stale)
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
        known = wanted & self._profiles.keys()
        shapes = {(i, inbox.team_ids, inbox.live) for i, inbox in inboxes.items()}
        rebuild = changed or self._candidates.keys() != known or shapes != self._inbox_shapes
        if rebuild:
            # Whom each conversation may go to depends on who is here and
            # what they are; anything else keeps the answers of last pass.
            self._eligible.clear()
            self.generation += 1
            self._inbox_shapes = shapes
            self._candidates = {}
            for agent_id in sorted(known):
                profile = self._profiles[agent_id][1]
                self._candidates[agent_id] = Candidate(
                    id=agent_id,
                    role=profile.role,
                    capacity=0,
                    load=0,
                    skills=profile.skills,
                    team_ids=profile.team_ids,
                    last_routed_at=profile.last_routed_at,
                )
            self._routable = [
                c for c in self._candidates.values() if self._profiles[c.id][1].capacity > 0
            ]
        reload = clock_now >= self._loads_until
        if reload:
            self._loads = store.loads(conn)
            self._loads_until = clock_now + LOADS_SECONDS
        elif dirty:
            fresh_loads = store.load_of(conn, sorted(dirty))
            for agent_id in dirty:
                self._loads[agent_id] = fresh_loads.get(agent_id, 0)
        if rebuild or reload:
            self._seats = 0
            for candidate in self._candidates.values():
                candidate.capacity = candidate.load = 0
                self._reset(candidate)
        else:
            for agent_id in dirty | self._touched:
                found = self._candidates.get(agent_id)
                if found is not None:
                    self._reset(found)
        self._touched = set()

    def _reset(self, candidate: Candidate) -> None:
        """A candidate as the profile and the loads last read have them."""
        profile = self._profiles[candidate.id][1]
        self._set_room(candidate, profile.capacity, self._loads.get(candidate.id, 0))
        candidate.routed_at(profile.last_routed_at)
        candidate.verified = False

    def _set_room(self, candidate: Candidate, capacity: int, load: int) -> None:
        """Changes a candidate's room, keeping the count of free seats."""
        self._seats += max(0, capacity - load) - max(0, candidate.capacity - candidate.load)
        candidate.capacity, candidate.load = capacity, load
        self._touched.add(candidate.id)

    def inbox_map(self, conn: Connection, *, fresh: bool = False) -> dict[int, InboxRouting]:
        """Every inbox's routing settings, as recently read."""
        return self._inbox_map(conn, fresh=fresh)

    def _inbox_map(self, conn: Connection, *, fresh: bool = False) -> dict[int, InboxRouting]:
        clock_now = time.monotonic()
        if fresh or clock_now >= self._inboxes_until:
            self._inboxes = store.inboxes(conn)
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

    def _choose(
        self,
        conn: Connection,
        waiting: Waiting,
        eligible: list[Candidate],
        config: RoutingConfig,
        sticky: int | None,
        now: datetime,
        outcome: PassOutcome,
    ) -> Candidate | None:
        open_ = [c for c in eligible if c.load < c.capacity]
        if not open_:
            return None
        full: list[Candidate] = []
        if config.policy == RoutingPolicy.SKILLS:
            full = [c for c in eligible if c.load >= c.capacity]
            if waiting.language is None:
                waiting = self._with_language(conn, waiting)
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
            if self._room_confirmed(conn, chosen):
                return chosen
            full.append(chosen)
            open_ = [c for c in open_ if c is not chosen and c.free > 0]
        return None

    def _room_confirmed(self, conn: Connection, candidate: Candidate) -> bool:
        """The room that decides: the agent's capacity and open conversations
        as the database has them now, read once per pass per agent."""
        if candidate.verified:
            return candidate.free > 0
        room = store.room_of(conn, candidate.id)
        if room is None:
            self._set_room(candidate, candidate.capacity, candidate.capacity)
            return False
        self._set_room(candidate, *room)
        candidate.verified = True
        return candidate.free > 0

    def _with_language(self, conn: Connection, waiting: Waiting) -> Waiting:
        """Finds the conversation's language once and stores it ("" for none)."""
        meta, body, customer_language = store.first_customer_words(conn, waiting.id)
        language = language_of(meta, customer_language, body)
        store.set_language(conn, waiting.id, language)
        return replace(waiting, language=language)


def _sticky_agent(waiting: Waiting, config: RoutingConfig, now: datetime) -> int | None:
    """The agent a returning customer goes back to, within the inbox's window."""
    if waiting.last_agent_at is None or config.sticky_seconds <= 0:
        return None
    if waiting.last_agent_at < now - timedelta(seconds=config.sticky_seconds):
        return None
    return waiting.last_agent_id
