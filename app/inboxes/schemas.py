from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.agents.schemas import Label
from app.kit.text import Storable


class InboxCreate(BaseModel):
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable
    ]
    # A built-in ChannelKind or a plug-in's kind; the registry says which exist.
    channel: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    mode: Literal["live", "redirect"] = "live"
    config: dict[str, Any] = Field(default_factory=dict)
    teams: list[Label] = Field(default_factory=list, max_length=50)


class InboxOut(BaseModel):
    id: int
    name: str
    channel: str
    mode: Literal["live", "redirect"]
    config: dict[str, Any]
    teams: list[str]
    widget_key: str | None
    created_at: str


class Availability(BaseModel):
    open: bool
    next_open_at: str | None
    expected_reply_seconds: int
