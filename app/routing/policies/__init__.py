"""How an inbox picks one agent among those who may take a conversation.

The assignment pass (app/routing/assign.py) hands a policy the agents who are
online, serve the conversation and have room; the policy picks one, or holds
the conversation back until a time (skills: waiting for a speaker of the
customer's language). Policies are pure: no I/O, no clock of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from app.auth.roles import Role
from app.inboxes.routing_config import RoutingConfig, RoutingPolicy


@dataclass(slots=True)
class Candidate:
    """An online agent as one assignment pass sees them."""

    id: int
    role: Role
    capacity: int
    # Open conversations assigned to them, counted from the database.
    load: int
    skills: frozenset[str]
    team_ids: frozenset[int]
    last_routed_at: datetime | None
    # PostgreSQL: the agent's row is locked by this pass and `load` was
    # counted under that lock, so no other process can fill the same room.
    verified: bool = field(default=False)
    # `last_routed_at` in seconds, for the policies' comparisons (never: first).
    routed: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self.routed_at(self.last_routed_at)

    def routed_at(self, moment: datetime | None) -> None:
        self.last_routed_at = moment
        self.routed = moment.timestamp() if moment is not None else float("-inf")

    @property
    def free(self) -> int:
        return self.capacity - self.load


@dataclass(frozen=True, slots=True)
class Waiting:
    """A conversation in the queue, as the pass sees it."""

    id: int
    inbox_id: int
    customer_id: int
    team_id: int | None
    priority: int
    queued_at: datetime
    # The customer's language; "" when unknown, None when not looked for yet.
    language: str | None
    required_skill: str | None
    escalated_to: str | None
    passed_agent_id: int | None
    # Who helped this customer last and when (another conversation of theirs,
    # active within the longest sticky window of any inbox).
    last_agent_id: int | None = None
    last_agent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """Nobody yet: look again at `until` (or sooner, when agents change)."""

    until: datetime


Pick = Candidate | Hold | None


class Policy(Protocol):
    def pick(
        self,
        waiting: Waiting,
        eligible: Sequence[Candidate],
        config: RoutingConfig,
        now: datetime,
        full: Sequence[Candidate] = (),
    ) -> Pick:
        """One of `eligible` (each has free room), a Hold, or None for nobody.
        `full`: the online agents who may take it but have no room now."""
        ...


def registry() -> dict[RoutingPolicy, Policy]:
    from app.routing.policies.least_loaded import LeastLoaded
    from app.routing.policies.round_robin import RoundRobin
    from app.routing.policies.skills import SkillMatch

    return {
        RoutingPolicy.LEAST_LOADED: LeastLoaded(),
        RoutingPolicy.ROUND_ROBIN: RoundRobin(),
        RoutingPolicy.SKILLS: SkillMatch(),
    }
