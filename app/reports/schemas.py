"""Request bodies of the reports, SLA and CSAT endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.kit.text import Storable

# Up to a year: a target further out is no standard anyone keeps.
TargetSeconds = Annotated[int, Field(ge=1, le=366 * 24 * 3600)]
FollowUpText = Annotated[str, StringConstraints(min_length=1, max_length=2000), Storable]
Comment = Annotated[str, StringConstraints(max_length=4000), Storable]


class ServicePolicyIn(BaseModel):
    """`PUT /api/v1/inboxes/{id}/service-policy`: SLA targets in business
    seconds (null: none), CSAT on resolve, and an optional follow-up."""

    first_response_seconds: TargetSeconds | None = None
    next_response_seconds: TargetSeconds | None = None
    resolution_seconds: TargetSeconds | None = None
    warning_ratio: float = Field(default=0.8, gt=0, le=1)
    csat_enabled: bool = True
    follow_up_seconds: TargetSeconds | None = None
    follow_up_message: FollowUpText | None = None
