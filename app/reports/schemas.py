"""Request bodies of the reports, SLA and CSAT endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from app.conversations.schemas import JSON_INTEGER, Out, Timestamp
from app.kit.api_schema import NoNul, Number
from app.kit.text import Storable

# Up to a year: a target further out is no standard anyone keeps.
TargetSeconds = Annotated[int, Field(ge=1, le=366 * 24 * 3600), JSON_INTEGER]
FollowUpText = Annotated[str, StringConstraints(min_length=1, max_length=2000), Storable, NoNul]
Comment = Annotated[str, StringConstraints(max_length=4000), Storable, NoNul]


class ServicePolicyIn(BaseModel):
    """`PUT /api/v1/inboxes/{id}/service-policy`: SLA targets in business
    seconds (null: none), CSAT on resolve, and an optional follow-up."""

    first_response_seconds: TargetSeconds | None = None
    next_response_seconds: TargetSeconds | None = None
    resolution_seconds: TargetSeconds | None = None
    warning_ratio: Number = Field(default=0.8, gt=0, le=1)
    csat_enabled: StrictBool = True
    follow_up_seconds: TargetSeconds | None = None
    follow_up_message: FollowUpText | None = None


# -- answers -------------------------------------------------------------------


class ServicePolicyOut(Out):
    inbox_id: int
    first_response_seconds: int | None
    next_response_seconds: int | None
    resolution_seconds: int | None
    warning_ratio: float
    csat_enabled: bool
    follow_up_seconds: int | None
    follow_up_message: str | None


class Timing(Out):
    """How long something took, in seconds: wall-clock and business time (null
    when nothing was measured)."""

    count: int
    median: float | None
    p90: float | None
    business_median: float | None
    business_p90: float | None


class Opened(Out):
    opened: int
    resolved: int


class MessageCounts(Out):
    model_config = ConfigDict(populate_by_name=True)

    in_: int = Field(alias="in", description="from customers")
    out: int = Field(description="from agents")
    automatic: int = Field(description="greetings, away messages, acknowledgements")


class CsatFigures(Out):
    count: int
    average: float | None
    distribution: dict[str, int] = Field(description='ratings "1" to "5", each with its count')


class SlaFigures(Out):
    breaches: int
    warnings: int
    breaches_by_target: dict[str, int] = Field(
        description="`first_response`, `next_response` and `resolution`"
    )


class PromiseFigures(Out):
    """Reply times promised by acknowledgements and away messages that fell due."""

    promised: int
    kept: int
    missed: int
    pending: int
    kept_rate: float | None


class Summary(Out):
    model_config = ConfigDict(populate_by_name=True)

    from_: Timestamp = Field(alias="from")
    to: Timestamp
    conversations: Opened
    first_response: Timing
    response: Timing
    resolution: Timing
    queue_wait: Timing
    messages: MessageCounts
    csat: CsatFigures
    sla: SlaFigures
    promises: PromiseFigures


class SeriesRow(Out):
    start: Timestamp = Field(description="the row's first moment, in the report's time zone")
    opened: int
    resolved: int
    first_response: Timing
    response: Timing
    resolution: Timing
    queue_wait: Timing
    csat: CsatFigures
    sla: SlaFigures


class Series(Out):
    interval: Literal["day", "hour"]
    tz: str
    items: list[SeriesRow]


class SlaMark(Out):
    target: Literal["first_response", "next_response", "resolution"]
    phase: Literal["warning", "breach"]
    started_at: Timestamp
    due_at: Timestamp
    fired_at: Timestamp


class ConversationSla(Out):
    conversation_id: int
    breached: bool
    items: list[SlaMark]


class Attainment(Out):
    """How often the first response came within the inbox's target."""

    due: int = Field(
        description="first responses due in the period in inboxes with a first-response"
        " target: given in it, or whose clock ran out in it unanswered"
    )
    met: int = Field(description="of those, given within the target (business time)")
    rate: float | None = Field(description="met / due, 0 to 1; null when none was due")


class AgentRow(Out):
    agent_id: int
    name: str
    conversations: int = Field(description="conversations the agent answered or resolved")
    first_response: Timing = Field(description="the first responses the agent gave")
    resolution: Timing = Field(description="resolutions of conversations assigned to the agent")
    csat: CsatFigures = Field(description="ratings of conversations assigned to the agent")
    first_response_sla: Attainment


class AgentReport(Out):
    model_config = ConfigDict(populate_by_name=True)

    from_: Timestamp = Field(alias="from")
    to: Timestamp
    first_response_sla: Attainment = Field(description="over everyone, unassigned included")
    items: list[AgentRow] = Field(description="agents who did something in the period, by name")
