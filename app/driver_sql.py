"""Statements straight to the driver's cursor, for the hot write paths.

The message writer's group commit, the router's pass and a few small hot
writes (mail threading, attachments) run whole batches as one synchronous
call (`Database.write_batch`): past SQLAlchemy's compiler and execution layer,
whose bind parsing, events and result objects cost more than SQLite itself
(see app/conversations/batch_store.py for the figures). The SQL is written
once for SQLite (>= 3.35) and PostgreSQL; only the placeholder differs, which
`Params` hands out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def driver_cursor(conn: Connection, sql: str, params: Any, *, many: bool = False) -> Any:
    """The driver's cursor after the statement ran. Driver errors come out as
    SQLAlchemy's (`IntegrityError`, ...), as from `exec_driver_sql`: the writer
    tells a bad row by them."""
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        cursor.close()
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
    return cursor


def fetch_all(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    cursor = driver_cursor(conn, sql, params)
    try:
        return list(cursor.fetchall())
    finally:
        cursor.close()


def fetch_first(conn: Connection, sql: str, params: Sequence[Any]) -> Any:
    rows = fetch_all(conn, sql, params)
    return rows[0] if rows else None


def execute(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    """A statement without rows to read; how many rows it changed."""
    cursor = driver_cursor(conn, sql, params)
    try:
        return int(cursor.rowcount)
    finally:
        cursor.close()


def execute_many(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    driver_cursor(conn, sql, list(rows), many=True).close()


class Params:
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

    def time(self, value: Any) -> str:
        # Likewise a CASE branch: PostgreSQL would take the value for text.
        placeholder = self(value)
        return f"CAST({placeholder} AS TIMESTAMPTZ)" if self.postgres else placeholder


def db_time(conn: Connection, moment: datetime) -> Any:
    """A timestamp as the column stores it: aware for PostgreSQL, SQLAlchemy's
    naive UTC text for SQLite (what `UTCDateTime` reads back)."""
    if conn.dialect.name == "postgresql":
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
