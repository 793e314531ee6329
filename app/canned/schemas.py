from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictBool, StringConstraints

from app.conversations.schemas import Body
from app.kit.api_schema import NoNul
from app.kit.text import Storable
from app.models import CannedResponse

# What follows "/" in the reply box: lowercase letters, digits, "-" and "_".
Shortcut = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$"
    ),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Storable, NoNul]


class CannedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut
    body: Body
    title: Title | None = None
    # Shared with every agent: admins only.
    shared: StrictBool = False


class CannedUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut | None = None
    body: Body | None = None
    title: Title | None = None


class CannedOut(BaseModel):
    id: int
    shortcut: str
    title: str | None
    body: str
    shared: bool
    owner_agent_id: int | None
    created_at: str
    updated_at: str


class CannedList(BaseModel):
    items: list[CannedOut]
    next_cursor: str | None


def canned_out(canned: CannedResponse) -> dict[str, Any]:
    return {
        "id": canned.id,
        "shortcut": canned.shortcut,
        "title": canned.title,
        "body": canned.body,
        "shared": canned.owner_agent_id is None,
        "owner_agent_id": canned.owner_agent_id,
        "created_at": canned.created_at.isoformat(),
        "updated_at": canned.updated_at.isoformat(),
    }
