from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.agents.schemas import Label
from app.conversations.schemas import ConversationOut, Note
from app.kit.api_schema import Integer


class EscalateToTeam(BaseModel):
    """Functional: to a team and/or to agents with a skill (one at least)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["team"], "properties": {"team": {"type": "string"}}},
                {"required": ["skill"], "properties": {"skill": {"type": "string"}}},
            ]
        }
    )

    to: Literal["team"]
    team: Label | None = None
    skill: Label | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> Self:
        if self.team is None and self.skill is None:
            raise ValueError("escalating to a team needs a team or a skill")
        return self


class EscalateToSupervisor(BaseModel):
    """Hierarchical: to a supervisor or admin; no team or skill."""

    model_config = ConfigDict(extra="forbid")

    to: Literal["supervisor"]
    team: None = None
    skill: None = None
    note: Note | None = None


EscalateRequest = Annotated[EscalateToTeam | EscalateToSupervisor, Field(discriminator="to")]


class PriorityUpdate(BaseModel):
    # Higher is served first; 0 is everyone's default.
    priority: Integer = Field(ge=-100, le=100)


class PrioritizedConversation(ConversationOut):
    priority: int


class QueuedConversation(BaseModel):
    conversation_id: int
    customer_id: int
    # 1 is served next.
    position: int
    priority: int
    queued_at: str | None
    expected_wait_seconds: int | None
    team_id: int | None
    language: str | None
    required_skill: str | None
    escalated_to: Literal["supervisor"] | None


class QueuePage(BaseModel):
    items: list[QueuedConversation]
    next_cursor: str | None
