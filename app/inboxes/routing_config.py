"""An inbox's routing settings: which policy picks the agent, and its timings."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.kit.api_schema import Integer


class RoutingPolicy(StrEnum):
    # The agent with the most free room (capacity minus live conversations).
    LEAST_LOADED = "least_loaded"
    # The agent whose last automatic assignment is the oldest.
    ROUND_ROBIN = "round_robin"
    # Agents with the customer's language as a skill first; anyone after a wait.
    SKILLS = "skills"


DAY = 24 * 3600


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: RoutingPolicy = RoutingPolicy.LEAST_LOADED
    # Skills: how long a conversation waits for an agent with its language
    # before anyone with room may take it.
    skill_wait_seconds: Integer = Field(default=60, ge=0, le=DAY)
    # A returning customer goes back to the agent of their conversation within
    # this window, if that agent is online and has room; 0 turns it off.
    sticky_seconds: Integer = Field(default=DAY, ge=0, le=90 * DAY)
    # An automatically assigned agent who has not answered within this moves
    # the conversation on to the next agent; 0 turns it off.
    answer_timeout_seconds: Integer = Field(default=300, ge=0, le=DAY)


DEFAULT = RoutingConfig()


def config_of(raw: dict[str, Any] | None) -> RoutingConfig:
    """The stored settings, or the defaults where none (or stale ones) are stored."""
    if not raw:
        return DEFAULT
    try:
        return RoutingConfig.model_validate(raw)
    except ValidationError:
        return DEFAULT
