"""The period per agent, and how often the first response met its target.

An agent's row counts what they did: the conversations they answered or
resolved (a response is the replying agent's, a resolution the assignee's),
their first responses and resolutions, and the ratings of the conversations
assigned to them.

First-response SLA attainment is the share of first responses due in the
period, in inboxes whose service policy sets a first-response target, that
came within it (in business seconds, the inbox's calendar). A first response
is due in the period when it was given in it, or when its clock ran out in
it unanswered: that counts as missed. Targets are the policies' as they
stand now; the SLA clocks keep the target they started with.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from app.db import Database
from app.reports import repository as reports_repo
from app.reports.repository import ReportFilter
from app.reports.rollup import Rollup
from app.reports.service import csat_figures, timing


class _Attainment:
    __slots__ = ("due", "met")

    def __init__(self) -> None:
        self.due = 0
        self.met = 0

    def count(self, met: bool) -> None:
        self.due += 1
        self.met += met

    def as_json(self) -> dict[str, Any]:
        rate = round(self.met / self.due, 4) if self.due else None
        return {"due": self.due, "met": self.met, "rate": rate}


class _Row:
    def __init__(self) -> None:
        self.conversations: set[int] = set()
        self.wall: dict[str, list[float]] = defaultdict(list)
        self.business: dict[str, list[float]] = defaultdict(list)
        self.ratings: list[int] = []
        self.sla = _Attainment()


async def agent_report(db: Database, rollup: Rollup, f: ReportFilter) -> dict[str, Any]:
    await rollup.fold_all()
    async with db.read() as session:
        measured = await reports_repo.agent_measurements(session, f)
        ratings = await reports_repo.csat_by_assignee(session, f)
        targets = await reports_repo.first_response_targets(session)
        unanswered = await reports_repo.unanswered_first_response_breaches(session, f)
        rows: dict[int, _Row] = defaultdict(_Row)
        overall = _Attainment()
        for agent_id, conversation_id, kind, inbox_id, wall, business in measured:
            target = targets.get(inbox_id) if kind == "first_response" else None
            if target is not None:
                overall.count(business <= target)
            if agent_id is None:
                continue
            row = rows[agent_id]
            if kind in ("first_response", "response", "resolution"):
                row.conversations.add(conversation_id)
            row.wall[kind].append(wall)
            row.business[kind].append(business)
            if target is not None:
                row.sla.count(business <= target)
        for assignee_id in unanswered:
            overall.count(False)
            if assignee_id is not None:
                rows[assignee_id].sla.count(False)
        for assignee_id, rating in ratings:
            if assignee_id is not None:
                rows[assignee_id].ratings.append(rating)
        names = await reports_repo.agent_names(session, set(rows))
    items: list[dict[str, Any]] = [
        {
            "agent_id": agent_id,
            "name": names.get(agent_id, ""),
            "conversations": len(row.conversations),
            "first_response": timing(row.wall["first_response"], row.business["first_response"]),
            "resolution": timing(row.wall["resolution"], row.business["resolution"]),
            "csat": csat_figures(row.ratings),
            "first_response_sla": row.sla.as_json(),
        }
        for agent_id, row in rows.items()
        if agent_id in names
    ]
    items.sort(key=lambda item: (str(item["name"]).casefold(), int(item["agent_id"])))
    return {
        "from": f.start.isoformat(),
        "to": f.end.isoformat(),
        "first_response_sla": overall.as_json(),
        "items": items,
    }
