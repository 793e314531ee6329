"""Text the database can store, checked once at the edge.

PostgreSQL's text types cannot hold a NUL character, and a lone surrogate
("\\ud800", which a JSON escape can carry) is not Unicode at all: it cannot be
encoded as UTF-8 for the driver, a hash or a mail. One such value in a
group-committed batch would fail the whole batch, so every text that reaches
the database from a request or a frame is refused up front, with a 422 or an
`invalid_frame` error, on SQLite too, for one behaviour everywhere.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_storable(text: str) -> str:
    """`text` unchanged, or ValueError when a database could not store it."""
    if "\x00" in text:
        raise ValueError("text may not contain a NUL character")
    if not text.isascii() and _SURROGATE.search(text) is not None:
        raise ValueError("text may not contain a lone surrogate: it is not valid Unicode")
    return text


# For request models, after any StringConstraints: Annotated[str, StringConstraints(...), Storable]
Storable = AfterValidator(check_storable)
StorableStr = Annotated[str, Storable]


def make_storable(text: str) -> str:
    """What a channel delivered, made storable instead of refused: a customer's
    mail or message is kept as well as it can be read, never lost over a NUL."""
    text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return text
