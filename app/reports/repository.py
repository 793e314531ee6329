"""All the SQL of reports: what a period holds, under the report's filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    Agent,
    AgentTeam,
    Conversation,
    CsatResponse,
    Inbox,
    Message,
    ReportMeasurement,
    ServicePolicy,
    SlaEvent,
)


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """A period [start, end) and who or what it is about; None: everything."""

    start: datetime
    end: datetime
    inbox_id: int | None = None
    team_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None


def _team_agents(team_id: int) -> Select[int]:
    return select(AgentTeam.agent_id).where(AgentTeam.team_id == team_id)


def conversation_filters(f: ReportFilter) -> list[ColumnElement[bool]]:
    """The filters as they apply to a conversation (its assignee stands for the agent)."""
    c = Conversation
    where: list[ColumnElement[bool]] = []
    if f.inbox_id is not None:
        where.append(c.inbox_id == f.inbox_id)
    if f.channel is not None:
        where.append(c.inbox_id.in_(select(Inbox.id).where(Inbox.channel == f.channel)))
    if f.agent_id is not None:
        where.append(c.assignee_id == f.agent_id)
    if f.team_id is not None:
        where.append(or_(c.team_id == f.team_id, c.assignee_id.in_(_team_agents(f.team_id))))
    return where


def _measurement_filters(f: ReportFilter) -> list[ColumnElement[bool]]:
    m = ReportMeasurement
    where: list[ColumnElement[bool]] = [m.ended_at >= f.start, m.ended_at < f.end]
    if f.inbox_id is not None:
        where.append(m.inbox_id == f.inbox_id)
    if f.channel is not None:
        where.append(m.channel == f.channel)
    if f.agent_id is not None:
        where.append(m.agent_id == f.agent_id)
    if f.team_id is not None:
        where.append(or_(m.team_id == f.team_id, m.agent_id.in_(_team_agents(f.team_id))))
    return where


async def measurements(
    session: AsyncSession, f: ReportFilter
) -> Sequence[tuple[str, datetime, float, float]]:
    """(kind, ended_at, wall seconds, business seconds) of what ended in the period."""
    m = ReportMeasurement
    rows = await session.execute(
        select(m.kind, m.ended_at, m.wall_seconds, m.business_seconds).where(
            and_(*_measurement_filters(f))
        )
    )
    return [(str(k), at, float(w), float(b)) for k, at, w, b in rows]


# Ranks are 0-based; the q-quantile of n sorted values lies between ranks
# (n - 1) * q rounded down and the one after. As integers (q in tenths), so
# the database and Python pick the same ranks.
QUANTILE_TENTHS = (5, 9)


async def ranked_values(
    session: AsyncSession, f: ReportFilter
) -> tuple[dict[str, int], dict[tuple[str, str, int], float]]:
    """Per kind, how many measurements, and the values at the ranks the
    median and p90 need, wall ("w") and business ("b"): the database sorts,
    and only those few rows come back."""
    m = ReportMeasurement
    where = and_(*_measurement_filters(f))
    counts = {
        str(kind): int(n)
        for kind, n in await session.execute(
            select(m.kind, func.count()).where(where).group_by(m.kind)
        )
    }
    values: dict[tuple[str, str, int], float] = {}
    if not counts:
        return counts, values
    wanted: dict[str, set[int]] = {}
    for kind, n in counts.items():
        ranks = wanted.setdefault(kind, set())
        for tenths in QUANTILE_TENTHS:
            low = (n - 1) * tenths // 10
            ranks.update({low, min(low + 1, n - 1)})
    for series, column in (("w", m.wall_seconds), ("b", m.business_seconds)):
        ranked = (
            select(
                m.kind.label("kind"),
                column.label("v"),
                (func.row_number().over(partition_by=m.kind, order_by=column) - 1).label("r"),
            )
            .where(where)
            .subquery()
        )
        pick = or_(
            *(
                and_(ranked.c.kind == kind, ranked.c.r.in_(sorted(ranks)))
                for kind, ranks in wanted.items()
            )
        )
        for kind, rank, value in await session.execute(
            select(ranked.c.kind, ranked.c.r, ranked.c.v).where(pick)
        ):
            values[(series, str(kind), int(rank))] = float(value)
    return counts, values


async def opened_count(session: AsyncSession, f: ReportFilter) -> int:
    c = Conversation
    result = await session.execute(
        select(func.count()).where(
            c.created_at >= f.start, c.created_at < f.end, *conversation_filters(f)
        )
    )
    return int(result.scalar_one())


async def opened(session: AsyncSession, f: ReportFilter) -> list[datetime]:
    c = Conversation
    rows = await session.execute(
        select(c.created_at).where(
            c.created_at >= f.start, c.created_at < f.end, *conversation_filters(f)
        )
    )
    return list(rows.scalars())


async def message_counts(session: AsyncSession, f: ReportFilter) -> dict[str, int]:
    """Public messages in the period: from customers (in), from agents and
    automatic ones (out)."""
    m = Message
    stmt = select(m.author_kind, func.count()).where(
        m.created_at >= f.start, m.created_at < f.end, m.private.is_(False)
    )
    if f.inbox_id is not None:
        stmt = stmt.where(m.inbox_id == f.inbox_id)
    if f.channel is not None:
        stmt = stmt.where(m.inbox_id.in_(select(Inbox.id).where(Inbox.channel == f.channel)))
    if f.agent_id is not None or f.team_id is not None:
        narrowed = ReportFilter(f.start, f.end, None, f.team_id, f.agent_id, None)
        stmt = stmt.where(
            m.conversation_id.in_(select(Conversation.id).where(*conversation_filters(narrowed)))
        )
    rows = await session.execute(stmt.group_by(m.author_kind))
    return {str(kind): int(n) for kind, n in rows}


async def csat_ratings(session: AsyncSession, f: ReportFilter) -> list[tuple[datetime, int]]:
    r = CsatResponse
    rows = await session.execute(
        select(r.created_at, r.rating)
        .join(Conversation, Conversation.id == r.conversation_id)
        .where(r.created_at >= f.start, r.created_at < f.end, *conversation_filters(f))
    )
    return [(at, int(rating)) for at, rating in rows]


async def sla_events(session: AsyncSession, f: ReportFilter) -> list[tuple[datetime, str, str]]:
    """(fired_at, target, phase) of the marks in the period."""
    e = SlaEvent
    rows = await session.execute(
        select(e.fired_at, e.target, e.phase)
        .join(Conversation, Conversation.id == e.conversation_id)
        .where(e.fired_at >= f.start, e.fired_at < f.end, *conversation_filters(f))
    )
    return [(at, str(target), str(phase)) for at, target, phase in rows]


# -- per agent -------------------------------------------------------------------


async def agent_measurements(
    session: AsyncSession, f: ReportFilter
) -> Sequence[tuple[int | None, int, str, int, float, float]]:
    """(agent_id, conversation_id, kind, inbox_id, wall, business seconds) of
    what ended in the period: who answered, or the assignee who resolved."""
    m = ReportMeasurement
    rows = await session.execute(
        select(
            m.agent_id, m.conversation_id, m.kind, m.inbox_id, m.wall_seconds, m.business_seconds
        ).where(and_(*_measurement_filters(f)))
    )
    return [(a, int(c), str(k), int(i), float(w), float(b)) for a, c, k, i, w, b in rows]


async def csat_by_assignee(session: AsyncSession, f: ReportFilter) -> list[tuple[int | None, int]]:
    """(assignee_id, rating) of the ratings that came in the period."""
    r = CsatResponse
    rows = await session.execute(
        select(Conversation.assignee_id, r.rating)
        .join(Conversation, Conversation.id == r.conversation_id)
        .where(r.created_at >= f.start, r.created_at < f.end, *conversation_filters(f))
    )
    return [(assignee, int(rating)) for assignee, rating in rows]


async def first_response_targets(session: AsyncSession) -> dict[int, int]:
    """The first-response target (business seconds) of each inbox that has one."""
    p = ServicePolicy
    rows = await session.execute(
        select(p.inbox_id, p.first_response_seconds).where(p.first_response_seconds.is_not(None))
    )
    return {int(inbox_id): seconds for inbox_id, seconds in rows if seconds is not None}


async def unanswered_first_response_breaches(
    session: AsyncSession, f: ReportFilter
) -> list[int | None]:
    """The assignees of conversations whose first-response clock ran out in
    the period with no first response measured in it (a late answer in the
    period already counts as missed)."""
    e, m = SlaEvent, ReportMeasurement
    answered = exists().where(
        m.conversation_id == e.conversation_id,
        m.kind == "first_response",
        m.ended_at >= f.start,
        m.ended_at < f.end,
    )
    rows = await session.execute(
        select(Conversation.assignee_id)
        .select_from(e)
        .join(Conversation, Conversation.id == e.conversation_id)
        .where(
            e.target == "first_response",
            e.phase == "breach",
            e.fired_at >= f.start,
            e.fired_at < f.end,
            ~answered,
            *conversation_filters(f),
        )
    )
    return list(rows.scalars())


async def agent_names(session: AsyncSession, agent_ids: set[int]) -> dict[int, str]:
    if not agent_ids:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
    return {int(agent_id): str(name) for agent_id, name in rows}
