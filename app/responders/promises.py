"""The reply time promised to a customer, and whether it was kept.

An acknowledgement or away message names a time by which a person will
answer; it is stored on the conversation in the same commit as the message
that says it (the first promise of a conversation stands: a second automatic
message never moves it). The first human reply in the conversation settles
it, in that reply's own commit: kept when it came by the promised time,
missed otherwise. A promise past due and still unanswered counts as missed
already: it cannot be kept any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.conversations.writer import WithRows
from app.models import Conversation
from app.models.conversation import PROMISE_KEPT as KEPT
from app.models.conversation import PROMISE_MISSED as MISSED


def promise_reply_by(conversation_id: int, reply_by: datetime) -> WithRows:
    """Rows for the automatic message's commit: the promise, unless one stands."""

    def write(conn: Connection, message_id: int) -> None:
        conn.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.promised_reply_by.is_(None))
            .values(promised_reply_by=reply_by)
        )

    return write


@dataclass(frozen=True, slots=True)
class PromiseStats:
    promised: int
    kept: int
    missed: int
    # Promised, unanswered, and not yet due.
    pending: int

    @property
    def kept_rate(self) -> float | None:
        settled = self.kept + self.missed
        return round(self.kept / settled, 4) if settled else None

    def as_json(self) -> dict[str, object]:
        return {
            "promised": self.promised,
            "kept": self.kept,
            "missed": self.missed,
            "pending": self.pending,
            "kept_rate": self.kept_rate,
        }


async def stats(
    session: AsyncSession,
    now: datetime,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> PromiseStats:
    """The promises of the conversations `where` selects (an inbox's, a
    report's), due in [since, until) when given: how many were kept and missed."""
    c = Conversation
    overdue = and_(c.promise_outcome.is_(None), c.promised_reply_by < now)
    query = select(
        func.count(),
        func.count().filter(c.promise_outcome == KEPT),
        func.count().filter(or_(c.promise_outcome == MISSED, overdue)),
    ).where(c.promised_reply_by.is_not(None), *where)
    if since is not None:
        query = query.where(c.promised_reply_by >= since)
    if until is not None:
        query = query.where(c.promised_reply_by < until)
    promised, kept, missed = (await session.execute(query)).one()
    return PromiseStats(
        promised=int(promised),
        kept=int(kept),
        missed=int(missed),
        pending=int(promised) - int(kept) - int(missed),
    )
