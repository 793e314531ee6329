"""Typed events: what happened, the frames each side sees, and who may see them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Frame = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who receives an event. The hub resolves it against live sockets."""

    conversation_id: int | None = None
    inbox_id: int | None = None
    customer_id: int | None = None
    assignee_id: int | None = None
    # Empty: every agent serves the inbox; else only members of these teams.
    inbox_team_ids: tuple[int, ...] = ()
    # Unassigned conversations reach every online agent serving the inbox.
    offer_when_unassigned: bool = True
    # Agents who get it whatever the conversation (e.g. the one who acted).
    agent_ids: tuple[int, ...] = ()
    # The customer socket that sent the message gets an ack instead of the frame.
    exclude_connection: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    audience: Audience
    agent_frame: Frame | None = None
    customer_frame: Frame | None = None


@dataclass(frozen=True, slots=True)
class CloseAgentSockets:
    """Logout or password change: the agent's sockets must not outlive the token."""

    agent_id: int
    token_digest: str | None = None  # None: every socket of the agent
    reason: str = "session ended"
