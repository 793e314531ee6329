"""Integers that name database rows: ids and seqs.

Every id and seq column is a 32-bit INTEGER on PostgreSQL, where asyncpg
refuses a parameter past its range (SQLite's limit is 64 bits), so a number
outside it can name no row: it is refused at the edge as bad input, the same
on both databases, instead of failing in the driver.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

DB_INT_MAX = 2**31 - 1

# A row's id: PostgreSQL's SERIAL and SQLite's rowid both start at 1.
DbId = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
# A message's place in its conversation; 0 stands for "before the first".
DbSeq = Annotated[int, Field(ge=0, le=DB_INT_MAX)]

_DB_INT_DIGITS = len(str(DB_INT_MAX))

# What parse_db_int accepts, 0..DB_INT_MAX in decimal, as a regular
# expression: the schema states the rule the server applies.
DB_INT_PATTERN = (
    "(0|[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}"
    "|2147[0-3][0-9]{5}|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}"
    "|21474836[0-3][0-9]|214748364[0-7])"
)


def parse_db_int(text: str) -> int | None:
    """`text` as a number in 0..DB_INT_MAX, or None.

    Only ASCII digits count: str.isdigit() also takes "²" or "٣", which int()
    then refuses or reads as another number.
    """
    if not text or len(text) > _DB_INT_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= DB_INT_MAX else None
