"""Domain events: what happened, and the facts that decide who may know.

Services publish them after the commit that made them; the sockets (the hub),
and later responders, routing and reports, subscribe. Frames are rendered from
them at the edge (app/realtime/hub.py). Every field is a plain value, so an
event crosses processes as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Frame = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConversationScope:
    """What decides who may see a conversation (app/conversations/access.py)."""

    conversation_id: int
    inbox_id: int
    customer_id: int
    assignee_id: int | None
    team_id: int | None
    inbox_team_ids: tuple[int, ...]
    status: str


@dataclass(frozen=True, slots=True)
class MessageStored:
    scope: ConversationScope
    # The message in its REST shape (conversations/schemas.py message_out).
    message: Frame
    # The customer socket that sent it: it gets an ack, not the message.
    origin_connection: str | None = None
    # Sent by a machine (auto-reply, bounce, bot): responders never answer it.
    automatic: bool = False


ConversationChange = Literal["opened", "assigned", "transferred", "updated", "resolved", "reopened"]


@dataclass(frozen=True, slots=True)
class ConversationChanged:
    change: ConversationChange
    scope: ConversationScope
    # The conversation in its REST shape (conversations/schemas.py conversation_out).
    conversation: Frame
    # Agents told whatever the rule says (the one who acted, the previous assignee).
    notify_agent_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageDeliveryChanged:
    """An outbound message was sent, or failed for good (the agent must see why)."""

    scope: ConversationScope
    message: Frame


@dataclass(frozen=True, slots=True)
class ConversationRead:
    scope: ConversationScope
    seq: int
    # Who read up to seq: the customer (agents see a read mark) or an agent
    # (the customer's widget sees one, other agents lose the unread mark).
    reader: Literal["customer", "agent"] = "customer"


@dataclass(frozen=True, slots=True)
class Typing:
    scope: ConversationScope
    author_kind: Literal["customer", "agent"]
    author_name: str | None
    on: bool


@dataclass(frozen=True, slots=True)
class AgentPresenceChanged:
    agent_id: int
    status: Literal["online", "away", "offline"]


@dataclass(frozen=True, slots=True)
class QueuePlace:
    """A waiting conversation's place among those of its inbox (1 is next)."""

    conversation_id: int
    inbox_id: int
    customer_id: int
    position: int
    expected_wait_seconds: int


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """Routing moved the queue: waiting customers whose place or expected wait
    changed get a `status` frame (app/routing/)."""

    places: tuple[QueuePlace, ...]


@dataclass(frozen=True, slots=True)
class InboxSettingsChanged:
    """An admin changed an inbox's business hours or responders: the
    availability scheduler plans again, and every process's responders take
    the new settings (carried here, as stored)."""

    inbox_id: int
    business_hours: dict[str, Any] | None
    responders: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AvailabilityChanged:
    """The inbox opened or closed (or its hours changed): its widget sockets
    get an `availability` frame (app/responders/schedule.py)."""

    inbox_id: int
    open: bool
    next_open_at: str | None
    expected_reply_seconds: int
    # The inbox's zone and the next opening in words, as the away message
    # says it (app/responders/availability.py); None without business hours.
    time_zone: str | None = None
    next_open_text: str | None = None
    next_open_texts: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class JobsQueued:
    """Due-time jobs were committed: the worker wakes instead of waiting to poll."""


@dataclass(frozen=True, slots=True)
class CloseAgentSockets:
    """Closes an agent's sockets (all, or those opened with one token) with 1008."""

    agent_id: int
    token_digest: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class AgentChanged:
    """An admin changed an agent (role, teams, capacity, skills, active), or a
    process found one deactivated by the command line: the agent's open
    sockets take the new role and teams at once, or close when `active` is
    false (app/realtime/hub.py); routing reads the agent again and takes back
    a deactivated agent's live conversations (app/routing/router.py)."""

    agent_id: int
    role: str
    team_ids: tuple[int, ...]
    active: bool


@dataclass(frozen=True, slots=True)
class CustomersMerged:
    """A customer was folded into another (or a merge undone): caches that map
    an identity to its customer forget what they knew (app/conversations/intake.py)."""

    kept_customer_id: int
    merged_customer_id: int
    merge_id: int
    undone: bool = False


@dataclass(frozen=True, slots=True)
class CustomerErased:
    """An admin erased a customer (and everyone folded into them): their widget
    sockets close in every process (app/realtime/hub.py), and caches that map
    an identity to a customer forget what they knew (app/conversations/intake.py)."""

    customer_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SlaAlert:
    """An SLA clock of the conversation nearly ran out (`warning`) or did
    (`breach`): agents who serve it see it (app/reports/sla.py)."""

    scope: ConversationScope
    # first_response | next_response | resolution
    target: str
    phase: Literal["warning", "breach"]
    started_at: str
    due_at: str


@dataclass(frozen=True, slots=True)
class CsatRequested:
    """The conversation was resolved: the customer's widget asks for a rating."""

    scope: ConversationScope


Event = (
    MessageStored
    | ConversationChanged
    | MessageDeliveryChanged
    | ConversationRead
    | Typing
    | AgentPresenceChanged
    | QueueChanged
    | InboxSettingsChanged
    | AvailabilityChanged
    | JobsQueued
    | CloseAgentSockets
    | AgentChanged
    | CustomersMerged
    | CustomerErased
    | SlaAlert
    | CsatRequested
)
