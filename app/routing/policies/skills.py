"""Team and skill matching: a speaker of the customer's language first.

Teams are already matched (only agents who serve the conversation are
eligible). A conversation in a known language goes to an agent with that
language as a skill when one has room; when none has, it waits up to the
inbox's `skill_wait_seconds` from when it started waiting, then anyone with
room takes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from app.inboxes.routing_config import RoutingConfig
from app.routing.policies import Candidate, Hold, Pick, Waiting
from app.routing.policies.least_loaded import most_free


class SkillMatch:
    def pick(
        self,
        waiting: Waiting,
        eligible: Sequence[Candidate],
        config: RoutingConfig,
        now: datetime,
        full: Sequence[Candidate] = (),
    ) -> Pick:
        if not waiting.language:
            return most_free(eligible)
        speakers = [c for c in eligible if waiting.language in c.skills]
        if speakers:
            return most_free(speakers)
        until = waiting.queued_at + timedelta(seconds=config.skill_wait_seconds)
        # Worth waiting for only while a speaker is here, busy: with none
        # online (a page's "en" where nobody lists it) anyone takes it now.
        if now < until and any(waiting.language in c.skills for c in full):
            return Hold(until)
        return most_free(eligible)
