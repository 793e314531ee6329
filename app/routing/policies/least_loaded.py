"""The agent with the most free room; among equals, the one idle longest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.routing.config import RoutingConfig
from app.routing.policies import Candidate, Pick, Waiting
from app.routing.policies.round_robin import idle_key


def most_free(eligible: Sequence[Candidate]) -> Candidate | None:
    best: Candidate | None = None
    best_key: tuple[int, float, int] | None = None
    for candidate in eligible:
        idle, agent_id = idle_key(candidate)
        key = (-candidate.free, idle, agent_id)
        if best_key is None or key < best_key:
            best, best_key = candidate, key
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
