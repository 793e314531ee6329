"""The SQL of the message writer's group commit, one statement per step.

Synchronous on purpose: `Database.write_batch` runs a whole batch as one call
(in a thread on SQLite, one hop instead of one per statement). The statements
go to the driver as they are (`exec_driver_sql`), not through SQLAlchemy's
compiler: for a batch of 200 messages the compiled path took ~70 ms (text()
bind parsing alone ~9 ms, the ordered INSERT ... RETURNING most of the rest)
where the driver needs ~5 ms. The SQL is written once for SQLite (≥ 3.35)
and PostgreSQL; only the placeholder differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection


class _Params:
    """Collects values and hands out the driver's placeholder for each."""

    def __init__(self, conn: Connection) -> None:
        self.postgres = conn.dialect.name == "postgresql"
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self.postgres else "?"

    def int(self, value: int) -> str:
        # VALUES lists carry no column types; PostgreSQL needs them spelled out.
        return f"CAST({self(value)} AS INTEGER)"


def db_time(conn: Connection, moment: datetime) -> Any:
    """A timestamp as the column stores it: aware for PostgreSQL, SQLAlchemy's
    naive UTC text for SQLite (what `UTCDateTime` reads back)."""
    if conn.dialect.name == "postgresql":
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class Found:
    id: int
    seq: int
    conversation_id: int


def find_stored(conn: Connection, inbox_id: int, external_ids: Sequence[str]) -> dict[str, Found]:
    """Messages of this inbox already stored under these idempotency keys."""
    p = _Params(conn)
    inbox = p(inbox_id)
    keys = ", ".join(p(k) for k in external_ids)
    result = conn.exec_driver_sql(
        "SELECT id, seq, conversation_id, external_id FROM messages"  # noqa: S608 - placeholders only
        f" WHERE inbox_id = {inbox} AND external_id IN ({keys})",
        tuple(p.values),
    )
    rows: Sequence[Any] = result.all()
    return {row[3]: Found(row[0], row[1], row[2]) for row in rows}


@dataclass(frozen=True, slots=True)
class Reserved:
    last_seq: int
    customer_id: int
    assignee_id: int | None
    status: str
    team_id: int | None


def reserve_seqs(
    conn: Connection, wanted: dict[int, tuple[int, bool]], now: datetime
) -> dict[int, Reserved]:
    """Bumps `last_seq` of every conversation in the batch in one statement.

    `wanted` maps conversation id → (how many seqs, must it be open). A
    conversation that must be open but is resolved is left untouched and out
    of the answer. The row locks taken here are held until commit, so no
    other transaction hands out the same seq, and a rollback leaves no gap.
    """
    ids = sorted(wanted)
    if conn.dialect.name == "postgresql":
        # Lock in id order first, so two processes' batches never deadlock.
        p = _Params(conn)
        conn.exec_driver_sql(
            "SELECT id FROM conversations"  # noqa: S608 - placeholders only
            f" WHERE id IN ({', '.join(p(i) for i in ids)}) ORDER BY id FOR UPDATE",
            tuple(p.values),
        )
    p = _Params(conn)
    stamp = db_time(conn, now)
    set_clause = f"last_message_at = {p(stamp)}, updated_at = {p(stamp)}"
    rows = ", ".join(
        f"({p.int(i)}, {p.int(wanted[i][0])}, {p.int(int(wanted[i][1]))})" for i in ids
    )
    # Both engines name the VALUES columns column1, column2, ...
    result = conn.exec_driver_sql(
        "UPDATE conversations SET last_seq = conversations.last_seq + v.column2, "  # noqa: S608 - placeholders only
        f"{set_clause} FROM (VALUES {rows}) AS v"
        " WHERE conversations.id = v.column1"
        " AND (v.column3 = 0 OR conversations.status <> 'resolved')"
        " RETURNING conversations.id, conversations.last_seq, conversations.customer_id,"
        " conversations.assignee_id, conversations.status, conversations.team_id",
        tuple(p.values),
    )
    reserved: Sequence[Any] = result.all()
    return {
        int(row[0]): Reserved(int(row[1]), int(row[2]), row[3], str(row[4]), row[5])
        for row in reserved
    }


INSERT_COLUMNS = (
    "conversation_id",
    "inbox_id",
    "seq",
    "author_kind",
    "author_agent_id",
    "author_name",
    "body",
    "private",
    "client_id",
    "external_id",
    "meta",
    "created_at",
)


def insert_messages(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """One executemany: rows are tuples in INSERT_COLUMNS order, `meta` as JSON text."""
    if conn.dialect.name == "postgresql":
        marks = ", ".join(f"${n}" for n in range(1, len(INSERT_COLUMNS) + 1))
    else:
        marks = ", ".join("?" for _ in INSERT_COLUMNS)
    conn.exec_driver_sql(
        f"INSERT INTO messages ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - fixed columns
        list(rows),
    )


def ids_by_seq(
    conn: Connection, ranges: Iterable[tuple[int, int, int]]
) -> dict[tuple[int, int], int]:
    """Ids of the rows just inserted, by (conversation_id, seq), for seq ranges
    given as (conversation_id, first, last); the unique (conversation, seq)
    index answers it."""
    p = _Params(conn)
    values = ", ".join(f"({p.int(c)}, {p.int(a)}, {p.int(b)})" for c, a, b in ranges)
    result = conn.exec_driver_sql(
        "SELECT m.id, m.conversation_id, m.seq FROM messages AS m"  # noqa: S608 - placeholders only
        f" JOIN (VALUES {values}) AS v ON m.conversation_id = v.column1"
        " AND m.seq BETWEEN v.column2 AND v.column3",
        tuple(p.values),
    )
    found: Sequence[Any] = result.all()
    return {(row[1], row[2]): row[0] for row in found}
