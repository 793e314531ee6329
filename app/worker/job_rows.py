"""The jobs table's rows as the hot write paths insert them (driver SQL).

The message writer and the router's pass queue jobs in the same transaction
as what caused them: a job is committed with its message, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from app.driver_sql import execute_many

JOB_COLUMNS = (
    "kind",
    "payload",
    "state",
    "due_at",
    "attempts",
    "max_attempts",
    "dedupe_key",
    "created_at",
    "updated_at",
)


def insert_jobs(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows in JOB_COLUMNS order, `payload` as JSON text. A job whose dedupe key
    exists already is skipped: it was queued by an earlier delivery."""
    if conn.dialect.name == "postgresql":
        marks = ", ".join(f"${n}" for n in range(1, len(JOB_COLUMNS) + 1))
    else:
        marks = ", ".join("?" for _ in JOB_COLUMNS)
    execute_many(
        conn,
        f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({marks})"  # noqa: S608 - fixed columns
        " ON CONFLICT (dedupe_key) DO NOTHING",
        rows,
    )
