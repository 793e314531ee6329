"""What the OpenAPI schema says of every operation's errors: one body for
every error, whichever layer raised it, and the statuses a route declares.

A route lists the errors its own logic can answer (`responses=errors(404,
409)`); the ones every route of a kind can answer (401 without a token, 422
for a bad body, 429, ...) are added to the schema in one place (main.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
