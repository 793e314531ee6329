from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.agents.schemas import Label
from app.inboxes.calendar import MINUTES_PER_DAY, known_holiday_calendar, parse_clock
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


# -- business hours and responders -------------------------------------------


def _clock(value: str) -> str:
    parse_clock(value)
    return value


Clock = Annotated[str, StringConstraints(max_length=5), AfterValidator(_clock)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# A slot per lunch break and shift is plenty; the cap bounds the calendar's work.
MAX_SLOTS_PER_DAY = 12
MAX_CLOSED_DATES = 1000


class BusinessHoursIn(BaseModel):
    """`PUT /inboxes/{id}/business-hours`: times are HH:MM in the inbox's time
    zone, 24:00 ends a day, a slot whose end is not after its start runs past
    midnight, and a weekday left out is closed."""

    model_config = ConfigDict(extra="forbid")

    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    weekly: dict[Weekday, Annotated[list[tuple[Clock, Clock]], Field(max_length=MAX_SLOTS_PER_DAY)]]
    closed_dates: Annotated[list[date], Field(max_length=MAX_CLOSED_DATES)] = Field(
        default_factory=list
    )
    holiday_calendar: Annotated[str, StringConstraints(min_length=2, max_length=10)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Asia/Tokyo)"
            ) from exc
        return value

    @field_validator("weekly")
    @classmethod
    def _slots(cls, value: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        for day, slots in value.items():
            for start, end in slots:
                begins, ends = parse_clock(start), parse_clock(end)
                if begins == MINUTES_PER_DAY:
                    raise ValueError(f"{day}: a slot cannot start at 24:00")
                if begins == ends:
                    raise ValueError(f"{day}: the slot {start}-{end} is empty")
        return value

    @field_validator("holiday_calendar")
    @classmethod
    def _known_calendar(cls, value: str | None) -> str | None:
        if value is not None and not known_holiday_calendar(value.upper()):
            raise ValueError(f"no public-holiday calendar for {value!r} (a country code, e.g. JP)")
        return value.upper() if value is not None else None


# A template, or off: null, "" or false (a template that says nothing is no reply).
Template = Annotated[str, StringConstraints(max_length=4000), Storable] | Literal[False] | None


class RespondersIn(BaseModel):
    """`PUT /inboxes/{id}/responders`: a template per responder, with the
    placeholders {customer_name} {next_open} {expected_reply} {channels}
    {agent_name}. A responder left out keeps its default; null, "" or false
    turns it off."""

    model_config = ConfigDict(extra="forbid")

    greeting: Template = None
    away: Template = None
    acknowledgement: Template = None
    redirect: Template = None
    # The inbox's language, when the channel does not tell the customer's.
    language: Annotated[str, StringConstraints(min_length=2, max_length=35)] | None = None
