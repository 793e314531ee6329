"""Who a token speaks for, as sign-in answers it (and every agent listing
builds on it)."""

from __future__ import annotations

from pydantic import BaseModel

from app.auth.roles import Role


class AgentRef(BaseModel):
    id: int
    name: str
    role: Role
