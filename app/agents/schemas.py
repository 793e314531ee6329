from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from app.auth.roles import Role
from app.auth.schemas import AgentRef
from app.kit.api_schema import Integer, NonBlank, NoNul, json_integer
from app.kit.email_address import EmailAddress
from app.kit.text import Storable, StorableStr

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable, NonBlank
]
Password = Annotated[str, Field(min_length=8, max_length=1024), Storable, NoNul]
# A team or skill name; teams.name is String(100).
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable, NonBlank
]
Status = Literal["online", "away", "offline"]


class AgentCreate(BaseModel):
    email: Annotated[EmailAddress, Storable]
    name: Name
    password: Password
    role: Role = Role.AGENT
    capacity: Integer = Field(default=5, ge=0, le=1000)
    teams: list[Label] = Field(default_factory=list, max_length=50)
    skills: list[Label] = Field(default_factory=list, max_length=50)


def _not_nullable(schema: dict[str, Any]) -> None:
    # Each field may be left out, none may be null: the schema says so.
    for prop in schema.get("properties", {}).values():
        choices = [c for c in prop.pop("anyOf", []) if c.get("type") != "null"]
        if len(choices) == 1:
            prop.update(choices[0])
        elif choices:
            prop["anyOf"] = choices
        prop.pop("default", None)


class AgentUpdate(BaseModel):
    """An admin's change to an agent: any field may be left out, none may be
    null, and nothing else may be sent (a misspelt `"activ": false` must not
    look like success). Types are strict: `false` is not a capacity of 0."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_not_nullable)

    name: Name | None = None
    role: Role | None = None
    capacity: Annotated[int, Field(ge=0, le=1000), BeforeValidator(json_integer)] | None = None
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


class AgentOut(AgentRef):
    email: str
    capacity: int
    teams: list[str]
    skills: list[str]
    # What the agent is seen as: `chosen_status`, or offline without a socket.
    status: Status
    chosen_status: Status
    active: bool


class AgentList(BaseModel):
    items: list[AgentOut]
    next_cursor: str | None


class TransferTarget(BaseModel):
    """An agent as a colleague handing a conversation on sees them: nothing
    private (no email, capacity or skills)."""

    id: int
    name: str
    role: Role
    status: Status
    teams: list[str]


class TransferTargetList(BaseModel):
    items: list[TransferTarget]
    next_cursor: str | None


class TeamOut(BaseModel):
    id: int
    name: str


class TeamList(BaseModel):
    items: list[TeamOut]
    next_cursor: str | None


class StatusUpdate(BaseModel):
    status: Status


class PasswordChange(BaseModel):
    current_password: Annotated[StorableStr, Field(max_length=1024), NoNul]
    new_password: Password


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
