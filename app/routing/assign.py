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

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations import access
from app.realtime.events import ConversationScope
from app.routing import repository as routing_repo
from app.routing.config import RoutingConfig, RoutingPolicy
from app.routing.language import language_of
from app.routing.policies import Candidate, Hold, Policy, Waiting, registry
from app.routing.repository import InboxRouting

# Rows read per step of the walk: most passes assign a handful from the head.
PAGE = 200

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


class Assigner:
    """Runs passes. Stateless between passes but for the policies."""

    def __init__(self, *, is_postgres: bool) -> None:
        self.is_postgres = is_postgres
        self.policies: dict[RoutingPolicy, Policy] = registry()

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
        outcome.online = await routing_repo.candidates(session, online_ids)
        outcome.inboxes = await routing_repo.inboxes(session)
        routable = [c for c in outcome.online if c.capacity > 0]
        pool = [c for c in routable if c.free > 0]
        sticky_window = max((i.config.sticky_seconds for i in outcome.inboxes.values()), default=0)
        eligible_by_shape: dict[tuple[object, ...], list[Candidate]] = {}
        after: routing_repo.QueueKey | None = None
        while pool and (limit is None or len(outcome.assigned) < limit):
            page = await routing_repo.waiting_page(session, after, PAGE, lock=self.is_postgres)
            if not page:
                break
            after = routing_repo.queue_key(page[-1])
            last_agents = (
                await routing_repo.last_agents(
                    session,
                    {w.customer_id for w in page},
                    now - timedelta(seconds=sticky_window),
                )
                if sticky_window > 0
                else {}
            )
            for waiting in page:
                inbox = outcome.inboxes.get(waiting.inbox_id)
                if inbox is None or not inbox.live:
                    continue
                shape = (
                    waiting.inbox_id,
                    waiting.team_id,
                    waiting.required_skill,
                    waiting.escalated_to,
                    waiting.passed_agent_id,
                )
                eligible = eligible_by_shape.get(shape)
                if eligible is None:
                    scope = waiting_scope(waiting, inbox)
                    # Those with no room now too: a busy speaker is worth a wait.
                    eligible = [c for c in routable if may_take(c, waiting, scope)]
                    eligible_by_shape[shape] = eligible
                sticky = _sticky_agent(last_agents.get(waiting.customer_id), inbox.config, now)
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
            if len(page) < PAGE:
                break
        await routing_repo.touch_agents(session, {a.agent_id for a in outcome.assigned}, now)
        return outcome

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
        """PostgreSQL: locks the agent's row and counts their load under it, once
        per pass; another pass holding the row means that room is being filled."""
        if not self.is_postgres or candidate.verified:
            return candidate.free > 0
        if not await routing_repo.lock_agent(session, candidate.id):
            candidate.load = candidate.capacity
            return False
        loads = await routing_repo.load_of(session, [candidate.id])
        candidate.load = loads.get(candidate.id, 0)
        candidate.verified = True
        return candidate.free > 0

    async def _with_language(self, session: AsyncSession, waiting: Waiting) -> Waiting:
        """Finds the conversation's language once and stores it ("" for none)."""
        meta, body, customer_language = await routing_repo.first_customer_words(session, waiting.id)
        language = language_of(meta, customer_language, body)
        await routing_repo.set_language(session, waiting.id, language)
        return replace(waiting, language=language)


def _sticky_agent(
    last: tuple[int, datetime] | None, config: RoutingConfig, now: datetime
) -> int | None:
    """The agent a returning customer goes back to, within the inbox's window."""
    if last is None or config.sticky_seconds <= 0:
        return None
    agent_id, when = last
    return agent_id if when >= now - timedelta(seconds=config.sticky_seconds) else None
