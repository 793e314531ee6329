"""Engine, sessions and the write path's serialisation.

SQLite allows one writer at a time. Inside one process every write transaction
takes the database's write lock first, so a transaction never meets SQLITE_BUSY on
a stale snapshot; `busy_timeout` covers the other processes (the CLI). On
PostgreSQL the lock is a no-op and row locks do the work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.realtime.bus import EventBus
from app.realtime.events import Event

T = TypeVar("T")


class _NoLock(contextlib.AbstractAsyncContextManager[None]):
    async def __aexit__(self, *exc: object) -> None:
        return None


class Database:
    def __init__(self, settings: Settings, bus: EventBus) -> None:
        self.bus = bus
        url = settings.resolved_database_url()
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=20, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # SQLite's hot writes run as one blocking call in one thread: a batch
        # costs one thread hop instead of one per statement (see write_batch).
        self._sync_engine: Engine | None = None
        self._sync_thread: ThreadPoolExecutor | None = None
        self._read_engine: Engine | None = None
        self._read_thread: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine.sync_engine, settings.sqlite_synchronous)
            self._sync_engine = create_engine(
                url.replace("sqlite+aiosqlite", "sqlite"),
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=1,
                max_overflow=0,
            )
            _configure_sqlite(self._sync_engine, settings.sqlite_synchronous)
            self._sync_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
            # Likewise hot reads (a widget socket opening): one hop, one thread,
            # its own connection, reading beside the writer (WAL).
            self._read_engine = create_engine(
                url.replace("sqlite+aiosqlite", "sqlite"),
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=1,
                max_overflow=0,
            )
            _configure_sqlite(self._read_engine, settings.sqlite_synchronous)
            self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self.is_sqlite else _NoLock()
        )

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success; the service never commits.

        Events the services queued with `publish_after_commit` go out once the
        commit succeeded, and never when it failed.
        """
        async with self._lock, self.sessionmaker() as session:
            async with session.begin():
                yield session
            pending: list[Event] = session.info.pop(_PENDING, [])
        for item in pending:
            await self.bus.publish(item)

    async def write_batch(self, work: Callable[[Connection], T]) -> T:
        """Runs `work` in one transaction on a synchronous connection.

        For the message writer's batches: on SQLite, `work` runs in a thread of
        its own with a plain pysqlite connection (one hop per batch); on
        PostgreSQL, through the async engine's greenlet bridge. Same lock and
        commit rules as `write`.
        """
        if self._sync_engine is not None and self._sync_thread is not None:
            engine = self._sync_engine

            def run() -> T:
                with engine.begin() as connection:
                    return work(connection)

            async with self._lock:
                return await asyncio.get_running_loop().run_in_executor(self._sync_thread, run)
        async with self.engine.begin() as connection:
            return await connection.run_sync(work)

    async def read_sync(self, work: Callable[[Connection], T]) -> T:
        """Runs `work` (reads only) on a synchronous connection: on SQLite in
        a reader thread of its own, one thread hop for the whole of it, where
        an `AsyncSession` through aiosqlite takes a hop per step (a widget
        socket's opening took eighteen); on PostgreSQL through the async
        engine's greenlet bridge."""
        if self._read_engine is not None and self._read_thread is not None:
            engine = self._read_engine

            def run() -> T:
                with engine.connect() as connection:
                    return work(connection)

            return await asyncio.get_running_loop().run_in_executor(self._read_thread, run)
        async with self.engine.connect() as connection:
            return await connection.run_sync(work)

    async def dispose(self) -> None:
        await self.engine.dispose()
        for engine in (self._sync_engine, self._read_engine):
            if engine is not None:
                engine.dispose()
        for thread in (self._sync_thread, self._read_thread):
            if thread is not None:
                thread.shutdown(wait=True)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL keeps readers off the writer's back; NORMAL loses nothing on a
        # process crash (only on power loss), which the contract allows.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # Let SQLAlchemy, not the driver, open transactions, so that
        # SAVEPOINTs nest inside them (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


_PENDING = "madoguchi.pending_events"


def publish_after_commit(session: AsyncSession, event: Event) -> None:
    session.info.setdefault(_PENDING, []).append(event)


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_database)]
