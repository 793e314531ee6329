"""Reports, service policies (SLA, CSAT, follow-up) and a conversation's SLA marks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import WithJsonSchema

from app.agents import repository as agents_repo
from app.agents.schemas import Label
from app.auth.dependencies import Admin, CurrentAgent, Supervisor
from app.channels.base import ChannelKind
from app.channels.registry import ChannelRegistry
from app.conversations import access
from app.conversations import service as conversations
from app.conversations.schemas import refused
from app.errors import InvalidRequest, NotFound
from app.kit.api_schema import errors
from app.kit.numbers import DbId
from app.reports import service as reports
from app.reports import sla
from app.reports.agent_report import agent_report
from app.reports.repository import ReportFilter
from app.reports.rollup import ROLLUP
from app.reports.schemas import (
    AgentReport,
    ConversationSla,
    Series,
    ServicePolicyIn,
    ServicePolicyOut,
    Summary,
)
from app.runtime import Runtime, RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["reports"])

DEFAULT_PERIOD = timedelta(days=7)
# A series of more rows than this is no chart anyone reads: ask for days.
MAX_BUCKETS = 24 * 93
# Every IANA zone this server knows; another name is refused (422).
ZONES = frozenset(available_timezones())
_WHEN = (
    "ISO 8601, e.g. `2026-12-01T09:00:00+09:00`; a time without an offset, or a"
    " date alone (its midnight), is read in `tz`"
)
From = Annotated[
    str | None,
    Query(alias="from", description=f"the period's start (default: `to` less 7 days): {_WHEN}"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
To = Annotated[
    str | None,
    Query(alias="to", description=f"the period's end, after `from` (default: now): {_WHEN}"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Zone = Annotated[
    str,
    Query(description="the IANA time zone of the report's days and of times without an offset"),
    WithJsonSchema({"type": "string", "enum": sorted(ZONES)}),
]
Team = Annotated[Label | None, Query(description="a team's name")]
# Any channel in the registry, plug-ins included: checked per request (_channel).
Channel = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=20,
        description="A channel's kind: a built-in one or a plug-in's.",
        examples=[kind.value for kind in ChannelKind],
    ),
]


def _zone(tz: str) -> ZoneInfo:
    if tz not in ZONES:
        raise InvalidRequest("tz is an IANA time zone, e.g. Asia/Tokyo")
    return ZoneInfo(tz)


def _when(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; a bare number (a Unix time?) is not one."""
    if text is None:
        return None
    try:
        if not text[:4].isascii() or not text[:4].isdigit() or text[4:5] != "-":
            raise ValueError(text)
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(f"{name} is an ISO 8601 date-time, e.g. 2026-12-01T09:00:00Z") from exc


def _channel(channels: ChannelRegistry, kind: str | None) -> str | None:
    if kind is not None and kind not in channels:
        raise InvalidRequest(f"channel is one of {', '.join(channels.kinds())}, not {kind!r}")
    return kind


def _aware(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A time without an offset is read in the report's time zone."""
    if value is None:
        return None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What every report reads from its query string: the period and filters,
    and the time zone its days and naive times are in."""

    filter: ReportFilter
    tz: str
    zone: ZoneInfo


async def report_query(
    runtime: RuntimeDep,
    start: From = None,
    end: To = None,
    inbox_id: DbId | None = None,
    team: Team = None,
    agent_id: DbId | None = None,
    channel: Channel = None,
    tz: Zone = "UTC",
) -> ReportQuery:
    zone = _zone(tz)
    channel = _channel(runtime.channels, channel)
    end_at = _aware(_when("to", end), zone) or datetime.now(UTC)
    start_at = _aware(_when("from", start), zone) or end_at - DEFAULT_PERIOD
    if start_at >= end_at:
        raise InvalidRequest("from must be before to")
    team_id = None
    if team is not None:
        async with runtime.db.read() as session:
            found = await agents_repo.existing_teams(session, [team])
        if not found:
            raise NotFound("no such team")
        team_id = found[0].id
    return ReportQuery(
        ReportFilter(start_at, end_at, inbox_id, team_id, agent_id, channel), tz, zone
    )


ReportQueryDep = Annotated[ReportQuery, Depends(report_query)]
# What the period and filters can be refused for, besides their stated formats.
REPORT_REFUSED: dict[int | str, dict[str, Any]] = {
    404: refused(404, "no such team"),
    422: refused(
        422,
        "`from` not before `to` (an empty period), a `from` or `to` that is not an"
        " ISO 8601 date-time, a `tz` that is no IANA zone, or a `channel` this server"
        " does not have",
    ),
}
SERIES_REFUSED: dict[int | str, dict[str, Any]] = {
    **REPORT_REFUSED,
    422: refused(
        422,
        "as for the summary, or a period of more than"
        f" {MAX_BUCKETS} rows (ask for days, or a shorter period)",
    ),
}


@router.get("/reports/summary", response_model=Summary, responses=REPORT_REFUSED)
async def summary(_: Supervisor, query: ReportQueryDep, runtime: RuntimeDep) -> dict[str, Any]:
    return await reports.summary(runtime.db, runtime[ROLLUP], query.filter)


@router.get("/reports/agents", response_model=AgentReport, responses=REPORT_REFUSED)
async def agents(_: Supervisor, query: ReportQueryDep, runtime: RuntimeDep) -> dict[str, Any]:
    """The period per agent, with the share of first responses that met the
    inbox's first-response target."""
    return await agent_report(runtime.db, runtime[ROLLUP], query.filter)


async def _series(
    runtime: Runtime, query: ReportQuery, interval: reports.Interval
) -> list[dict[str, Any]]:
    f = query.filter
    step = timedelta(days=1) if interval == "day" else timedelta(hours=1)
    if (f.end - f.start) / step > MAX_BUCKETS:
        raise InvalidRequest(f"at most {MAX_BUCKETS} rows; choose a shorter period or days")
    return await reports.timeseries(runtime.db, runtime[ROLLUP], f, interval, query.zone)


@router.get("/reports/timeseries", response_model=Series, responses=SERIES_REFUSED)
async def timeseries(
    _: Supervisor,
    query: ReportQueryDep,
    runtime: RuntimeDep,
    interval: Annotated[reports.Interval, Query(description="one row per day or hour")] = "day",
) -> dict[str, Any]:
    items = await _series(runtime, query, interval)
    return {"interval": interval, "tz": query.tz, "items": items}


@router.get(
    "/reports/timeseries.csv",
    response_class=Response,
    responses={
        200: {
            "description": "the rows of `/reports/timeseries` as CSV, a file to save",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **SERIES_REFUSED,
    },
)
async def timeseries_csv(
    _: Supervisor,
    query: ReportQueryDep,
    runtime: RuntimeDep,
    interval: reports.Interval = "day",
) -> Response:
    items = await _series(runtime, query, interval)
    return Response(
        reports.series_csv(items),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="madoguchi-report.csv"'},
    )


@router.get(
    "/inboxes/{inbox_id}/service-policy", response_model=ServicePolicyOut, responses=errors(404)
)
async def get_service_policy(
    inbox_id: DbId, _: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    return await sla.get_policy(runtime.db, inbox_id)


@router.put(
    "/inboxes/{inbox_id}/service-policy", response_model=ServicePolicyOut, responses=errors(404)
)
async def set_service_policy(
    inbox_id: DbId, body: ServicePolicyIn, _: Admin, runtime: RuntimeDep
) -> dict[str, Any]:
    return await sla.set_policy(runtime.db, inbox_id, body)


@router.get(
    "/conversations/{conversation_id}/sla", response_model=ConversationSla, responses=errors(404)
)
async def conversation_sla(
    conversation_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        await conversations.visible_conversation(session, viewer, conversation_id)
        events = await sla.conversation_sla(session, conversation_id)
    return {
        "conversation_id": conversation_id,
        "breached": any(e["phase"] == "breach" for e in events),
        "items": events,
    }
