"""The message write path: group commit with gap-free seq.

Every message goes through one writer task per process. It takes whatever is
queued (up to MAX_BATCH), and in one transaction: drops what was stored before
(by the idempotency key), finds or opens the conversation of each threaded
message (so no conversation exists without its first message), bumps each
conversation's `last_seq` once for all its new messages, inserts them and the
jobs they cause (an outbox send, an auto-reply), commits. Only then are the callers' futures
resolved (the ack) and the events published. One fsync-free WAL commit per
batch instead of per message is what lets SQLite keep up with a busy widget.
The seq comes from `UPDATE ... SET last_seq = last_seq + n RETURNING`, which
holds the conversation's row lock until commit, so concurrent processes on
PostgreSQL never hand out the same seq, and a rolled-back batch leaves no gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.conversations import batch_store
from app.db import Database
from app.driver_sql import db_time
from app.errors import Conflict, NotFound
from app.kit.background import BackgroundLoop
from app.kit.clock import clock
from app.runtime import Part
from app.worker.job_rows import insert_jobs

log = logging.getLogger(__name__)

MAX_BATCH = 512
# Batches up to this size are cheaper than the hop to SQLite's writer thread
# (Database.write_batch's `small`).
SMALL_BATCH = 8


class ErasedCustomer(Conflict):
    """The message's customer was erased: nothing more is stored for them."""

    code = "customer_erased"


@dataclass(frozen=True, slots=True)
class ThreadRef:
    """Where an inbound message belongs when the caller does not know the
    conversation: the customer's open thread, found or opened in the batch."""

    customer_id: int
    thread_key: str = ""
    # Platform ids the message answers: a match in this customer's
    # conversations continues (and reopens) that one.
    in_reply_to: tuple[str, ...] = ()
    subject: str | None = None
    # A conversation no agent works (a redirect inbox's): the customer's latest
    # one continues, kept resolved, so it is in the history and never offered.
    unattended: bool = False


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    """A verified sender whose customer the batch finds by identity, or
    creates with the identity (first contact), in the message's own commit:
    the message's `ThreadRef.customer_id` is then 0. `name` is stored as
    given (storable already); `email` as identities key it."""

    channel: str
    namespace: str
    external_id: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Work the message causes later, committed with it. `payload` gets the
    stored message's `message_id` and `conversation_id`; `{message_id}` and
    `{conversation_id}` in the dedupe key are filled in likewise."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    delay_seconds: float = 0
    dedupe_key: str | None = None
    max_attempts: int = 8
    # Only when the message opened its conversation (a greeting): decided in
    # the commit, where the writer knows it.
    only_if_opened: bool = False


# Rows that must exist exactly when the message does (an email's raw source and
# attachments): called in the writer's transaction with the new message's id,
# never for a message stored before. Synchronous, as the batch runs.
WithRows = Callable[[Connection, int], None]


def rows_in_order(*writers: WithRows | None) -> WithRows | None:
    """Several writers of rows for one message, run in order in its commit."""
    present = [w for w in writers if w is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def write(conn: Connection, message_id: int) -> None:
        for writer in present:
            writer(conn, message_id)

    return write


@dataclass(slots=True)
class NewMessage:
    inbox_id: int
    channel: str
    author_kind: str  # customer | agent | system
    body: str
    # Either the conversation (agent replies, notes), or the thread to find it by.
    conversation_id: int | None = None
    thread: ThreadRef | None = None
    author_agent_id: int | None = None
    author_name: str | None = None
    private: bool = False
    client_id: str | None = None
    external_id: str | None = None
    meta: dict[str, Any] | None = None
    # "pending" when the outbox will deliver it (a `deliver` job in `jobs`).
    delivery_status: str | None = None
    jobs: tuple[JobSpec, ...] = ()
    automatic: bool = False
    inbox_team_ids: tuple[int, ...] = ()
    origin_connection: str | None = None
    # When the customer sent it by the platform's clock; None: when it is stored.
    sent_at: datetime | None = None
    with_rows: WithRows | None = None
    # Set with a thread: the customer is found or created in the commit.
    sender: SenderIdentity | None = None


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
    # This message opened (or reopened) its conversation, in the same commit.
    opened: bool = False
    reopened: bool = False
    jobs_queued: bool = False


@dataclass(slots=True)
class _Pending:
    message: NewMessage
    future: asyncio.Future[StoredMessage] = field(repr=False)


OnStored = Callable[[Sequence[StoredMessage]], Awaitable[None]]

# Bounded, so a flood meets backpressure (callers wait to queue) instead of
# growing memory; a few batches' worth keeps the writer busy.
MAX_QUEUED = 8 * MAX_BATCH


class MessageWriter:
    def __init__(self, db: Database, on_stored: OnStored) -> None:
        self._db = db
        self._on_stored = on_stored
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(MAX_QUEUED)
        # Drained, not cancelled: `stop` returns once everything queued is written.
        self._loop = BackgroundLoop(self._write_queued, name="message-writer", drain=True, log=log)
        self.batches = 0
        self.messages = 0

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        """Writes what is queued, then stops."""
        await self._loop.stop()

    async def append(self, message: NewMessage) -> StoredMessage:
        """Stores the message (or finds it stored before) and returns it after commit."""
        return await (await self.enqueue(message))

    async def enqueue(self, message: NewMessage) -> asyncio.Future[StoredMessage]:
        """Queues the message (waiting only while the queue is full) and returns
        the future of its commit: a socket pipelines a burst without a task per
        message, in the order it queued them."""
        if (message.conversation_id is None) == (message.thread is None):
            raise ValueError("a new message names its conversation or its thread, not both")
        if message.sender is not None and message.thread is None:
            raise ValueError("a sender to find by identity needs a thread")
        future: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()
        pending = _Pending(message, future)
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            await self._queue.put(pending)
        self._loop.wake()
        return future

    async def _write_queued(self) -> float | None:
        """Writes one batch of what is queued; due again at once while more is."""
        batch: list[_Pending] = []
        while len(batch) < MAX_BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if not batch:
            return None
        try:
            await self._write_batch(batch)
        except asyncio.CancelledError:
            for item in batch:
                if not item.future.done():
                    item.future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the writer must outlive any one bad batch
            log.exception("message batch failed")
            for item in batch:
                self._fail(item, exc)
        return 0.0 if not self._queue.empty() else None

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
        messages = [item.message for item in batch]
        return await self._db.write_batch(
            lambda conn: _store_batch(conn, messages), small=len(messages) <= SMALL_BATCH
        )


def _thread_refs(
    conn: Connection, batch: list[NewMessage], fresh: list[int], now: datetime
) -> dict[int, ThreadRef]:
    """Each fresh threaded message's thread, with its customer: a sender's
    found or created here by identity, all of the batch's at once. The
    messages themselves are left as they are: a batch retried one by one
    after a rollback finds its customers again."""
    refs = {i: batch[i].thread for i in fresh if batch[i].thread is not None}
    wanted: dict[batch_store.IdentityKey, batch_store.SenderFacts] = {}
    for i in refs:
        sender = batch[i].sender
        if sender is None:
            continue
        key = (sender.channel, sender.namespace, sender.external_id)
        if key not in wanted or (sender.name and not wanted[key].name):
            wanted[key] = batch_store.SenderFacts(sender.name, sender.email)
    if not wanted:
        return {i: ref for i, ref in refs.items() if ref is not None}
    owners = batch_store.customers_by_identity(conn, wanted, now)
    resolved: dict[int, ThreadRef] = {}
    for i, ref in refs.items():
        assert ref is not None
        sender = batch[i].sender
        if sender is not None:
            ref = replace(
                ref, customer_id=owners[(sender.channel, sender.namespace, sender.external_id)]
            )
        resolved[i] = ref
    return resolved


def _resolve_threads(
    conn: Connection,
    batch: list[NewMessage],
    refs: dict[int, ThreadRef],
    todo: list[int],
    now: datetime,
) -> dict[int, batch_store.Thread]:
    """Each threaded message's conversation, found or opened in this transaction."""
    plain = {
        (batch[i].inbox_id, refs[i].customer_id, refs[i].thread_key)
        for i in todo
        if not refs[i].in_reply_to and not refs[i].unattended
    }
    existing = batch_store.open_threads(conn, sorted(plain)) if plain else {}
    found: dict[tuple[int, ThreadRef], batch_store.Thread] = {}
    by_index: dict[int, batch_store.Thread] = {}
    for i in todo:
        m, ref = batch[i], refs[i]
        key = (m.inbox_id, ref)
        if key not in found:
            known = existing.get((m.inbox_id, ref.customer_id, ref.thread_key))
            if known is not None and not ref.in_reply_to and not ref.unattended:
                found[key] = batch_store.Thread(known)
            else:
                found[key] = _thread_of(conn, m.inbox_id, ref, now)
        by_index[i] = found[key]
    return by_index


def _thread_of(
    conn: Connection, inbox_id: int, ref: ThreadRef, now: datetime
) -> batch_store.Thread:
    thread_key = ref.thread_key
    if ref.unattended:
        return batch_store.unattended_thread(conn, inbox_id, ref.customer_id, thread_key, now)
    if ref.in_reply_to:
        named = batch_store.thread_by_reference(conn, inbox_id, ref.customer_id, ref.in_reply_to)
        if named is not None:
            conversation_id, thread_key, status = named
            if status != "resolved":
                return batch_store.Thread(conversation_id)
            if batch_store.reopen(conn, conversation_id, now):
                return batch_store.Thread(conversation_id, reopened=True)
    return batch_store.open_thread(conn, inbox_id, ref.customer_id, thread_key, ref.subject, now)


def _store_batch(conn: Connection, batch: list[NewMessage]) -> list[StoredMessage | BaseException]:
    """One transaction's work, synchronous as `Database.write_batch` runs it."""
    outcomes: list[StoredMessage | BaseException | None] = [None] * len(batch)
    repeats = _mark_duplicates(conn, batch, outcomes)
    now = clock.now()
    fresh = [i for i in range(len(batch)) if outcomes[i] is None and i not in repeats]
    refs = _thread_refs(conn, batch, fresh, now)
    fresh = _refuse_erased(conn, batch, refs, fresh, outcomes)
    threads = _resolve_threads(conn, batch, refs, [i for i in fresh if i in refs], now)
    by_conversation: dict[int, list[int]] = {}
    for i in fresh:
        conversation_id = batch[i].conversation_id or threads[i].conversation_id
        by_conversation.setdefault(conversation_id, []).append(i)
    wanted = {cid: len(ix) for cid, ix in by_conversation.items()}
    heads = batch_store.reserve_seqs(conn, wanted, now) if wanted else {}
    rows: list[tuple[Any, ...]] = []
    stamp = db_time(conn, now)
    for conversation_id, indexes in by_conversation.items():
        head = heads.get(conversation_id)
        if head is None:
            for i in indexes:
                outcomes[i] = NotFound("no such conversation")
            continue
        first_seq = head.last_seq - len(indexes) + 1
        for seq, i in enumerate(indexes, start=first_seq):
            m = batch[i]
            meta = None if m.meta is None else json.dumps(m.meta)
            rows.append(
                (
                    conversation_id,
                    m.inbox_id,
                    seq,
                    m.author_kind,
                    m.author_agent_id,
                    m.author_name,
                    m.body,
                    m.private,
                    m.client_id,
                    m.external_id,
                    meta,
                    m.delivery_status,
                    stamp,
                    # Never later than its arrival: a platform clock running
                    # ahead must not sort a message after our answer to it.
                    db_time(conn, min(m.sent_at, now)) if m.sent_at else stamp,
                )
            )
            thread = threads.get(i)
            first = seq == first_seq
            outcomes[i] = StoredMessage(
                id=0,
                seq=seq,
                conversation_id=conversation_id,
                created_at=now,
                new=m,
                customer_id=head.customer_id,
                assignee_id=head.assignee_id,
                team_id=head.team_id,
                conversation_status=head.status,
                opened=first and thread is not None and thread.opened,
                reopened=first and thread is not None and thread.reopened,
            )
    if rows:
        ids = batch_store.insert_messages(conn, rows)
        jobs: list[tuple[Any, ...]] = []
        for outcome in outcomes:
            if isinstance(outcome, StoredMessage) and not outcome.duplicate:
                outcome.id = ids[(outcome.conversation_id, outcome.seq)]
                if outcome.new.with_rows is not None:
                    outcome.new.with_rows(conn, outcome.id)
                queued = _job_rows(conn, outcome, now)
                jobs.extend(queued)
                outcome.jobs_queued = bool(queued)
        if jobs:
            insert_jobs(conn, jobs)
    # Repeats of a key inside this batch get the first one's message.
    for i, first_index in repeats.items():
        original = outcomes[first_index]
        if isinstance(original, StoredMessage):
            outcomes[i] = _as_duplicate(original, batch[i])
        else:
            outcomes[i] = original
    return [o for o in outcomes if o is not None]


def _refuse_erased(
    conn: Connection,
    batch: list[NewMessage],
    refs: dict[int, ThreadRef],
    fresh: list[int],
    outcomes: list[StoredMessage | BaseException | None],
) -> list[int]:
    """The fresh messages whose customer was not erased; the others are
    refused. Checked (and, on PostgreSQL, locked) before any conversation row
    is, in the order an erasure takes them: a message racing an erasure is
    either stored first and scrubbed by it, or refused."""
    if not fresh:
        return fresh
    named = [c for c in (batch[i].conversation_id for i in fresh) if c is not None]
    owners = batch_store.conversation_customers(conn, named) if named else {}

    def customer_of(i: int) -> int | None:
        if i in refs:
            return refs[i].customer_id
        conversation_id = batch[i].conversation_id
        assert conversation_id is not None
        return owners.get(conversation_id)

    customers = {i: customer_of(i) for i in fresh}
    known = {c for c in customers.values() if c is not None}
    erased = batch_store.erased_customers(conn, known) if known else set()
    if not erased:
        return fresh
    kept = []
    for i in fresh:
        if customers[i] in erased:
            outcomes[i] = ErasedCustomer("the customer's data was erased; nothing more is stored")
        else:
            kept.append(i)
    return kept


def _job_rows(conn: Connection, stored: StoredMessage, now: datetime) -> list[tuple[Any, ...]]:
    if not stored.new.jobs:
        return []
    stamp = db_time(conn, now)
    rows = []
    for job in stored.new.jobs:
        if job.only_if_opened and not stored.opened:
            continue
        payload = {
            **job.payload,
            "message_id": stored.id,
            "conversation_id": stored.conversation_id,
        }
        dedupe = (
            job.dedupe_key.replace("{message_id}", str(stored.id)).replace(
                "{conversation_id}", str(stored.conversation_id)
            )
            if job.dedupe_key
            else None
        )
        due = now + timedelta(seconds=job.delay_seconds) if job.delay_seconds else now
        rows.append(
            (
                job.kind,
                json.dumps(payload),
                "pending",
                db_time(conn, due),
                0,
                job.max_attempts,
                dedupe,
                stamp,
                stamp,
            )
        )
    return rows


def _mark_duplicates(
    conn: Connection,
    batch: list[NewMessage],
    outcomes: list[StoredMessage | BaseException | None],
) -> dict[int, int]:
    """Marks messages stored before as duplicates; returns repeats within the
    batch as {index: index of the first message with the same key}."""
    first_index: dict[tuple[int, str], int] = {}
    repeats: dict[int, int] = {}
    keys_by_inbox: dict[int, list[str]] = {}
    for i, m in enumerate(batch):
        if m.external_id is None:
            continue
        key = (m.inbox_id, m.external_id)
        if key in first_index:
            repeats[i] = first_index[key]
        else:
            first_index[key] = i
            keys_by_inbox.setdefault(m.inbox_id, []).append(m.external_id)
    now = clock.now()
    for inbox_id, external_ids in keys_by_inbox.items():
        for external_id, found in batch_store.find_stored(conn, inbox_id, external_ids).items():
            i = first_index[(inbox_id, external_id)]
            outcomes[i] = StoredMessage(
                id=found.id,
                seq=found.seq,
                conversation_id=found.conversation_id,
                created_at=now,
                new=batch[i],
                duplicate=True,
            )
    return repeats


def _as_duplicate(original: StoredMessage, message: NewMessage) -> StoredMessage:
    return StoredMessage(
        id=original.id,
        seq=original.seq,
        conversation_id=original.conversation_id,
        created_at=original.created_at,
        new=message,
        duplicate=True,
    )


MESSAGE_WRITER: Part[MessageWriter] = Part("message_writer")
