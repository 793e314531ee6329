"""The agent with the most free room; among equals, the one idle longest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.inboxes.routing_config import RoutingConfig
from app.routing.policies import Candidate, Pick, Waiting
from app.routing.policies.round_robin import idle_key


def most_free(eligible: Sequence[Candidate]) -> Candidate | None:
    # One pass, no key tuples: it runs over every eligible agent per decision.
    best: Candidate | None = None
    best_free = 0
    for candidate in eligible:
        free = candidate.capacity - candidate.load
        if (
            best is None
            or free > best_free
            or (free == best_free and idle_key(candidate) < idle_key(best))
        ):
            best, best_free = candidate, free
    return best


class LeastLoaded:
    def pick(
        self,
        waiting: Waiting,
        eligible: Sequence[Candidate],
        config: RoutingConfig,
        now: datetime,
        full: Sequence[Candidate] = (),
    ) -> Pick:
        return most_free(eligible)
