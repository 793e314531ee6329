from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.agents.schemas import Label
from app.conversations.schemas import Note


class EscalateRequest(BaseModel):
    # "team": functional, to a team and/or to agents with a skill;
    # "supervisor": hierarchical, to a supervisor or admin.
    to: Literal["team", "supervisor"]
    team: Label | None = None
    skill: Label | None = None
    note: Note | None = None


class PriorityUpdate(BaseModel):
    # Higher is served first; 0 is everyone's default.
    priority: int = Field(ge=-100, le=100)
