"""The SQL of the message writer's group commit, one statement per step.

Synchronous on purpose: `Database.write_batch` runs a whole batch as one call
(in a thread on SQLite, one hop instead of one per statement). The statements
go to the driver's own cursor as they are, past SQLAlchemy's compiler and its
execution layer: for a batch of 200 messages the compiled path took ~70 ms
(text() bind parsing alone ~9 ms, the ordered INSERT ... RETURNING most of the
rest) where the driver needs ~5 ms; and `exec_driver_sql`'s events and result
objects cost ~25 µs a statement, twice what SQLite itself needs for one of
these (a batch of one message runs six). The SQL is written once for SQLite
(≥ 3.35) and PostgreSQL; only the placeholder differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.driver_sql import Params, db_time, execute, execute_many, fetch_all, fetch_first


@dataclass(frozen=True, slots=True)
class Found:
    id: int
    seq: int
    conversation_id: int


def find_stored(conn: Connection, inbox_id: int, external_ids: Sequence[str]) -> dict[str, Found]:
    """Messages of this inbox already stored under these idempotency keys."""
    if conn.dialect.name == "postgresql":
        # One array parameter: the same statement for every batch size, and
        # one unique-index probe per key whatever the statistics say. Before
        # the first ANALYZE (a new database's first minute) PostgreSQL took
        # the table for a few rows and planned `external_id = ANY(...)`, or a
        # join, as a scan of it: 8 ms a batch at 60 000 messages.
        rows = fetch_all(
            conn,
            "SELECT m.id, m.seq, m.conversation_id, m.external_id"
            " FROM unnest($2::varchar[]) AS k(external_id)"
            " CROSS JOIN LATERAL (SELECT id, seq, conversation_id, external_id FROM messages"
            " WHERE inbox_id = $1 AND external_id = k.external_id LIMIT 1) AS m",
            (inbox_id, list(external_ids)),
        )
    else:
        p = Params(conn)
        inbox = p(inbox_id)
        keys = ", ".join(p(k) for k in external_ids)
        rows = fetch_all(
            conn,
            "SELECT id, seq, conversation_id, external_id FROM messages"  # noqa: S608 - placeholders only
            f" WHERE inbox_id = {inbox} AND external_id IN ({keys})",
            tuple(p.values),
        )
    return {row[3]: Found(row[0], row[1], row[2]) for row in rows}


def conversation_customers(conn: Connection, conversation_ids: Sequence[int]) -> dict[int, int]:
    """The customer of each of these conversations."""
    p = Params(conn)
    rows = fetch_all(
        conn,
        "SELECT id, customer_id FROM conversations"  # noqa: S608 - placeholders only
        f" WHERE id IN ({', '.join(p(i) for i in conversation_ids)})",
        tuple(p.values),
    )
    return {int(row[0]): int(row[1]) for row in rows}


def erased_customers(conn: Connection, customer_ids: Iterable[int]) -> set[int]:
    """Which of these customers were erased.

    PostgreSQL: their rows are key-share locked until commit. An erasure
    locks its customers FOR UPDATE before it touches anything, so it either
    committed first (the lock here waits for it and reads the row anew) or
    waits for this batch's commit and then scrubs what the batch stored. KEY
    SHARE, the lock a foreign key takes, still lets a session write a
    customer's name meanwhile. SQLite: its one writer orders the two.
    """
    ids = sorted(set(customer_ids))
    p = Params(conn)
    lock = " ORDER BY id FOR KEY SHARE" if conn.dialect.name == "postgresql" else ""
    rows = fetch_all(
        conn,
        "SELECT id, erased_at FROM customers"  # noqa: S608 - placeholders only
        f" WHERE id IN ({', '.join(p(i) for i in ids)}){lock}",
        tuple(p.values),
    )
    return {int(row[0]) for row in rows if row[1] is not None}


@dataclass(frozen=True, slots=True)
class Reserved:
    last_seq: int
    customer_id: int
    assignee_id: int | None
    status: str
    team_id: int | None


def reserve_seqs(conn: Connection, wanted: dict[int, int], now: datetime) -> dict[int, Reserved]:
    """Bumps `last_seq` of every conversation in the batch in one statement.

    `wanted` maps conversation id → how many seqs. The row locks taken here are
    held until commit, so no other transaction hands out the same seq, and a
    rollback leaves no gap.
    """
    ids = sorted(wanted)
    if conn.dialect.name == "postgresql":
        # Lock in id order first, so two processes' batches never deadlock.
        p = Params(conn)
        fetch_all(
            conn,
            "SELECT id FROM conversations"  # noqa: S608 - placeholders only
            f" WHERE id IN ({', '.join(p(i) for i in ids)}) ORDER BY id FOR UPDATE",
            tuple(p.values),
        )
    p = Params(conn)
    stamp = db_time(conn, now)
    set_clause = f"last_message_at = {p(stamp)}, updated_at = {p(stamp)}"
    rows = ", ".join(f"({p.int(i)}, {p.int(wanted[i])})" for i in ids)
    # Both engines name the VALUES columns column1, column2, ...
    reserved = fetch_all(
        conn,
        "UPDATE conversations SET last_seq = conversations.last_seq + v.column2, "  # noqa: S608 - placeholders only
        f"{set_clause} FROM (VALUES {rows}) AS v"
        " WHERE conversations.id = v.column1"
        " RETURNING conversations.id, conversations.last_seq, conversations.customer_id,"
        " conversations.assignee_id, conversations.status, conversations.team_id",
        tuple(p.values),
    )
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
    "delivery_status",
    "created_at",
    "sent_at",
)


# PostgreSQL: each column as one array, the rows unnested in one statement.
_ARRAY_TYPES = (
    "int[]",
    "int[]",
    "int[]",
    "varchar[]",
    "int[]",
    "varchar[]",
    "text[]",
    "bool[]",
    "varchar[]",
    "varchar[]",
    "text[]",
    "varchar[]",
    "timestamptz[]",
    "timestamptz[]",
)
_PG_INSERT = (
    f"INSERT INTO messages ({', '.join(INSERT_COLUMNS)})"  # noqa: S608 - fixed columns
    f" SELECT {', '.join('v.meta::json' if c == 'meta' else f'v.{c}' for c in INSERT_COLUMNS)}"
    " FROM unnest("
    + ", ".join(f"${n}::{t}" for n, t in enumerate(_ARRAY_TYPES, start=1))
    + f") AS v({', '.join(INSERT_COLUMNS)})"
    " RETURNING id, conversation_id, seq"
)


def insert_messages(
    conn: Connection, rows: Sequence[tuple[Any, ...]]
) -> dict[tuple[int, int], int]:
    """Inserts the rows (tuples in INSERT_COLUMNS order, `meta` as JSON text)
    and returns their ids by (conversation_id, seq). PostgreSQL: one statement
    over arrays, returning the ids (executemany ran the insert once per row,
    ~36 µs each server side, and the ids took another round trip). SQLite:
    executemany, then `ids_by_seq` over each conversation's seqs."""
    if conn.dialect.name == "postgresql":
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        return {(row[1], row[2]): row[0] for row in fetch_all(conn, _PG_INSERT, columns)}
    marks = ", ".join("?" for _ in INSERT_COLUMNS)
    execute_many(
        conn,
        f"INSERT INTO messages ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - fixed columns
        rows,
    )
    seqs: dict[int, list[int]] = {}
    for row in rows:
        seqs.setdefault(row[0], []).append(row[2])
    return ids_by_seq(conn, [(c, min(s), max(s)) for c, s in seqs.items()])


def ids_by_seq(
    conn: Connection, ranges: Iterable[tuple[int, int, int]]
) -> dict[tuple[int, int], int]:
    """Ids of the rows just inserted, by (conversation_id, seq), for seq ranges
    given as (conversation_id, first, last); the unique (conversation, seq)
    index answers it."""
    p = Params(conn)
    values = ", ".join(f"({p.int(c)}, {p.int(a)}, {p.int(b)})" for c, a, b in ranges)
    found = fetch_all(
        conn,
        "SELECT m.id, m.conversation_id, m.seq FROM messages AS m"  # noqa: S608 - placeholders only
        f" JOIN (VALUES {values}) AS v ON m.conversation_id = v.column1"
        " AND m.seq BETWEEN v.column2 AND v.column3",
        tuple(p.values),
    )
    return {(row[1], row[2]): row[0] for row in found}


# -- threads ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thread:
    conversation_id: int
    opened: bool = False
    reopened: bool = False


def _lock_clause(conn: Connection, table: str | None = None) -> str:
    # PostgreSQL: a resolve racing this batch waits for its commit (and then
    # resolves what it appended to), never the other way round.
    if conn.dialect.name != "postgresql":
        return ""
    return f" FOR UPDATE OF {table}" if table else " FOR UPDATE"


def open_threads(
    conn: Connection, keys: Sequence[tuple[int, int, str]]
) -> dict[tuple[int, int, str], int]:
    """The open conversations of these (inbox, customer, thread key)s, in one
    statement: the chat path's threads almost always exist already."""
    p = Params(conn)
    values = ", ".join(f"({p.int(i)}, {p.int(c)}, CAST({p(t)} AS VARCHAR))" for i, c, t in keys)
    rows = fetch_all(
        conn,
        "SELECT c.id, c.inbox_id, c.customer_id, c.thread_key FROM conversations AS c"  # noqa: S608 - placeholders only
        f" JOIN (VALUES {values}) AS v ON c.inbox_id = v.column1"
        " AND c.customer_id = v.column2 AND c.thread_key = v.column3"
        f" WHERE c.status <> 'resolved'{_lock_clause(conn, 'c')}",
        tuple(p.values),
    )
    return {(int(r[1]), int(r[2]), str(r[3])): int(r[0]) for r in rows}


def thread_by_reference(
    conn: Connection, inbox_id: int, customer_id: int, references: Sequence[str]
) -> tuple[int, str, str] | None:
    """The newest conversation of this customer holding a message that
    `references` name (its own id, or the platform id of what we sent):
    (id, thread_key, status). Another customer's thread is never found."""
    p = Params(conn)
    inbox, customer = p(inbox_id), p(customer_id)
    keys = ", ".join(p(r) for r in references)
    keys_again = ", ".join(p(r) for r in references)
    row = fetch_first(
        conn,
        "SELECT c.id, c.thread_key, c.status FROM messages AS m"  # noqa: S608 - placeholders only
        " JOIN conversations AS c ON c.id = m.conversation_id"
        f" WHERE m.inbox_id = {inbox} AND c.customer_id = {customer}"
        f" AND (m.external_id IN ({keys}) OR m.delivered_external_id IN ({keys_again}))"
        " ORDER BY m.id DESC LIMIT 1",
        tuple(p.values),
    )
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


def reopen(conn: Connection, conversation_id: int, now: datetime) -> bool:
    """Reopens a resolved conversation unless its thread has an open one already."""
    p = Params(conn)
    stamp = db_time(conn, now)
    changed = execute(
        conn,
        # A reopened conversation waits anew (routing's queue), from now.
        "UPDATE conversations SET status = 'open', resolved_at = NULL,"  # noqa: S608 - placeholders only
        f" updated_at = {p(stamp)}, queued_at = CASE WHEN queued_at IS NULL THEN NULL"
        f" ELSE {p.time(stamp)} END"
        f" WHERE id = {p(conversation_id)} AND status = 'resolved' AND NOT EXISTS ("
        " SELECT 1 FROM conversations AS o WHERE o.inbox_id = conversations.inbox_id"
        " AND o.customer_id = conversations.customer_id"
        " AND o.thread_key = conversations.thread_key AND o.status <> 'resolved')",
        tuple(p.values),
    )
    return changed > 0


def open_thread(
    conn: Connection,
    inbox_id: int,
    customer_id: int,
    thread_key: str,
    subject: str | None,
    now: datetime,
) -> Thread:
    """The open conversation of this thread, or a new one in this transaction.

    The partial unique index (one open conversation per inbox, customer and
    thread key) decides races: the loser's insert does nothing and it reads
    the winner's row.
    """
    lock = _lock_clause(conn)
    for _ in range(3):
        p = Params(conn)
        found = fetch_first(
            conn,
            "SELECT id FROM conversations"  # noqa: S608 - placeholders only
            f" WHERE inbox_id = {p(inbox_id)} AND customer_id = {p(customer_id)}"
            f" AND thread_key = {p(thread_key)} AND status <> 'resolved'{lock}",
            tuple(p.values),
        )
        if found is not None:
            return Thread(int(found[0]))
        p = Params(conn)
        stamp = db_time(conn, now)
        created = fetch_first(
            conn,
            "INSERT INTO conversations (inbox_id, customer_id, thread_key, status, subject,"  # noqa: S608 - placeholders only
            " last_seq, customer_last_read_seq, created_at, updated_at, queued_at)"
            f" VALUES ({p(inbox_id)}, {p(customer_id)}, {p(thread_key)}, 'open', {p(subject)},"
            f" 0, 0, {p(stamp)}, {p(stamp)},"
            # Its place in routing's queue, fixed in this commit; a redirect
            # inbox's conversations wait for nobody.
            f" CASE WHEN (SELECT mode FROM inboxes WHERE id = {p(inbox_id)}) = 'live'"
            f" THEN {p.time(stamp)} END)"
            " ON CONFLICT (inbox_id, customer_id, thread_key) WHERE status <> 'resolved'"
            " DO NOTHING RETURNING id",
            tuple(p.values),
        )
        if created is not None:
            return Thread(int(created[0]), opened=True)
    raise RuntimeError("could not open or find the thread's conversation")


def unattended_thread(
    conn: Connection, inbox_id: int, customer_id: int, thread_key: str, now: datetime
) -> Thread:
    """The customer's latest resolved conversation of this thread, or a new one
    opened resolved: a conversation nobody works, kept for the history.

    Never an open one: what an agent still works stays theirs, and is not
    where an unattended message belongs.
    """
    p = Params(conn)
    found = fetch_first(
        conn,
        "SELECT id FROM conversations"  # noqa: S608 - placeholders only
        f" WHERE inbox_id = {p(inbox_id)} AND customer_id = {p(customer_id)}"
        f" AND thread_key = {p(thread_key)} AND status = 'resolved'"
        f" ORDER BY id DESC LIMIT 1{_lock_clause(conn)}",
        tuple(p.values),
    )
    if found is not None:
        return Thread(int(found[0]))
    p = Params(conn)
    stamp = db_time(conn, now)
    created = fetch_first(
        conn,
        "INSERT INTO conversations (inbox_id, customer_id, thread_key, status, subject,"  # noqa: S608 - placeholders only
        " last_seq, customer_last_read_seq, created_at, updated_at, resolved_at)"
        f" VALUES ({p(inbox_id)}, {p(customer_id)}, {p(thread_key)}, 'resolved', NULL,"
        f" 0, 0, {p(stamp)}, {p(stamp)}, {p(stamp)}) RETURNING id",
        tuple(p.values),
    )
    return Thread(int(created[0]), opened=True)


# -- customers found or created by identity ------------------------------------


# (channel, identity namespace, external id): how a channel knows a sender.
IdentityKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """What a new customer starts with: the name the channel gives, and the
    verified address of an email sender."""

    name: str | None = None
    email: str | None = None


def customers_by_identity(
    conn: Connection, wanted: dict[IdentityKey, SenderFacts], now: datetime
) -> dict[IdentityKey, int]:
    """The customer of each verified identity, created with its identity in
    this transaction when there is none: first contact inside the writer's
    group commit, a few statements per batch instead of an ORM transaction
    per sender ahead of it.

    Idempotent and safe with several processes: the identities' unique
    (channel, namespace, external_id) decides. An identity another transaction
    inserted meanwhile makes ours do nothing (PostgreSQL waits for that
    transaction's commit); the customer made for it is deleted again and the
    winner's is read. A found customer without a name takes the one the
    channel gives now (a nameless LINE id, then an Instagram username).
    """
    found = _identity_owners(conn, list(wanted))
    # In id order, as every writer of customer rows locks them (PostgreSQL).
    for key, (customer_id, named) in sorted(found.items(), key=lambda kv: kv[1][0]):
        name = wanted[key].name
        if not named and name:
            p = Params(conn)
            execute(
                conn,
                f"UPDATE customers SET name = {p(name)}"  # noqa: S608 - placeholders only
                f" WHERE id = {p(customer_id)} AND name IS NULL",
                tuple(p.values),
            )
    result = {key: owner for key, (owner, _) in found.items()}
    missing = [key for key in wanted if key not in found]
    if not missing:
        return result
    made = _insert_customers(conn, [wanted[key] for key in missing], now)
    ours = dict(zip(missing, made, strict=True))
    p = Params(conn)
    stamp = db_time(conn, now)
    values = ", ".join(
        f"({p(customer_id)}, {p(key[0])}, {p(key[1])}, {p(key[2])}, TRUE, {p(stamp)})"
        for key, customer_id in ours.items()
    )
    inserted = fetch_all(
        conn,
        "INSERT INTO identities (customer_id, channel, namespace, external_id, verified,"  # noqa: S608 - placeholders only
        f" created_at) VALUES {values}"
        " ON CONFLICT (channel, namespace, external_id) DO NOTHING RETURNING customer_id",
        tuple(p.values),
    )
    kept = {int(row[0]) for row in inserted}
    lost = [key for key, customer_id in ours.items() if customer_id not in kept]
    for key, customer_id in ours.items():
        if customer_id in kept:
            result[key] = customer_id
    if lost:
        # Another transaction made these identities first: theirs stand.
        p = Params(conn)
        execute(
            conn,
            "DELETE FROM customers"  # noqa: S608 - placeholders only
            f" WHERE id IN ({', '.join(p(ours[key]) for key in lost)})",
            tuple(p.values),
        )
        winners = _identity_owners(conn, lost)
        for key in lost:
            if key not in winners:
                raise RuntimeError("an identity's insert did nothing, and no owner is found")
            result[key] = winners[key][0]
    return result


def _identity_owners(
    conn: Connection, keys: Sequence[IdentityKey]
) -> dict[IdentityKey, tuple[int, bool]]:
    """(customer id, has a name) of each identity that exists."""
    p = Params(conn)
    values = ", ".join(
        f"(CAST({p(c)} AS VARCHAR), CAST({p(n)} AS VARCHAR), CAST({p(e)} AS VARCHAR))"
        for c, n, e in keys
    )
    rows = fetch_all(
        conn,
        "SELECT i.channel, i.namespace, i.external_id, c.id, c.name FROM identities AS i"  # noqa: S608 - placeholders only
        f" JOIN (VALUES {values}) AS v ON i.channel = v.column1"
        " AND i.namespace = v.column2 AND i.external_id = v.column3"
        " JOIN customers AS c ON c.id = i.customer_id",
        tuple(p.values),
    )
    return {(str(r[0]), str(r[1]), str(r[2])): (int(r[3]), bool(r[4])) for r in rows}


def _insert_customers(conn: Connection, facts: Sequence[SenderFacts], now: datetime) -> list[int]:
    """New customer rows, their ids in the order of `facts`."""
    stamp = db_time(conn, now)
    if conn.dialect.name == "postgresql":
        # The ids first, from the table's sequence: one statement for them and
        # one for the rows, whose order RETURNING would not promise.
        ids = [
            int(row[0])
            for row in fetch_all(
                conn,
                "SELECT nextval(pg_get_serial_sequence('customers', 'id'))"
                " FROM generate_series(1, $1)",
                (len(facts),),
            )
        ]
        execute(
            conn,
            "INSERT INTO customers (id, name, email, created_at)"
            " SELECT v.id, v.name, v.email, $4::timestamptz"
            " FROM unnest($1::int[], $2::varchar[], $3::varchar[]) AS v(id, name, email)",
            (ids, [f.name for f in facts], [f.email for f in facts], stamp),
        )
        return ids
    # SQLite, in process: a statement per row costs microseconds, and keeps
    # each id with its row.
    return [
        int(
            fetch_first(
                conn,
                "INSERT INTO customers (name, email, created_at) VALUES (?, ?, ?) RETURNING id",
                (f.name, f.email, stamp),
            )[0]
        )
        for f in facts
    ]
