from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

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
    """An admin's change to an agent: any field may be left out, none may be
    null, and nothing else may be sent (a misspelt `"activ": false` must not
    look like success). Types are strict: `false` is not a capacity of 0."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    role: Role | None = None
    capacity: StrictInt | None = Field(default=None, ge=0, le=1000)
    teams: list[Label] | None = Field(default=None, max_length=50)
    skills: list[Label] | None = Field(default=None, max_length=50)
    active: StrictBool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} may be left out, not null")
        return self


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password


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
    active: bool


class StatusUpdate(BaseModel):
    status: Literal["online", "away", "offline"]


class PasswordChange(BaseModel):
    current_password: StorableStr = Field(max_length=1024)
    new_password: Password
