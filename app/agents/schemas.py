from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from app.auth.roles import Role
from app.kit.email_address import EmailAddress
from app.kit.text import Storable, StorableStr

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable
]
Password = Annotated[str, Field(min_length=8, max_length=1024), Storable]
# A team or skill name; teams.name is String(100).
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable
]


class AgentCreate(BaseModel):
    email: Annotated[EmailAddress, Storable]
    name: Name
    password: Password
    role: Role = Role.AGENT
    capacity: int = Field(default=5, ge=0, le=1000)
    teams: list[Label] = Field(default_factory=list, max_length=50)
    skills: list[Label] = Field(default_factory=list, max_length=50)


class AgentUpdate(BaseModel):
    """What routing reads of an agent; either may be left out."""

    capacity: int | None = Field(default=None, ge=0, le=1000)
    skills: list[Label] | None = Field(default=None, max_length=50)


class AgentRef(BaseModel):
    id: int
    name: str
    role: Role


class AgentOut(AgentRef):
    email: str
    capacity: int
    teams: list[str]
    skills: list[str]
    status: Literal["online", "away", "offline"]


class StatusUpdate(BaseModel):
    status: Literal["online", "away", "offline"]


class PasswordChange(BaseModel):
    current_password: StorableStr = Field(max_length=1024)
    new_password: Password
