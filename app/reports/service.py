"""Reports: a period's figures, as one summary or as a series per day or hour.

Durations are read from the measurements the fold keeps (rollup.py), after a
fold of whatever changed, so a report always counts everything committed
before it was asked for. A duration belongs to the period in which it ends
(the reply, the resolution, the assignment); conversations opened by their
creation time; CSAT by when the rating came; SLA marks by when they fired.

Median and p90 interpolate linearly between the closest ranks (as
PostgreSQL's percentile_cont and numpy's default do): the median of 10 s and
20 s is 15 s.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from app.db import Database
from app.kit.clock import clock
from app.reports import repository as reports_repo
from app.reports.repository import ReportFilter
from app.reports.rollup import Rollup
from app.responders import promises

KINDS = ("first_response", "response", "resolution", "queue_wait")
SLA_TARGETS = ("first_response", "next_response", "resolution")
Interval = Literal["day", "hour"]


def quantile(n: int, tenths: int, at: Callable[[int], float]) -> float | None:
    """The quantile (in tenths) of n sorted values, `at(rank)` giving each."""
    if n == 0:
        return None
    low, rest = divmod((n - 1) * tenths, 10)
    high = min(low + 1, n - 1)
    value = at(low) + (at(high) - at(low)) * rest / 10
    return round(value, 3)


def timing(wall: list[float], business: list[float]) -> dict[str, Any]:
    """The contract's T: count, median and p90, wall-clock and business, in seconds."""
    wall.sort()
    business.sort()
    return {
        "count": len(wall),
        "median": quantile(len(wall), 5, wall.__getitem__),
        "p90": quantile(len(wall), 9, wall.__getitem__),
        "business_median": quantile(len(business), 5, business.__getitem__),
        "business_p90": quantile(len(business), 9, business.__getitem__),
    }


def ranked_timing(n: int, values: dict[tuple[str, str, int], float], kind: str) -> dict[str, Any]:
    """`timing` from the few ranked values the database picked (repository.ranked_values)."""

    def series(name: str) -> Callable[[int], float]:
        return lambda rank: values[(name, kind, rank)]

    return {
        "count": n,
        "median": quantile(n, 5, series("w")),
        "p90": quantile(n, 9, series("w")),
        "business_median": quantile(n, 5, series("b")),
        "business_p90": quantile(n, 9, series("b")),
    }


def csat_figures(ratings: Iterable[int]) -> dict[str, Any]:
    counts = Counter(ratings)
    total = sum(counts.values())
    return {
        "count": total,
        "average": round(sum(r * n for r, n in counts.items()) / total, 3) if total else None,
        "distribution": {str(r): counts.get(r, 0) for r in range(1, 6)},
    }


def sla_figures(events: Iterable[tuple[datetime, str, str]]) -> dict[str, Any]:
    breaches: Counter[str] = Counter()
    warnings = 0
    for _, target, phase in events:
        if phase == "breach":
            breaches[target] += 1
        else:
            warnings += 1
    return {
        "breaches": sum(breaches.values()),
        "warnings": warnings,
        "breaches_by_target": {t: breaches.get(t, 0) for t in SLA_TARGETS},
    }


async def summary(db: Database, rollup: Rollup, f: ReportFilter) -> dict[str, Any]:
    await rollup.fold_all()
    async with db.read() as session:
        measured, ranked = await reports_repo.ranked_values(session, f)
        opened = await reports_repo.opened_count(session, f)
        counts = await reports_repo.message_counts(session, f)
        ratings = await reports_repo.csat_ratings(session, f)
        events = await reports_repo.sla_events(session, f)
        # Reply times promised by acknowledgements and away messages that
        # fell due in the period, and how many the first human reply kept.
        promised = await promises.stats(
            session,
            clock.now(),
            where=reports_repo.conversation_filters(f),
            since=f.start,
            until=f.end,
        )
    return {
        "from": f.start.isoformat(),
        "to": f.end.isoformat(),
        "conversations": {"opened": opened, "resolved": measured.get("resolution", 0)},
        **{kind: ranked_timing(measured.get(kind, 0), ranked, kind) for kind in KINDS},
        "messages": {
            "in": counts.get("customer", 0),
            "out": counts.get("agent", 0),
            "automatic": counts.get("system", 0),
        },
        "csat": csat_figures(rating for _, rating in ratings),
        "sla": sla_figures(events),
        "promises": promised.as_json(),
    }


def _bucket_starts(
    start: datetime, end: datetime, interval: Interval, tz: ZoneInfo
) -> list[datetime]:
    local = start.astimezone(tz)
    if interval == "day":
        first = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        first = local.replace(minute=0, second=0, microsecond=0)
    starts: list[datetime] = []
    wall = first.replace(tzinfo=None)
    step = timedelta(days=1) if interval == "day" else timedelta(hours=1)
    while True:
        # Wall-clock steps in the zone: a day is a local day across DST.
        at = wall.replace(tzinfo=tz).astimezone(UTC)
        if at >= end:
            return starts
        if not starts or at > starts[-1]:
            starts.append(at)
        wall += step


def _index(starts: Sequence[datetime], at: datetime) -> int | None:
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] <= at:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1 if lo > 0 else None


async def timeseries(
    db: Database, rollup: Rollup, f: ReportFilter, interval: Interval, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """One row per day or hour (local to `tz`) of the period."""
    await rollup.fold_all()
    async with db.read() as session:
        measured = await reports_repo.measurements(session, f)
        opened = await reports_repo.opened(session, f)
        ratings = await reports_repo.csat_ratings(session, f)
        events = await reports_repo.sla_events(session, f)
    starts = _bucket_starts(f.start, f.end, interval, tz)
    n = len(starts)
    wall: list[dict[str, list[float]]] = [defaultdict(list) for _ in range(n)]
    business: list[dict[str, list[float]]] = [defaultdict(list) for _ in range(n)]
    for kind, at, w, b in measured:
        i = _index(starts, at)
        if i is not None:
            wall[i][kind].append(w)
            business[i][kind].append(b)
    opened_n = [0] * n
    for at in opened:
        i = _index(starts, at)
        if i is not None:
            opened_n[i] += 1
    rated: list[list[int]] = [[] for _ in range(n)]
    for at, rating in ratings:
        i = _index(starts, at)
        if i is not None:
            rated[i].append(rating)
    marks: list[list[tuple[datetime, str, str]]] = [[] for _ in range(n)]
    for event in events:
        i = _index(starts, event[0])
        if i is not None:
            marks[i].append(event)
    rows = []
    for i, at in enumerate(starts):
        rows.append(
            {
                "start": at.astimezone(tz).isoformat(),
                "opened": opened_n[i],
                "resolved": len(wall[i]["resolution"]),
                **{kind: timing(wall[i][kind], business[i][kind]) for kind in KINDS},
                "csat": csat_figures(rated[i]),
                "sla": sla_figures(marks[i]),
            }
        )
    return rows


CSV_COLUMNS = (
    "start",
    "opened",
    "resolved",
    *(
        f"{k}_{s}"
        for k in KINDS
        for s in ("count", "median", "p90", "business_median", "business_p90")
    ),
    "csat_count",
    "csat_average",
    *(f"csat_{r}" for r in range(1, 6)),
    "sla_breaches",
    "sla_warnings",
)


def series_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        line: list[Any] = [row["start"], row["opened"], row["resolved"]]
        for kind in KINDS:
            t = row[kind]
            line += [t["count"], t["median"], t["p90"], t["business_median"], t["business_p90"]]
        csat = row["csat"]
        line += [
            csat["count"],
            csat["average"],
            *(csat["distribution"][str(r)] for r in range(1, 6)),
        ]
        line += [row["sla"]["breaches"], row["sla"]["warnings"]]
        writer.writerow("" if v is None else v for v in line)
    return out.getvalue()
