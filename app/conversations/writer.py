"""The message write path: group commit with gap-free seq.

Every message goes through one writer task per process. It takes whatever is
queued (up to MAX_BATCH), and in one transaction: drops what was stored before
(by the idempotency key), bumps each conversation's `last_seq` once for all its
new messages, inserts them, commits. Only then are the callers' futures
resolved (the ack) and the events published. One fsync-free WAL commit per
batch instead of per message is what lets SQLite keep up with a busy widget.
The seq comes from `UPDATE ... SET last_seq = last_seq + n RETURNING`, which
holds the conversation's row lock until commit, so concurrent processes on
PostgreSQL never hand out the same seq, and a rolled-back batch leaves no gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import Database
from app.errors import Conflict
from app.kit.clock import clock
from app.models import Conversation, Message

log = logging.getLogger(__name__)

MAX_BATCH = 512

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]


class ConversationClosed(Conflict):
    code = "conversation_closed"


@dataclass(slots=True)
class NewMessage:
    conversation_id: int
    inbox_id: int
    channel: str
    author_kind: str  # customer | agent | system
    body: str
    author_agent_id: int | None = None
    author_name: str | None = None
    private: bool = False
    client_id: str | None = None
    external_id: str | None = None
    meta: dict[str, Any] | None = None
    # Fail with ConversationClosed rather than append to a resolved conversation.
    require_open: bool = False
    inbox_team_ids: tuple[int, ...] = ()
    origin_connection: str | None = None


@dataclass(slots=True)
class StoredMessage:
    id: int
    seq: int
    conversation_id: int
    created_at: datetime
    new: NewMessage
    duplicate: bool = False
    customer_id: int = 0
    assignee_id: int | None = None
    team_id: int | None = None
    conversation_status: str = "open"


@dataclass(slots=True)
class _Pending:
    message: NewMessage
    future: asyncio.Future[StoredMessage] = field(repr=False)


OnStored = Callable[[Sequence[StoredMessage]], Awaitable[None]]


class MessageWriter:
    def __init__(self, db: Database, on_stored: OnStored) -> None:
        self._db = db
        self._on_stored = on_stored
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.messages = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="message-writer")

    async def stop(self) -> None:
        """Writes what is queued, then stops."""
        if self._task is None:
            return
        while not self._queue.empty():
            await asyncio.sleep(0.01)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def append(self, message: NewMessage) -> StoredMessage:
        """Stores the message (or finds it stored before) and returns it after commit."""
        future: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(message, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write_batch(batch)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.cancel()
                raise
            except Exception:  # noqa: BLE001 - the writer must outlive any one bad batch
                log.exception("message batch failed")

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._commit(batch)
        except (IntegrityError, DBAPIError) as exc:
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            # Another process stored one of these meanwhile, or one row is bad:
            # retry one by one so only the culprit fails.
            for item in batch:
                await self._write_batch([item])
            return
        stored = [o for o in outcomes if isinstance(o, StoredMessage) and not o.duplicate]
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        self.batches += 1
        self.messages += len(stored)
        if stored:
            await self._on_stored(stored)

    def _fail(self, item: _Pending, exc: BaseException) -> None:
        log.warning("message not stored: %s", exc.__class__.__name__)
        if not item.future.done():
            item.future.set_exception(exc)

    async def _commit(self, batch: list[_Pending]) -> list[StoredMessage | BaseException]:
        outcomes: list[StoredMessage | BaseException | None] = [None] * len(batch)
        async with self._db.write() as session:
            conn = await session.connection()
            first_of_key = await self._find_duplicates(conn, batch, outcomes)
            by_conversation: dict[int, list[int]] = {}
            for i, item in enumerate(batch):
                if outcomes[i] is None and i not in first_of_key:
                    by_conversation.setdefault(item.message.conversation_id, []).append(i)
            rows: list[dict[str, Any]] = []
            order: list[int] = []
            now = clock.now()
            # Rows are locked in id order, so two processes' batches never deadlock.
            for conversation_id in sorted(by_conversation):
                indexes = by_conversation[conversation_id]
                require_open = any(batch[i].message.require_open for i in indexes)
                head = await self._reserve_seqs(
                    conn, conversation_id, len(indexes), require_open, now
                )
                if head is None:
                    for i in indexes:
                        outcomes[i] = ConversationClosed("the conversation is resolved")
                    continue
                last_seq, customer_id, assignee_id, status, team_id = head
                for offset, i in enumerate(indexes):
                    m = batch[i].message
                    seq = last_seq - len(indexes) + 1 + offset
                    rows.append(
                        {
                            "conversation_id": conversation_id,
                            "inbox_id": m.inbox_id,
                            "seq": seq,
                            "author_kind": m.author_kind,
                            "author_agent_id": m.author_agent_id,
                            "author_name": m.author_name,
                            "body": m.body,
                            "private": m.private,
                            "client_id": m.client_id,
                            "external_id": m.external_id,
                            "meta": m.meta,
                            "created_at": now,
                        }
                    )
                    order.append(i)
                    outcomes[i] = StoredMessage(
                        id=0,
                        seq=seq,
                        conversation_id=conversation_id,
                        created_at=now,
                        new=m,
                        customer_id=customer_id,
                        assignee_id=assignee_id,
                        team_id=team_id,
                        conversation_status=status,
                    )
            if rows:
                result = await conn.execute(
                    insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True),
                    rows,
                )
                for i, (message_id,) in zip(order, result.all(), strict=True):
                    stored = outcomes[i]
                    assert isinstance(stored, StoredMessage)
                    stored.id = message_id
        # Repeats of a key inside this batch get the first one's message.
        for i, first in first_of_key.items():
            original = outcomes[first]
            if isinstance(original, StoredMessage):
                outcomes[i] = _as_duplicate(original, batch[i].message)
            else:
                outcomes[i] = original
        return [o for o in outcomes if o is not None]

    async def _find_duplicates(
        self,
        conn: AsyncConnection,
        batch: list[_Pending],
        outcomes: list[StoredMessage | BaseException | None],
    ) -> dict[int, int]:
        """Marks items stored before as duplicates; returns repeats within the batch
        as {index: index of the first item with the same key}."""
        first_index: dict[tuple[int, str], int] = {}
        repeats: dict[int, int] = {}
        keys_by_inbox: dict[int, list[str]] = {}
        for i, item in enumerate(batch):
            m = item.message
            if m.external_id is None:
                continue
            key = (m.inbox_id, m.external_id)
            if key in first_index:
                repeats[i] = first_index[key]
            else:
                first_index[key] = i
                keys_by_inbox.setdefault(m.inbox_id, []).append(m.external_id)
        t = MESSAGES.c
        for inbox_id, external_ids in keys_by_inbox.items():
            result = await conn.execute(
                select(t.id, t.seq, t.conversation_id, t.created_at, t.external_id).where(
                    t.inbox_id == inbox_id, t.external_id.in_(external_ids)
                )
            )
            for message_id, seq, conversation_id, created_at, external_id in result:
                i = first_index[(inbox_id, external_id)]
                outcomes[i] = StoredMessage(
                    id=message_id,
                    seq=seq,
                    conversation_id=conversation_id,
                    created_at=created_at,
                    new=batch[i].message,
                    duplicate=True,
                )
        return repeats

    async def _reserve_seqs(
        self,
        conn: AsyncConnection,
        conversation_id: int,
        count: int,
        require_open: bool,
        now: datetime,
    ) -> tuple[int, int, int | None, str, int | None] | None:
        c = CONVERSATIONS.c
        stmt = (
            update(CONVERSATIONS)
            .where(c.id == conversation_id)
            .values(last_seq=c.last_seq + count, last_message_at=now, updated_at=now)
            .returning(c.last_seq, c.customer_id, c.assignee_id, c.status, c.team_id)
        )
        if require_open:
            stmt = stmt.where(c.status != "resolved")
        row = (await conn.execute(stmt)).one_or_none()
        if row is None:
            return None
        return int(row[0]), int(row[1]), row[2], str(row[3]), row[4]


def _as_duplicate(original: StoredMessage, message: NewMessage) -> StoredMessage:
    return StoredMessage(
        id=original.id,
        seq=original.seq,
        conversation_id=original.conversation_id,
        created_at=original.created_at,
        new=message,
        duplicate=True,
    )
