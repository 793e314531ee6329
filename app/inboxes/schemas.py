from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.agents.schemas import Label
from app.inboxes.calendar import MINUTES_PER_DAY, known_holiday_calendar, parse_clock
from app.inboxes.routing_config import RoutingConfig
from app.kit.api_schema import NonBlank, NoNul
from app.kit.text import Storable


class InboxCreate(BaseModel):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Storable,
        NonBlank,
    ]
    # A built-in ChannelKind or a plug-in's kind; the registry says which exist.
    channel: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,19}$"),
        Field(
            description="web, email, telegram, line, messenger, instagram, whatsapp, "
            "or a plug-in's kind; one this server does not have is a 422"
        ),
    ]
    mode: Literal["live", "redirect"] = "live"
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="the channel's settings (its keys depend on the channel); "
        "what the channel refuses is a 422",
    )
    teams: list[Label] = Field(default_factory=list, max_length=50)


class InboxWarning(BaseModel):
    """Something the inbox cannot do as set up, and the setting that mends it."""

    code: str
    message: str


class InboxOut(BaseModel):
    id: int
    name: str
    channel: str
    mode: Literal["live", "redirect"]
    # An admin reads it whole; anyone else without its secrets.
    config: dict[str, Any]
    teams: list[str]
    widget_key: str | None
    routing: RoutingConfig
    business_hours: dict[str, Any] | None
    responders: dict[str, Any]
    created_at: str
    # e.g. `no_outbound_relay` on an email inbox while no relay is set.
    warnings: list[InboxWarning] = Field(default_factory=list)


class InboxList(BaseModel):
    items: list[InboxOut]
    next_cursor: str | None


def _absent(value: object) -> bool:
    return value is None


class Availability(BaseModel):
    open: bool
    next_open_at: str | None
    expected_reply_seconds: int
    # Added to the contract's three, each only when it has a value (an inbox
    # without business hours answers the three alone).
    # The inbox's IANA zone name, when it has business hours.
    time_zone: str | None = Field(default=None, exclude_if=_absent)
    # `next_open_at` as the away message words it: "Tuesday 8 December, 09:00 (JST)".
    next_open_text: str | None = Field(default=None, exclude_if=_absent)
    # The same in each language the responders speak: {"en": …, "ja": …}.
    next_open_texts: dict[str, str] | None = Field(default=None, exclude_if=_absent)


# -- business hours and responders -------------------------------------------


def _clock(value: str) -> str:
    parse_clock(value)
    return value


Clock = Annotated[str, StringConstraints(max_length=5), AfterValidator(_clock)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# A slot per lunch break and shift is plenty; the cap bounds the calendar's work.
MAX_SLOTS_PER_DAY = 12
MAX_CLOSED_DATES = 1000
# The shape of an IANA zone name; whether the zone exists is the validator's.
TZ_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"


class BusinessHoursIn(BaseModel):
    """`PUT /inboxes/{id}/business-hours`: times are HH:MM in the inbox's time
    zone, 24:00 ends a day, a slot whose end is not after its start runs past
    midnight, and a weekday left out is closed."""

    model_config = ConfigDict(extra="forbid")

    timezone: Annotated[
        str,
        StringConstraints(min_length=1, max_length=64, pattern=TZ_PATTERN),
        Field(description="an IANA time zone, e.g. Asia/Tokyo; an unknown one is a 422"),
    ]
    weekly: dict[Weekday, Annotated[list[tuple[Clock, Clock]], Field(max_length=MAX_SLOTS_PER_DAY)]]
    closed_dates: Annotated[list[date], Field(max_length=MAX_CLOSED_DATES)] = Field(
        default_factory=list
    )
    holiday_calendar: (
        Annotated[
            str,
            StringConstraints(min_length=2, max_length=10, pattern=r"^[A-Za-z]{2,10}$"),
            Field(description="a country code, e.g. JP; one without a calendar is a 422"),
        ]
        | None
    ) = None

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


# A BCP 47 tag's shape, e.g. ja or pt-BR.
LANGUAGE_PATTERN = r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$"


def _exactly_false(value: object) -> object:
    # 0 == False in Python, and a Literal[False] would take it: `false` only.
    if value is not False and value == False:  # noqa: E712 - the point
        raise ValueError("off is false, not 0")
    return value


# A template, or off: null, "" or false (a template that says nothing is no reply).
Template = (
    Annotated[str, StringConstraints(max_length=4000), Storable, NoNul]
    | Annotated[Literal[False], BeforeValidator(_exactly_false)]
    | None
)


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
    language: (
        Annotated[str, StringConstraints(min_length=2, max_length=35, pattern=LANGUAGE_PATTERN)]
        | None
    ) = None
