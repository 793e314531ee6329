"""Folding conversations into measurements, once each, as they change.

Reports read durations from `report_measurements`, computed here from what
the conversations and messages tables say (nothing else is trusted, so a
history written by any path, or seeded, is measured the same way):

- response: an agent's public reply after a customer message, measured from
  the first customer message it answers (system messages and private notes
  are neither questions nor answers); the first such reply of a conversation
  is also its first_response;
- resolution: from the conversation's creation to each time it is resolved;
- queue_wait: from entering routing's queue (`queued_at`) to the assignment
  that followed it (`assigned_at`).

Each conversation has a cursor (how far it is folded). A fold reads only what
changed since; measurements and the cursor move in one transaction, and the
measurement's unique key keeps a duration from being counted twice. Business
seconds come from the inbox's calendar at fold time. SLA clocks are started
here too (`Clocks`), in the same transaction as the wait they time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.events.domain import ConversationChanged, Event, MessageStored
from app.kit.background import BackgroundLoop
from app.models import Conversation, Inbox, Message, ReportCursor, ReportMeasurement
from app.reports.business_time import BusinessCalendar, calendars_for
from app.runtime import Part

log = logging.getLogger(__name__)

# Conversations folded per transaction: short write locks on SQLite.
BATCH = 500
# A message that can change no measurement (a customer's follow-up while
# they already wait, a note, a system message) moves only the cursor: its
# conversation is folded with others this often, not each time.
SWEEP_SECONDS = 10.0
# Conversations whose waiting state this process remembers from the events.
AWAITING_ENTRIES = 100_000
# PostgreSQL: one fold at a time across processes (the cursor moves once).
_FOLD_LOCK_KEY = 0x5245504F  # "REPO"


@dataclass(slots=True)
class WaitStarted:
    """A customer began waiting (SLA response clocks) or a conversation opened."""

    conversation_id: int
    inbox_id: int
    target: str  # first_response | next_response | resolution
    started_at: datetime


# Called in the fold's transaction with what started waiting, so the SLA
# clocks are committed with the cursor that saw them start.
OnWaits = Callable[[AsyncSession, Sequence[WaitStarted]], Awaitable[None]]
# Called in the fold's transaction with (conversation_id, resolved_at) per new
# resolution: CSAT and the follow-up are queued from it.
OnResolved = Callable[[AsyncSession, Sequence[tuple[int, datetime]]], Awaitable[None]]


@dataclass(slots=True)
class _Conv:
    id: int
    inbox_id: int
    channel: str
    team_id: int | None
    assignee_id: int | None
    status: str
    created_at: datetime
    resolved_at: datetime | None
    queued_at: datetime | None
    assigned_at: datetime | None
    last_seq: int


@dataclass(slots=True)
class _Cursor:
    """A conversation's report cursor as plain values, worked on outside the
    write transaction (ReportCursor's columns)."""

    seq: int = 0
    awaiting_since: datetime | None = None
    responded: bool = False
    resolved_at: datetime | None = None
    queued_at: datetime | None = None

    def key(self) -> tuple[int, datetime | None, datetime | None]:
        """What a fold moves: a cursor that moved since it was read was folded meanwhile."""
        return (self.seq, self.resolved_at, self.queued_at)


@dataclass(slots=True)
class _Fold:
    """One conversation's fold, worked out from a read and stored in a short
    write: the cursor as read (None: none yet), the cursor after, and what
    the fold found."""

    before: _Cursor | None
    after: _Cursor
    measurements: list[dict[str, object]]
    waits: list[WaitStarted]
    # A resolution not folded before: CSAT and the follow-up are planned from it.
    resolved_at: datetime | None = None


def _changed() -> list[object]:
    c, r = Conversation, ReportCursor
    return [
        r.conversation_id.is_(None),
        c.last_seq > r.seq,
        and_(
            c.resolved_at.is_not(None),
            or_(r.resolved_at.is_(None), c.resolved_at != r.resolved_at),
        ),
        and_(
            c.queued_at.is_not(None),
            c.assigned_at.is_not(None),
            c.assigned_at >= c.queued_at,
            or_(r.queued_at.is_(None), c.queued_at != r.queued_at),
        ),
    ]


class Rollup:
    """Keeps measurements up to date: `fold_all` before a report, `mark` and a
    background pass shortly after conversations change."""

    def __init__(
        self,
        db: Database,
        *,
        on_waits: OnWaits | None = None,
        on_resolved: OnResolved | None = None,
        delay_seconds: float = 0.3,
        catch_up_seconds: float | None = None,
    ) -> None:
        """`catch_up_seconds`: fold every changed conversation this often
        (several processes: each folds only its own changes, and one that
        died left some unfolded)."""
        self.db = db
        self.catch_up_seconds = catch_up_seconds
        self._catch_up_at: float | None = None
        self.on_waits = on_waits
        self.on_resolved = on_resolved
        self.delay_seconds = delay_seconds
        self._lock = asyncio.Lock()
        self._dirty: set[int] = set()
        # Behind only by messages that measure nothing: folded by the sweep.
        self._lagging: set[int] = set()
        # What the events say: is the customer waiting for an answer?
        self._awaiting: dict[int, bool] = {}
        # When the lagging conversations are next swept; None: not started.
        self._sweep_at: float | None = None
        self._loop = BackgroundLoop(
            self._round,
            name="reports-rollup",
            # A short pause gathers a burst of changes into one fold.
            settle=delay_seconds,
            # A failed fold keeps its conversations dirty for this retry.
            backoff=lambda _failures: 1.0,
            log=log,
        )

    # -- background ----------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Bus subscriber: a conversation that changed is folded shortly, unless
        the change can measure nothing and start no clock (every customer
        message of a busy chat would otherwise cost a fold); then the sweep
        moves its cursor. Reports fold everything first, so they are exact
        either way."""
        if isinstance(event, ConversationChanged):
            self._awaiting.pop(event.scope.conversation_id, None)
            self.mark(event.scope.conversation_id)
        elif isinstance(event, MessageStored):
            conversation_id = event.scope.conversation_id
            author = event.message["author"]["kind"]
            if event.message["private"] or author == "system":
                self._lagging.add(conversation_id)
                return
            customer = author == "customer"
            if customer and self._awaiting.get(conversation_id):
                # Already waiting since an earlier message: nothing starts.
                self._lagging.add(conversation_id)
                return
            if len(self._awaiting) >= AWAITING_ENTRIES:
                self._awaiting.clear()
            self._awaiting[conversation_id] = customer
            self.mark(conversation_id)

    def mark(self, conversation_id: int) -> None:
        self._dirty.add(conversation_id)
        self._loop.wake()

    async def start(self) -> None:
        self._sweep_at = None
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _round(self) -> float:
        loop = asyncio.get_running_loop()
        if self._sweep_at is None:
            try:
                # What changed while the process was down (or before it existed).
                await self.fold_all()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("reports: the start-up fold failed")
            self._sweep_at = loop.time() + SWEEP_SECONDS
            if self.catch_up_seconds is not None:
                self._catch_up_at = loop.time() + self.catch_up_seconds
            return SWEEP_SECONDS
        if self._catch_up_at is not None and loop.time() >= self._catch_up_at:
            assert self.catch_up_seconds is not None
            self._catch_up_at = loop.time() + self.catch_up_seconds
            await self.fold_all()
        dirty, self._dirty = self._dirty, set()
        if loop.time() >= self._sweep_at:
            dirty |= self._lagging
            self._lagging = set()
            self._sweep_at = loop.time() + SWEEP_SECONDS
        if dirty:
            try:
                await self.fold(sorted(dirty))
            except Exception:
                self._dirty |= dirty  # for the next pass
                raise
        due = min(self._sweep_at, self._catch_up_at or self._sweep_at)
        return max(0.0, due - loop.time())

    # -- folding -------------------------------------------------------------

    async def fold_all(self) -> int:
        """Folds every conversation that changed since its last fold."""
        total = 0
        while True:
            async with self.db.read() as session:
                ids = list(
                    (
                        await session.execute(
                            select(Conversation.id)
                            .outerjoin(
                                ReportCursor, ReportCursor.conversation_id == Conversation.id
                            )
                            .where(or_(*_changed()))  # type: ignore[arg-type]
                            .order_by(Conversation.id)
                            .limit(BATCH * 10)
                        )
                    ).scalars()
                )
            if not ids:
                return total
            folded = await self.fold(ids)
            total += folded
            if folded == 0:
                return total

    async def fold(self, conversation_ids: Sequence[int]) -> int:
        """Folds these conversations (those that changed); returns how many.
        Each batch is read and worked out beside the message writer (the scan
        of the messages since the cursors took the SQLite write lock for
        ~100 ms after a busy minute, and every chat waited); only the result
        is written under the lock, for the cursors that did not move
        meanwhile."""
        done = 0
        async with self._lock:
            for start in range(0, len(conversation_ids), BATCH):
                batch = conversation_ids[start : start + BATCH]
                async with self.db.read() as session:
                    folds = await self._fold_batch(session, batch)
                if not folds:
                    continue
                async with self.db.write() as session:
                    if not self.db.is_sqlite:
                        await session.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FOLD_LOCK_KEY}
                        )
                    done += await self._store(session, folds)
        return done

    async def _store(self, session: AsyncSession, folds: dict[int, _Fold]) -> int:
        """Moves the cursors that are still as read, and stores what their
        folds found, in one transaction (a statement for all the cursors: the
        sweep moves hundreds, and one UPDATE each held the lock for tens of ms)."""
        r = ReportCursor
        current = {
            row[0]: (row[1], row[2], row[3])
            for row in await session.execute(
                select(r.conversation_id, r.seq, r.resolved_at, r.queued_at).where(
                    r.conversation_id.in_(list(folds))
                )
            )
        }
        new_rows: list[dict[str, object]] = []
        moved_rows: list[dict[str, object]] = []
        measurements: list[dict[str, object]] = []
        waits: list[WaitStarted] = []
        resolutions: list[tuple[int, datetime]] = []
        for conv_id, fold in folds.items():
            now = current.get(conv_id)
            if now != (fold.before.key() if fold.before is not None else None):
                continue  # folded meanwhile (another process): the next fold goes on from it
            after = fold.after
            values: dict[str, object] = {
                "conversation_id": conv_id,
                "seq": after.seq,
                "awaiting_since": after.awaiting_since,
                "responded": after.responded,
                "resolved_at": after.resolved_at,
                "queued_at": after.queued_at,
            }
            (new_rows if now is None else moved_rows).append(values)
            measurements += fold.measurements
            waits += fold.waits
            if fold.resolved_at is not None:
                resolutions.append((conv_id, fold.resolved_at))
        if new_rows:
            await session.execute(insert(r), new_rows)
        if moved_rows:
            # By primary key: one executemany.
            await session.execute(update(r), moved_rows)
        if measurements:
            await _insert_new(session, measurements)
        if waits and self.on_waits is not None:
            await self.on_waits(session, waits)
        if resolutions and self.on_resolved is not None:
            await self.on_resolved(session, resolutions)
        return len(new_rows) + len(moved_rows)

    async def _fold_batch(self, session: AsyncSession, ids: Sequence[int]) -> dict[int, _Fold]:
        """Works out the folds of these conversations (those that changed) from
        a read: nothing is written here."""
        c, r = Conversation, ReportCursor
        rows = (
            await session.execute(
                select(
                    c.id,
                    c.inbox_id,
                    Inbox.channel,
                    c.team_id,
                    c.assignee_id,
                    c.status,
                    c.created_at,
                    c.resolved_at,
                    c.queued_at,
                    c.assigned_at,
                    c.last_seq,
                    r.conversation_id,
                    r.seq,
                    r.awaiting_since,
                    r.responded,
                    r.resolved_at,
                    r.queued_at,
                )
                .join(Inbox, Inbox.id == c.inbox_id)
                .outerjoin(r, r.conversation_id == c.id)
                .where(c.id.in_(ids), or_(*_changed()))  # type: ignore[arg-type]
            )
        ).all()
        if not rows:
            return {}
        convs = {
            row[0]: (
                _Conv(*row[:11]),  # type: ignore[arg-type]
                None if row[11] is None else _Cursor(*row[12:]),  # type: ignore[arg-type]
            )
            for row in rows
        }
        calendars = await calendars_for(session, {conv.inbox_id for conv, _ in convs.values()})
        messages = await self._new_messages(session, convs)
        folds: dict[int, _Fold] = {}
        for conv_id, (conv, before) in convs.items():
            measurements: list[dict[str, object]] = []
            waits: list[WaitStarted] = []
            fold = folds[conv_id] = _Fold(
                before,
                _Cursor() if before is None else replace(before),
                measurements,
                waits,
            )
            cursor = fold.after
            if before is None:
                if conv.status != "resolved":
                    waits.append(WaitStarted(conv_id, conv.inbox_id, "resolution", conv.created_at))
            calendar = calendars[conv.inbox_id]
            self._fold_messages(
                conv, cursor, messages.get(conv_id, ()), calendar, measurements, waits
            )
            if conv.resolved_at is not None and conv.resolved_at != cursor.resolved_at:
                measurements.append(
                    _measure(
                        conv,
                        "resolution",
                        conv.assignee_id,
                        conv.created_at,
                        conv.resolved_at,
                        calendar,
                    )
                )
                cursor.resolved_at = fold.resolved_at = conv.resolved_at
            if (
                conv.queued_at is not None
                and conv.assigned_at is not None
                and conv.assigned_at >= conv.queued_at
                and conv.queued_at != cursor.queued_at
            ):
                measurements.append(
                    _measure(
                        conv,
                        "queue_wait",
                        conv.assignee_id,
                        conv.queued_at,
                        conv.assigned_at,
                        calendar,
                    )
                )
                cursor.queued_at = conv.queued_at
            cursor.seq = max(cursor.seq, conv.last_seq)
        return folds

    async def _new_messages(
        self, session: AsyncSession, convs: dict[int, tuple[_Conv, _Cursor | None]]
    ) -> dict[int, list[tuple[int, str, int | None, datetime]]]:
        """The public customer and agent messages past each cursor where the
        author's side changes: the rest (a customer's follow-ups, an agent's
        second reply) can neither start a wait nor answer one, and a busy chat
        has thousands of them between two folds."""
        wanted = [
            cid for cid, (conv, cur) in convs.items() if conv.last_seq > (cur.seq if cur else 0)
        ]
        found: dict[int, list[tuple[int, str, int | None, datetime]]] = {}
        if not wanted:
            return found
        m, r = Message, ReportCursor
        sides = (
            select(
                m.conversation_id,
                m.seq,
                m.author_kind,
                m.author_agent_id,
                m.created_at,
                func.lag(m.author_kind)
                .over(partition_by=m.conversation_id, order_by=m.seq)
                .label("previous"),
            )
            .outerjoin(r, r.conversation_id == m.conversation_id)
            .where(
                m.conversation_id.in_(wanted),
                m.seq > func.coalesce(r.seq, 0),
                m.private.is_(False),
                m.author_kind.in_(("customer", "agent")),
            )
            .subquery()
        )
        rows = await session.execute(
            select(
                sides.c.conversation_id,
                sides.c.seq,
                sides.c.author_kind,
                sides.c.author_agent_id,
                sides.c.created_at,
            )
            .where(or_(sides.c.previous.is_(None), sides.c.previous != sides.c.author_kind))
            .order_by(sides.c.conversation_id, sides.c.seq)
        )
        for cid, seq, kind, agent_id, created_at in rows:
            found.setdefault(cid, []).append((seq, kind, agent_id, created_at))
        return found

    @staticmethod
    def _fold_messages(
        conv: _Conv,
        cursor: _Cursor,
        messages: Sequence[tuple[int, str, int | None, datetime]],
        calendar: BusinessCalendar,
        measurements: list[dict[str, object]],
        waits: list[WaitStarted],
    ) -> None:
        for seq, kind, agent_id, created_at in messages:
            if seq <= cursor.seq:
                continue
            if kind == "customer" and cursor.awaiting_since is None:
                cursor.awaiting_since = created_at
                target = "next_response" if cursor.responded else "first_response"
                if conv.status != "resolved":
                    waits.append(WaitStarted(conv.id, conv.inbox_id, target, created_at))
            elif kind == "agent" and cursor.awaiting_since is not None:
                began = cursor.awaiting_since
                measurements.append(
                    _measure(conv, "response", agent_id, began, created_at, calendar)
                )
                if not cursor.responded:
                    measurements.append(
                        _measure(conv, "first_response", agent_id, began, created_at, calendar)
                    )
                cursor.responded = True
                cursor.awaiting_since = None


def _measure(
    conv: _Conv,
    kind: str,
    agent_id: int | None,
    started_at: datetime,
    ended_at: datetime,
    calendar: BusinessCalendar,
) -> dict[str, object]:
    return {
        "conversation_id": conv.id,
        "kind": kind,
        "inbox_id": conv.inbox_id,
        "channel": conv.channel,
        "agent_id": agent_id,
        "team_id": conv.team_id,
        "started_at": started_at,
        "ended_at": ended_at,
        "wall_seconds": max(0.0, (ended_at - started_at).total_seconds()),
        "business_seconds": calendar.business_seconds(started_at, ended_at),
    }


async def _insert_new(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Inserts the measurements not already there (the unique key decides)."""
    keys = {(row["conversation_id"], row["kind"], row["ended_at"]) for row in rows}
    ids = {key[0] for key in keys}
    existing = await session.execute(
        select(
            ReportMeasurement.conversation_id, ReportMeasurement.kind, ReportMeasurement.ended_at
        ).where(ReportMeasurement.conversation_id.in_(ids))
    )
    have = {tuple(row) for row in existing}
    fresh = [
        row for row in rows if (row["conversation_id"], row["kind"], row["ended_at"]) not in have
    ]
    if fresh:
        await session.execute(insert(ReportMeasurement), fresh)


ROLLUP: Part[Rollup] = Part("rollup")
