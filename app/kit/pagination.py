"""Cursor pagination shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel

from app.errors import InvalidRequest
from app.kit.numbers import DB_INT_PATTERN, parse_db_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel):
    cursor: int | None
    limit: int


def _page(
    cursor: Annotated[
        str | None,
        Query(
            pattern=f"^({DB_INT_PATTERN})?$",
            description="opaque: the `next_cursor` of the previous page",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Page:
    if cursor is None or cursor == "":
        return Page(cursor=None, limit=limit)
    value = parse_db_int(cursor)
    if value is None:
        raise InvalidRequest("cursor is not one this server gave out")
    return Page(cursor=value, limit=limit)


PageDep = Annotated[Page, Depends(_page)]
