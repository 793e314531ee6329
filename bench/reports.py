"""The reports summary over a large history.

Seeds a real, migrated database (SQLite in a temporary directory, or the
PostgreSQL database named by --database-url) with `--messages` messages in
conversations of `--per-conversation` messages each (customer and agent
taking turns), spread over `--inboxes` inboxes (half with Asia/Tokyo business
hours) and `--days` days; most conversations are resolved, and each waited
in the queue before its assignment. Then prints seconds for:

  fold       the first fold of the whole history into measurements (once,
             as after an upgrade; afterwards the fold follows changes);
  summary    GET /api/v1/reports/summary's work for the whole period, all
             inboxes (fold check included), median of --runs;
  inbox      the same for one inbox;
  series     the daily series for the whole period;
  after 1%   a summary after 1% more conversations changed (new replies).

Nothing is asserted. The machine may be shared: figures vary with its load.

    python bench/reports.py                       # 1 000 000 messages, SQLite
    python bench/reports.py --database-url postgresql+asyncpg://u:p@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, text, update  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import Database  # noqa: E402
from app.events.bus import MemoryBus  # noqa: E402
from app.migrate import upgrade_to_head  # noqa: E402
from app.models import Agent, Conversation, Customer, Inbox, Message  # noqa: E402
from app.reports import service as reports  # noqa: E402
from app.reports.repository import ReportFilter  # noqa: E402
from app.reports.rollup import Rollup  # noqa: E402

HOURS = {
    "timezone": "Asia/Tokyo",
    "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "closed_dates": [],
}
START = datetime(2026, 10, 1, tzinfo=UTC)


async def seed(db: Database, args: argparse.Namespace) -> int:
    per = args.per_conversation
    n_conversations = args.messages // per
    async with db.write() as session:
        await session.execute(
            insert(Inbox),
            [
                {
                    "name": f"inbox {i}",
                    "channel": "web",
                    "config": {},
                    "widget_key": f"bench-{i}",
                    "business_hours": HOURS if i % 2 else None,
                    "created_at": START,
                }
                for i in range(args.inboxes)
            ],
        )
        await session.execute(
            insert(Agent),
            [
                {
                    "email": f"agent{i}@bench.example",
                    "name": f"Agent {i}",
                    "password_hash": "x",
                    "role": "agent",
                    "created_at": START,
                }
                for i in range(50)
            ],
        )
    async with db.read() as session:
        inbox_ids = list((await session.execute(text("SELECT id FROM inboxes"))).scalars())
        agent_ids = list((await session.execute(text("SELECT id FROM agents"))).scalars())
    span = args.days * 86400
    chunk = 2000
    for first in range(0, n_conversations, chunk):
        count = min(chunk, n_conversations - first)
        async with db.write() as session:
            await session.execute(
                insert(Customer), [{"name": None, "created_at": START} for _ in range(count)]
            )
            last = (await session.execute(text("SELECT max(id) FROM customers"))).scalar_one()
            customers = range(last - count + 1, last + 1)
            rows: list[dict[str, Any]] = []
            for i, customer_id in zip(range(first, first + count), customers, strict=True):
                created = START + timedelta(seconds=(i * 7919) % span)
                resolved = i % 5 != 0
                replies_at = created + timedelta(seconds=60 * (1 + i % 240))
                rows.append(
                    {
                        "inbox_id": inbox_ids[i % len(inbox_ids)],
                        "customer_id": customer_id,
                        "thread_key": f"t{i}",
                        "status": "resolved" if resolved else "open",
                        "assignee_id": agent_ids[i % len(agent_ids)],
                        "last_seq": per,
                        "customer_last_read_seq": 0,
                        "created_at": created,
                        "updated_at": created,
                        "queued_at": created,
                        "assigned_at": created + timedelta(seconds=30 + i % 600),
                        "resolved_at": replies_at + timedelta(hours=per) if resolved else None,
                        "priority": 0,
                        "routing_attempts": 1,
                    }
                )
            await session.execute(insert(Conversation), rows)
            last = (await session.execute(text("SELECT max(id) FROM conversations"))).scalar_one()
            messages: list[dict[str, Any]] = []
            for offset, conversation_id in enumerate(range(last - count + 1, last + 1)):
                row = rows[offset]
                for seq in range(1, per + 1):
                    customer = seq % 2 == 1
                    at = row["created_at"] + timedelta(
                        minutes=30 * (seq - 1) + (0 if customer else 7)
                    )
                    messages.append(
                        {
                            "conversation_id": conversation_id,
                            "inbox_id": row["inbox_id"],
                            "seq": seq,
                            "author_kind": "customer" if customer else "agent",
                            "author_agent_id": None if customer else row["assignee_id"],
                            "body": "a question" if customer else "an answer",
                            "private": False,
                            "created_at": at,
                            "sent_at": at,
                        }
                    )
            await session.execute(insert(Message), messages)
    return n_conversations * per


async def timed(label: str, work: Callable[[], Awaitable[Any]], runs: int = 1) -> float:
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        await work()
        seconds.append(time.perf_counter() - began)
    figure = statistics.median(seconds)
    print(f"{label:<10} {figure:8.3f} s" + (f"  (median of {runs})" if runs > 1 else ""))
    return figure


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-conversation", type=int, default=10)
    parser.add_argument("--inboxes", type=int, default=4)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url)
        await asyncio.to_thread(upgrade_to_head, settings)
        db = Database(settings, MemoryBus())
        kind = "PostgreSQL" if args.database_url else "SQLite (WAL, synchronous=NORMAL)"
        print(f"{kind}, Python {platform.python_version()}, {platform.machine()}")
        began = time.perf_counter()
        stored = await seed(db, args)
        print(f"seeded {stored:,} messages in {time.perf_counter() - began:.1f} s")
        rollup = Rollup(db)
        await timed("fold", rollup.fold_all)
        whole = ReportFilter(START, START + timedelta(days=args.days + 2))
        async with db.read() as session:
            inbox_id = (await session.execute(text("SELECT min(id) FROM inboxes"))).scalar_one()
        one = ReportFilter(whole.start, whole.end, inbox_id=inbox_id)
        await timed("summary", lambda: reports.summary(db, rollup, whole), args.runs)
        await timed("inbox", lambda: reports.summary(db, rollup, one), args.runs)
        await timed(
            "series",
            lambda: reports.timeseries(db, rollup, whole, "day", ZoneInfo("Asia/Tokyo")),
            args.runs,
        )
        changed = max(1, stored // args.per_conversation // 100)
        async with db.write() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id <= changed)
                .values(last_seq=Conversation.last_seq + 1)
            )
            await session.execute(
                insert(Message),
                [
                    {
                        "conversation_id": cid,
                        "inbox_id": inbox_id,
                        "seq": args.per_conversation + 1,
                        "author_kind": "customer",
                        "body": "one more thing",
                        "private": False,
                        "created_at": whole.end - timedelta(days=1),
                    }
                    for cid in range(1, changed + 1)
                ],
            )
        await timed("after 1%", lambda: reports.summary(db, rollup, whole))
        summary = await reports.summary(db, rollup, whole)
        print(
            "counted:",
            f"{summary['messages']['in'] + summary['messages']['out']:,} messages,",
            f"{summary['response']['count']:,} responses,",
            f"{summary['resolution']['count']:,} resolutions",
        )
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
