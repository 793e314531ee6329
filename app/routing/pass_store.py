"""The SQL of one assignment pass, synchronous on purpose.

`Database.write_batch` runs a whole pass as one call: on SQLite in the
writer's own thread with a plain connection (one thread hop per pass instead
of one per statement, the same reason the message writer works so), on
PostgreSQL through the async engine's bridge. The statements of the hot path
are plain SQL, built once: a composed select cost more to build than the
query took to run.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, text, update

from app.auth.roles import Role
from app.driver_sql import Params, db_time
from app.inboxes import calendar
from app.inboxes.calendar import BusinessHours
from app.inboxes.routing_config import RoutingConfig, config_of
from app.kit.language import skill_set
from app.models import Agent, AgentTeam, Conversation, Customer, Inbox, InboxTeam, Message
from app.routing.policies import Waiting
from app.worker.job_rows import insert_jobs

# PostgreSQL: every pass, in every process, holds this advisory lock until it
# commits, so passes run one after another and each sees what the one before
# committed: first come, first served holds across processes, and an agent's
# room counted in a pass is the room there is.
PASS_LOCK = 0x6D61646F  # "mado"


def one_pass_at_a_time(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PASS_LOCK})")


# -- agents ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentProfile:
    role: Role
    capacity: int
    skills: frozenset[str]
    team_ids: frozenset[int]
    last_routed_at: datetime | None


def profiles(conn: Connection, agent_ids: Collection[int]) -> dict[int, AgentProfile]:
    """The active agents among `agent_ids`, as routing matches them."""
    if not agent_ids:
        return {}
    ids = sorted(agent_ids)
    teams: dict[int, set[int]] = {}
    for agent_id, team_id in conn.execute(
        select(AgentTeam.agent_id, AgentTeam.team_id).where(AgentTeam.agent_id.in_(ids))
    ):
        teams.setdefault(agent_id, set()).add(team_id)
    rows = conn.execute(
        select(Agent.id, Agent.role, Agent.capacity, Agent.skills, Agent.last_routed_at).where(
            Agent.id.in_(ids), Agent.is_active
        )
    )
    return {
        row.id: AgentProfile(
            role=Role(row.role),
            capacity=row.capacity,
            skills=skill_set(list(row.skills or [])),
            team_ids=frozenset(teams.get(row.id, ())),
            last_routed_at=row.last_routed_at,
        )
        for row in rows
    }


_LOADS = text(
    "SELECT assignee_id, count(*) FROM conversations"
    " WHERE status = 'open' AND assignee_id IS NOT NULL GROUP BY assignee_id"
)
_LOAD_OF = text(
    "SELECT assignee_id, count(*) FROM conversations"
    " WHERE status = 'open' AND assignee_id IN :agents GROUP BY assignee_id"
).bindparams(bindparam("agents", expanding=True))


def loads(conn: Connection) -> dict[int, int]:
    """Open conversations assigned to each agent: what counts against capacity.
    One scan of the (status, assignee) index rather than a list of ids."""
    return {int(a): int(n) for a, n in conn.execute(_LOADS)}


def load_of(conn: Connection, agent_ids: Sequence[int]) -> dict[int, int]:
    return {int(a): int(n) for a, n in conn.execute(_LOAD_OF, {"agents": list(agent_ids)})}


def room_of(conn: Connection, agent_id: int) -> tuple[int, int] | None:
    """(capacity, open conversations) of an active agent, read now (the pass
    holds PASS_LOCK on PostgreSQL, SQLite's single writer otherwise)."""
    p = Params(conn)
    row = conn.exec_driver_sql(
        "SELECT a.capacity, (SELECT count(*) FROM conversations AS c"  # noqa: S608 - placeholders only
        " WHERE c.status = 'open' AND c.assignee_id = a.id)"
        f" FROM agents AS a WHERE a.id = {p(agent_id)} AND a.is_active",
        tuple(p.values),
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def touch_agents(conn: Connection, agent_ids: Collection[int], now: datetime) -> None:
    if agent_ids:
        conn.execute(
            update(Agent).where(Agent.id.in_(sorted(agent_ids))).values(last_routed_at=now)
        )


# -- inboxes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxRouting:
    live: bool
    config: RoutingConfig
    team_ids: tuple[int, ...]
    # None: open around the clock. Closed, nothing is assigned automatically.
    hours: BusinessHours | None = None


def inboxes(conn: Connection) -> dict[int, InboxRouting]:
    teams: dict[int, list[int]] = {}
    for inbox_id, team_id in conn.execute(
        select(InboxTeam.inbox_id, InboxTeam.team_id).order_by(InboxTeam.team_id)
    ):
        teams.setdefault(inbox_id, []).append(team_id)
    return {
        row.id: InboxRouting(
            live=row.mode == "live",
            config=config_of(row.routing),
            team_ids=tuple(teams.get(row.id, ())),
            hours=calendar.from_json(row.business_hours),
        )
        for row in conn.execute(select(Inbox.id, Inbox.mode, Inbox.routing, Inbox.business_hours))
    }


# -- the queue ---------------------------------------------------------------

QueueKey = tuple[int, datetime, int]


def queue_key(waiting: Waiting) -> QueueKey:
    return (waiting.priority, waiting.queued_at, waiting.id)


def _time(value: Any) -> datetime:
    """A timestamp as the driver gives it back: text on SQLite (naive UTC)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    moment: datetime = value
    return moment.astimezone(UTC)


def waiting_page(
    conn: Connection,
    after: QueueKey | None,
    limit: int,
    *,
    lock: bool,
    sticky_since: datetime | None,
) -> list[Waiting]:
    """The next waiting conversations of live inboxes in queue order. With
    `lock` (PostgreSQL), their rows are locked until commit and rows another
    transaction holds are skipped: that one is assigning or changing them.
    With `sticky_since`, each comes with who helped the customer last in
    another conversation active since then (waiting ones have no assignee).

    Driver-level SQL, as the message writer's: this runs on every pass, and
    SQLAlchemy's execution took several times what SQLite needs for it."""
    p = Params(conn)
    where = ""
    if after is not None:
        priority, queued_at, conversation_id = after
        stamp = db_time(conn, queued_at)
        where = (
            f" AND (c.priority < {p(priority)} OR (c.priority = {p(priority)}"
            f" AND (c.queued_at > {p(stamp)} OR (c.queued_at = {p(stamp)}"
            f" AND c.id > {p(conversation_id)}))))"
        )
    rows: Sequence[Any] = conn.exec_driver_sql(
        "SELECT c.id, c.inbox_id, c.customer_id, c.team_id, c.priority, c.queued_at,"  # noqa: S608 - placeholders only
        " c.language, c.required_skill, c.escalated_to, c.passed_agent_id"
        " FROM conversations AS c JOIN inboxes AS i ON i.id = c.inbox_id"
        " WHERE c.status = 'open' AND c.assignee_id IS NULL AND c.queued_at IS NOT NULL"
        f" AND i.mode = 'live'{where}"
        f" ORDER BY c.priority DESC, c.queued_at, c.id LIMIT {p(limit)}"
        + (" FOR UPDATE OF c SKIP LOCKED" if lock else ""),
        tuple(p.values),
    ).all()
    last: dict[int, tuple[int, datetime]] = {}
    if rows and sticky_since is not None:
        p = Params(conn)
        customers = ", ".join(p(c) for c in sorted({r[2] for r in rows}))
        found = conn.exec_driver_sql(
            "SELECT customer_id, assignee_id, updated_at FROM conversations"  # noqa: S608 - placeholders only
            f" WHERE customer_id IN ({customers}) AND assignee_id IS NOT NULL"
            f" AND updated_at >= {p(db_time(conn, sticky_since))}"
            " ORDER BY updated_at",
            tuple(p.values),
        )
        for customer_id, agent_id, updated_at in found:
            last[customer_id] = (agent_id, _time(updated_at))
    page = []
    for row in rows:
        helper = last.get(row[2])
        page.append(
            Waiting(
                id=row[0],
                inbox_id=row[1],
                customer_id=row[2],
                team_id=row[3],
                priority=row[4],
                queued_at=_time(row[5]),
                language=row[6],
                required_skill=row[7],
                escalated_to=row[8],
                passed_agent_id=row[9],
                last_agent_id=helper[0] if helper else None,
                last_agent_at=helper[1] if helper else None,
            )
        )
    return page


def first_customer_words(
    conn: Connection, conversation_id: int
) -> tuple[dict[str, Any] | None, str, str | None]:
    """(meta, body) of the conversation's first customer message, and the
    customer's own language."""
    row = conn.execute(
        select(Message.meta, Message.body, Customer.language)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(Message.conversation_id == conversation_id, Message.author_kind == "customer")
        .order_by(Message.seq)
        .limit(1)
    ).first()
    if row is None:
        return None, "", None
    return row[0], row[1], row[2]


def set_language(conn: Connection, conversation_id: int, language: str) -> None:
    conn.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(language=language)
    )


def assign(conn: Connection, conversation_id: int, agent_id: int, now: datetime) -> int | None:
    """Gives a waiting conversation to the agent; its attempt number, or None
    when it is no longer waiting (taken, resolved) and nothing changed."""
    p = Params(conn)
    stamp = db_time(conn, now)
    found = conn.exec_driver_sql(
        f"UPDATE conversations SET assignee_id = {p(agent_id)}, assigned_at = {p(stamp)},"  # noqa: S608 - placeholders only
        f" updated_at = {p(stamp)}, passed_agent_id = NULL,"
        " routing_attempts = routing_attempts + 1"
        f" WHERE id = {p(conversation_id)} AND status = 'open' AND assignee_id IS NULL"
        " AND queued_at IS NOT NULL RETURNING routing_attempts",
        tuple(p.values),
    ).scalar_one_or_none()
    return int(found) if found is not None else None


# -- timers ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timer:
    kind: str
    payload: dict[str, Any]
    due_at: datetime
    # The job exists once: a second pass asking for the same timer adds nothing.
    dedupe_key: str
    max_attempts: int = 3


def add_timers(conn: Connection, timers: Sequence[Timer], now: datetime) -> None:
    """Due-time jobs in the pass's transaction (the worker's table)."""
    stamp = db_time(conn, now)
    insert_jobs(
        conn,
        [
            (
                t.kind,
                json.dumps(t.payload),
                "pending",
                db_time(conn, t.due_at),
                0,
                t.max_attempts,
                t.dedupe_key,
                stamp,
                stamp,
            )
            for t in timers
        ],
    )
