"""What the OpenAPI schema says of every operation's errors: one body for
every error, whichever layer raised it, and the statuses a route declares.

A route lists the errors its own logic can answer (`responses=errors(404,
409)`); the ones every route of a kind can answer (401 without a token, 422
for a bad body, 429, ...) are added to the schema in one place (main.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class ErrorBody(BaseModel):
    """Every error the server answers, from any layer."""

    error: str = Field(description="a stable code a client can branch on, e.g. `not_found`")
    detail: str = Field(description="what went wrong, for a person to read")


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "the body is not well-formed (not JSON, not UTF-8, NUL in text)",
    401: "no token, or a token that is not (or no longer) valid",
    403: "the token is valid but its role or team may not do this",
    404: "no such resource, or one the caller may not see",
    405: "the path exists but not with this method (see `Allow`)",
    409: "the resource's state does not allow this now",
    413: "the body is larger than the server accepts",
    415: "the body's media type is not one the operation accepts",
    422: "the body or a parameter breaks a rule the operation states",
    429: "too many requests; retry after `Retry-After` seconds",
    503: "the server is busy; retry after `Retry-After` seconds",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: these statuses, each with the error body."""
    return {
        status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


# What app/kit/text.py's `Storable` refuses, said in JSON Schema: no NUL.
# (A lone surrogate cannot be sent as JSON text a schema-driven client builds.)
NO_NUL_PATTERN = r"^[^\x00]*$"
# Stripped of whitespace, something is left: and no NUL.
NON_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


class _StatedPattern:
    """Adds a `pattern` to a string's JSON Schema (when it states none) that
    says what the validators already refuse; the server does not check it twice."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if schema.get("type") == "string":
            schema.setdefault("pattern", self.pattern)
        return schema


# Annotated[str, ..., Storable, NoNul]: the schema states the NUL rule.
NoNul = _StatedPattern(NO_NUL_PATTERN)
# For a stripped string with min_length=1: neither blank nor NUL.
NonBlank = _StatedPattern(NON_BLANK_PATTERN)


def json_integer(value: object) -> object:
    # JSON Schema's integer: 18 and 18.0, never `false` (bool is an int in
    # Python) nor "18" (pydantic's lax mode would read either as a number).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


# An integer as JSON Schema means it, for request bodies: `false` is not 0.
Integer = Annotated[int, BeforeValidator(json_integer)]


def json_number(value: object) -> object:
    # JSON Schema's number: never `true` (1.0 to pydantic) nor "0.5".
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value


# A number as JSON Schema means it, for request bodies.
Number = Annotated[float, BeforeValidator(json_number)]
