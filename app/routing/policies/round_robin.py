"""Turn by turn: the agent whose last automatic assignment is the oldest.

The turn is kept on the agent (`last_routed_at`, written under the row lock
of the pass that assigns), so every process takes the same turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.inboxes.routing_config import RoutingConfig
from app.routing.policies import Candidate, Pick, Waiting


def idle_key(candidate: Candidate) -> tuple[float, int]:
    """Never routed first, then the longest since their last assignment."""
    return (candidate.routed, candidate.id)


class RoundRobin:
    def pick(
        self,
        waiting: Waiting,
        eligible: Sequence[Candidate],
        config: RoutingConfig,
        now: datetime,
        full: Sequence[Candidate] = (),
    ) -> Pick:
        return min(eligible, key=idle_key, default=None)
