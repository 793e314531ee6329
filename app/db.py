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
from typing import Annotated, Any, TypeGuard, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.events.bus import EventBus, events_after_commit

T = TypeVar("T")

# How often the WAL is checkpointed while the message writer writes: often
# enough that each checkpoint is small (SQLite's own default, every 1 000
# pages, comes every few dozen small commits).
CHECKPOINT_SECONDS = 0.1
# An erasure empties the WAL; readers on old snapshots make it wait.
TRUNCATE_TRIES = 100


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
            settings.prepare_sqlite()
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=20, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # SQLite's hot writes run as one blocking call in one thread: a batch
        # costs one thread hop instead of one per statement (see write_batch).
        self._sync_engine: Engine | None = None
        self._sync_thread: ThreadPoolExecutor | None = None
        self._read_engine: Engine | None = None
        self._reader: Connection | None = None
        self._writer: Connection | None = None
        # Small batches commit on the event loop only where a commit does not
        # fsync (WAL with synchronous OFF or NORMAL).
        self._commit_inline = settings.sqlite_synchronous in ("OFF", "NORMAL")
        self._checkpoint_due = 0.0
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
            # Hot reads (a widget socket opening) on a plain connection of
            # their own, reading beside the writer (WAL): see read_sync.
            self._read_engine = create_engine(
                url.replace("sqlite+aiosqlite", "sqlite"),
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=1,
                max_overflow=0,
            )
            _configure_sqlite(self._read_engine, settings.sqlite_synchronous)
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
            pending = events_after_commit(session)
        for item in pending:
            await self.bus.publish(item)

    async def write_batch(self, work: Callable[[Connection], T], *, small: bool = False) -> T:
        """Runs `work` in one transaction on a synchronous connection.

        For the message writer's batches: on SQLite, `work` runs in a thread of
        its own with a plain pysqlite connection (one hop per batch); on
        PostgreSQL, through the async engine's greenlet bridge. Same lock and
        commit rules as `write`.

        `small`: the caller knows the work is a few statements (a batch of a
        message or two). On SQLite without an fsync per commit it then runs
        right here: the thread hop and its context switches cost more than
        such a batch (measured: ~0.14 M instructions of a message's 1.2 M, and
        the switches on top). The WAL's checkpoints, which do fsync, stay in
        the writer's thread (`_checkpoint`).
        """
        if self._sync_engine is not None and self._sync_thread is not None:

            def run() -> T:
                connection = self._writer_connection()
                with connection.begin():
                    return work(connection)

            async with self._lock:
                loop = asyncio.get_running_loop()
                if small and self._commit_inline:
                    result = run()
                else:
                    result = await loop.run_in_executor(self._sync_thread, run)
                if loop.time() >= self._checkpoint_due:
                    self._checkpoint_due = loop.time() + CHECKPOINT_SECONDS
                    await loop.run_in_executor(self._sync_thread, self._checkpoint)
                return result
        async with self.engine.begin() as connection:
            return await connection.run_sync(work)

    def _writer_connection(self) -> Connection:
        """The writer's connection, kept open between batches (a pool checkout
        and return per batch cost more than a small batch's SQL). It never
        checkpoints on commit: `_checkpoint` does, in the writer's thread."""
        assert self._sync_engine is not None
        if not _usable(self._writer):
            self._writer = _reconnect(self._writer, self._sync_engine)
            _driver_sql(self._writer, "PRAGMA wal_autocheckpoint=0")
        return self._writer

    def _checkpoint(self) -> None:
        """Copies the WAL's pages into the database file, as SQLite's own
        auto-checkpoint would after a commit: under the write lock, so no
        commit comes between and the next transaction starts the WAL over (a
        checkpoint beside a writer that keeps committing never completes, and
        the WAL grew without bound). The loop serves sockets meanwhile."""
        _driver_sql(self._writer_connection(), "PRAGMA wal_checkpoint(PASSIVE)")

    async def truncate_wal(self) -> None:
        """SQLite: copies every page of the WAL into the database file and
        empties the WAL, so no old page image stays on disk (an erasure).
        Under the write lock, in the writer's thread: the writer's own
        checkpoints run there too, and a TRUNCATE that met one came back
        "busy" and left the WAL as it was."""
        if self._sync_thread is None:
            return
        loop = asyncio.get_running_loop()
        for _ in range(TRUNCATE_TRIES):
            async with self._lock:
                busy = await loop.run_in_executor(self._sync_thread, self._truncate)
            if not busy:
                return
            await asyncio.sleep(0.1)  # a reader on an older snapshot: let it finish
        raise RuntimeError("the WAL could not be emptied: a reader held an old snapshot")

    def _truncate(self) -> bool:
        # (busy, pages in the log, pages copied)
        row = _driver_sql(self._writer_connection(), "PRAGMA wal_checkpoint(TRUNCATE)")
        return row is not None and bool(row[0])

    async def read_sync(self, work: Callable[[Connection], T]) -> T:
        """Runs `work` (reads only) on a synchronous connection: on SQLite
        right here, on a connection of its own kept open (an `AsyncSession`
        through aiosqlite takes a thread hop per step: a widget socket's
        opening took eighteen; a reader thread still cost a hop and a GIL
        hand-over per statement, a quarter of a reconnect storm's time); on
        PostgreSQL through the async engine's greenlet bridge. WAL readers
        never wait for the writer, and a read never fsyncs."""
        if self._read_engine is not None:
            reader = self._reader_connection()
            try:
                return work(reader)
            finally:
                # Ends the read transaction, so checkpoints can pass it.
                reader.rollback()
        async with self.engine.connect() as connection:
            return await connection.run_sync(work)

    def _reader_connection(self) -> Connection:
        assert self._read_engine is not None
        if not _usable(self._reader):
            self._reader = _reconnect(self._reader, self._read_engine)
        return self._reader

    async def dispose(self) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._sync_thread is not None:
            await loop.run_in_executor(self._sync_thread, self._writer.close)
        self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.engine.dispose()
        for engine in (self._sync_engine, self._read_engine):
            if engine is not None:
                engine.dispose()
        if self._sync_thread is not None:
            self._sync_thread.shutdown(wait=True)


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
    def _begin(connection: Connection) -> None:
        # On the driver's cursor: SQLAlchemy's execution layer would cost more
        # than the statement (every message batch begins one).
        _driver_sql(connection, "BEGIN")


def _driver_sql(connection: Connection, sql: str) -> Any:
    """A statement on the driver's own cursor, outside SQLAlchemy's
    transaction bookkeeping (which would autobegin); its first row, if any."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchone()
    finally:
        cursor.close()


def _usable(connection: Connection | None) -> TypeGuard[Connection]:
    return connection is not None and not connection.invalidated and not connection.closed


def _reconnect(old: Connection | None, engine: Engine) -> Connection:
    """A kept connection that broke (or none yet), replaced by a new one."""
    if old is not None:
        old.close()
    return engine.connect()


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_database)]
