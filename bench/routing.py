"""Routing decisions with many agents online and a long queue.

Seeds a real, migrated database (SQLite in a temporary directory, or the
PostgreSQL database named by --database-url) with `--agents` online agents of
capacity 3 (each holding `--held` live conversations already) and `--waiting`
conversations in the queue, spread over `--inboxes` inboxes with teams and
language skills. Then measures, `--decisions` times:

  decision  one assignment pass limited to one conversation, as the router runs
            it when an agent frees room: a write transaction that reads every
            online agent's room from the database, walks the queue from its
            head, asks the inbox's policy, assigns, and commits;
  pick      the policy's choice alone, in memory (no I/O);
  round     the router's whole round for one freed seat: the decision plus
            the `conversation.assigned` event and every waiting customer's new
            place in the queue (the `status` frames' values).

Between decisions (not timed) the assigned conversation is resolved, so the
agent has room again and the queue keeps its length. Prints p50/p99/max in
milliseconds. Nothing is asserted.

    python bench/routing.py                       # 1 000 agents, 10 000 waiting
    python bench/routing.py --database-url postgresql+asyncpg://u:p@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, update  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db import Database  # noqa: E402
from app.events.bus import MemoryBus  # noqa: E402
from app.inboxes.routing_config import RoutingConfig, RoutingPolicy  # noqa: E402
from app.kit.clock import clock  # noqa: E402
from app.migrate import upgrade_to_head  # noqa: E402
from app.models import (  # noqa: E402
    Agent,
    AgentTeam,
    Conversation,
    Customer,
    Inbox,
    InboxTeam,
    Team,
)
from app.routing import pass_store  # noqa: E402
from app.routing import repository as routing_repo  # noqa: E402
from app.routing.assign import Assigner  # noqa: E402
from app.routing.policies import Candidate, Waiting, registry  # noqa: E402
from app.routing.router import Router  # noqa: E402

CAPACITY = 3
LANGUAGES = ("en", "ja", "ko", "fr")
POLICIES = (RoutingPolicy.LEAST_LOADED, RoutingPolicy.ROUND_ROBIN, RoutingPolicy.SKILLS)


class Everyone:
    """Presence with every seeded agent online."""

    def __init__(self, agent_ids: list[int]) -> None:
        self.ids = agent_ids

    def status(self, agent_id: int) -> Any:
        return "online"

    def online_agent_ids(self) -> list[int]:
        return self.ids


async def seed(db: Database, agents: int, held: int, waiting: int, inboxes: int) -> list[int]:
    now = clock.now()
    async with db.write() as session:
        await session.execute(
            insert(Team), [{"id": t, "name": f"team-{t}"} for t in range(1, inboxes + 1)]
        )
        await session.execute(
            insert(Inbox),
            [
                {
                    "id": i,
                    "name": f"inbox {i}",
                    "channel": "web",
                    "mode": "live",
                    "config": {},
                    "routing": {
                        "policy": POLICIES[i % len(POLICIES)].value,
                        "skill_wait_seconds": 0,
                        "answer_timeout_seconds": 0,
                    },
                    "created_at": now,
                }
                for i in range(1, inboxes + 1)
            ],
        )
        await session.execute(
            insert(InboxTeam), [{"inbox_id": i, "team_id": i} for i in range(1, inboxes + 1)]
        )
        await session.execute(
            insert(Agent),
            [
                {
                    "id": a,
                    "email": f"agent{a}@bench.test",
                    "name": f"Agent {a}",
                    "password_hash": "-",
                    "role": "agent",
                    "capacity": CAPACITY,
                    "skills": [LANGUAGES[a % len(LANGUAGES)]],
                    "chosen_status": "online",
                    "is_active": True,
                    "created_at": now,
                }
                for a in range(1, agents + 1)
            ],
        )
        await session.execute(
            insert(AgentTeam),
            [{"agent_id": a, "team_id": 1 + a % inboxes} for a in range(1, agents + 1)],
        )
        customers = agents * held + waiting
        await session.execute(
            insert(Customer), [{"id": c, "created_at": now} for c in range(1, customers + 1)]
        )
        rows = []
        for n in range(1, customers + 1):
            assignee = 1 + (n - 1) // held if n <= agents * held else None
            rows.append(
                {
                    "id": n,
                    "inbox_id": 1 + (assignee or n) % inboxes,
                    "customer_id": n,
                    "thread_key": "",
                    "status": "open",
                    "assignee_id": assignee,
                    "last_seq": 1,
                    "customer_last_read_seq": 0,
                    "created_at": now,
                    "updated_at": now,
                    "queued_at": now - timedelta(seconds=customers - n),
                    "language": LANGUAGES[n % len(LANGUAGES)],
                }
            )
        for start in range(0, len(rows), 2000):
            await session.execute(insert(Conversation), rows[start : start + 2000])
    return list(range(1, agents + 1))


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   max {ordered[-1]:7.3f} ms"


async def free_seat(db: Database, conversation_id: int) -> None:
    async with db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(status="resolved", resolved_at=clock.now())
        )


async def measure(args: argparse.Namespace, db: Database) -> None:
    online = await seed(db, args.agents, args.held, args.waiting, args.inboxes)
    assigner = Assigner(is_postgres=not db.is_sqlite)
    decisions: list[float] = []
    decisions_cpu: list[float] = []
    for _ in range(args.decisions):
        started, cpu = time.perf_counter(), time.process_time()
        outcome = await db.write_batch(
            lambda conn: assigner.run(conn, online, clock.now(), limit=1)
        )
        decisions.append((time.perf_counter() - started) * 1000)
        decisions_cpu.append((time.process_time() - cpu) * 1000)
        for made in outcome.assigned:
            await free_seat(db, made.conversation_id)
            # As the bus tells the router of a resolve.
            assigner.load_changed({made.agent_id})

    # The policy's choice alone: 1 000 candidates with room, one conversation.
    profiles = await db.write_batch(lambda conn: pass_store.profiles(conn, online))
    candidates = [
        Candidate(
            id=agent_id,
            role=p.role,
            capacity=p.capacity,
            load=n % CAPACITY,
            skills=p.skills,
            team_ids=p.team_ids,
            last_routed_at=p.last_routed_at,
        )
        for n, (agent_id, p) in enumerate(sorted(profiles.items()))
    ]
    picks: dict[str, list[float]] = {}
    waiting = Waiting(1, 1, 1, None, 0, clock.now(), "ja", None, None, None)
    for policy, chooser in registry().items():
        config = RoutingConfig(policy=policy)
        samples = picks.setdefault(policy.value, [])
        for _ in range(args.decisions):
            started = time.perf_counter()
            chooser.pick(waiting, candidates, config, clock.now())
            samples.append((time.perf_counter() - started) * 1000)

    # The router's round for one freed seat: every seat is taken first (not
    # timed), then one agent resolves a conversation and the router runs.
    router = Router(db, MemoryBus(), Everyone(online))
    await router.run_once()
    rounds: list[float] = []
    rounds_cpu: list[float] = []
    for n in range(max(1, args.decisions // 10)):
        agent_id = online[n % len(online)]
        async with db.read() as session:
            held = await routing_repo.assigned_to(session, agent_id)
        await free_seat(db, held[0])
        router.assigner.load_changed({agent_id})
        started, cpu = time.perf_counter(), time.process_time()
        outcome = await router.run_once()
        rounds.append((time.perf_counter() - started) * 1000)
        rounds_cpu.append((time.process_time() - cpu) * 1000)
        assert len(outcome.assigned) == 1

    print(f"decision  {percentiles(decisions)}   ({len(decisions)} decisions)")
    print(f"  CPU     {percentiles(decisions_cpu)}   (both threads of this process)")
    for name, samples in picks.items():
        print(f"pick      {percentiles(samples)}   ({name})")
    print(f"round     {percentiles(rounds)}   ({len(rounds)} rounds, queue {router.waiting})")
    print(f"  CPU     {percentiles(rounds_cpu)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--held", type=int, default=2, help="live conversations each agent has")
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--inboxes", type=int, default=10)
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database")
    parser.add_argument("--sync", default="NORMAL", choices=["OFF", "NORMAL", "FULL"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-routing-") as data_dir:
        settings = Settings(
            data_dir=Path(data_dir), database_url=args.database_url, sqlite_synchronous=args.sync
        )
        await asyncio.to_thread(upgrade_to_head, settings)
        db = Database(settings, MemoryBus())
        store = "PostgreSQL" if not db.is_sqlite else f"SQLite WAL, synchronous={args.sync}"
        print(
            f"routing bench: {args.agents} agents online (capacity {CAPACITY}, {args.held} held"
            f" each), {args.waiting} waiting, {args.inboxes} inboxes; {store};"
            f" Python {platform.python_version()}"
        )
        try:
            await measure(args, db)
        finally:
            await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
