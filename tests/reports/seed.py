"""A week of history with chosen timestamps, and what its report must say.

Inbox "Tokyo" opens Monday to Friday, 09:00-18:00 Asia/Tokyo; Monday
2026-11-23 (Labour Thanksgiving Day) is closed. Times below are JST.

C1  Fri 11-20 17:30 customer writes (and enters the queue)
    Tue 11-24 09:10 assigned; 09:30 agent replies (first response)
              10:00 customer; 10:20 agent (a response); 11:00 resolved; rated 5
C2  Tue 11-24 12:00 customer (queued); 12:00:05 auto-reply (system);
              12:02 assigned; 12:05 private note; 12:10 agent; 13:00 resolved; rated 3
C3  Wed 11-25 08:00 customer (before opening); 09:15 agent;
              09:20 and 09:25 customer; 09:40 agent. Still open.
C4  another inbox, always open: Tue 11-24 12:00 customer, 12:30 agent.

Hand-computed (wall / business seconds):
  first_response  C1 316800 / 3600 (Fri 17:30-18:00 + Tue 09:00-09:30)
                  C2 600 / 600     C3 4500 / 900 (opens 09:00)
  response        C1 316800/3600 and 1200/1200, C2 600/600, C3 4500/900 and 1200/1200
  resolution      C1 322200 / 9000 (1800 Fri + 7200 Tue), C2 3600 / 3600
  queue_wait      C1 315600 / 2400 (1800 Fri + 600 Tue), C2 120 / 120
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from app.db import Database
from app.kit.crypto import new_token
from app.models import (
    Agent,
    Conversation,
    CsatResponse,
    Customer,
    Inbox,
    Message,
    SlaEvent,
)

JST = timezone(timedelta(hours=9))
HOURS = {
    "timezone": "Asia/Tokyo",
    "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "closed_dates": ["2026-11-23"],
    "holiday_calendar": None,
}
PERIOD = (datetime(2026, 11, 16, tzinfo=JST), datetime(2026, 11, 30, tzinfo=JST))
TUESDAY = (datetime(2026, 11, 24, tzinfo=JST), datetime(2026, 11, 25, tzinfo=JST))

# The summary of inbox "Tokyo" over PERIOD, as the contract shapes it.
EXPECTED_TOKYO = {
    "conversations": {"opened": 3, "resolved": 2},
    "first_response": {
        "count": 3,
        "median": 4500.0,
        "p90": 254340.0,
        "business_median": 900.0,
        "business_p90": 3060.0,
    },
    "response": {
        "count": 5,
        "median": 1200.0,
        "p90": 191880.0,
        "business_median": 1200.0,
        "business_p90": 2640.0,
    },
    "resolution": {
        "count": 2,
        "median": 162900.0,
        "p90": 290340.0,
        "business_median": 6300.0,
        "business_p90": 8460.0,
    },
    "queue_wait": {
        "count": 2,
        "median": 157860.0,
        "p90": 284052.0,
        "business_median": 1260.0,
        "business_p90": 2172.0,
    },
    "csat": {"count": 2, "average": 4.0, "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}},
}


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=JST)


@dataclass
class Seeded:
    tokyo_inbox_id: int
    other_inbox_id: int
    agent_id: int
    conversation_ids: list[int]


async def seed(db: Database, *, agent_id: int | None = None) -> Seeded:
    """Writes the history; `agent_id`: an existing agent to answer (else one is made)."""
    now = at(16, 0)
    async with db.write() as session:
        tokyo = Inbox(
            name="Tokyo",
            channel="web",
            config={},
            widget_key=new_token()[:32],
            business_hours=HOURS,
            created_at=now,
        )
        other = Inbox(
            name="Elsewhere", channel="web", config={}, widget_key=new_token()[:32], created_at=now
        )
        session.add_all([tokyo, other])
        if agent_id is None:
            agent = Agent(
                email=f"seed-{new_token()[:8]}@example.com",
                name="Seed Agent",
                password_hash="x",
                role="agent",
                created_at=now,
            )
            session.add(agent)
            await session.flush()
            agent_id = agent.id
        customer = Customer(name="Seeded customer", created_at=now)
        session.add(customer)
        await session.flush()
        conversations = []

        def conversation(
            inbox: Inbox, thread: str, created: datetime, **extra: object
        ) -> Conversation:
            c = Conversation(
                inbox_id=inbox.id,
                customer_id=customer.id,
                thread_key=thread,
                status=extra.pop("status", "open"),
                created_at=created,
                updated_at=created,
                last_message_at=created,
                **extra,
            )
            session.add(c)
            conversations.append(c)
            return c

        c1 = conversation(
            tokyo,
            "c1",
            at(20, 17, 30),
            status="resolved",
            queued_at=at(20, 17, 30),
            assigned_at=at(24, 9, 10),
            assignee_id=agent_id,
            resolved_at=at(24, 11),
        )
        c2 = conversation(
            tokyo,
            "c2",
            at(24, 12),
            status="resolved",
            queued_at=at(24, 12),
            assigned_at=at(24, 12, 2),
            assignee_id=agent_id,
            resolved_at=at(24, 13),
        )
        c3 = conversation(tokyo, "c3", at(25, 8), assignee_id=agent_id)
        c4 = conversation(other, "c4", at(24, 12), assignee_id=agent_id)
        await session.flush()

        def messages(c: Conversation, *items: tuple[str, datetime, bool]) -> None:
            for seq, (kind, when, private) in enumerate(items, start=1):
                session.add(
                    Message(
                        conversation_id=c.id,
                        inbox_id=c.inbox_id,
                        seq=seq,
                        author_kind=kind,
                        body=f"{kind} {seq}",
                        private=private,
                        author_agent_id=agent_id if kind == "agent" else None,
                        created_at=when,
                        sent_at=when,
                    )
                )
            c.last_seq = len(items)

        messages(
            c1,
            ("customer", at(20, 17, 30), False),
            ("agent", at(24, 9, 30), False),
            ("customer", at(24, 10), False),
            ("agent", at(24, 10, 20), False),
        )
        messages(
            c2,
            ("customer", at(24, 12), False),
            ("system", at(24, 12, 0, 5), False),
            ("agent", at(24, 12, 5), True),
            ("agent", at(24, 12, 10), False),
        )
        messages(
            c3,
            ("customer", at(25, 8), False),
            ("agent", at(25, 9, 15), False),
            ("customer", at(25, 9, 20), False),
            ("customer", at(25, 9, 25), False),
            ("agent", at(25, 9, 40), False),
        )
        messages(c4, ("customer", at(24, 12), False), ("agent", at(24, 12, 30), False))
        session.add_all(
            [
                CsatResponse(
                    conversation_id=c1.id,
                    rating=5,
                    channel="web",
                    customer_id=customer.id,
                    created_at=at(24, 11, 5),
                ),
                CsatResponse(
                    conversation_id=c2.id,
                    rating=3,
                    comment="slow",
                    channel="web",
                    customer_id=customer.id,
                    created_at=at(24, 13, 30),
                ),
                SlaEvent(
                    conversation_id=c1.id,
                    inbox_id=tokyo.id,
                    target="first_response",
                    phase="breach",
                    started_at=at(20, 17, 30),
                    due_at=at(24, 9),
                    fired_at=at(24, 9),
                ),
            ]
        )
    return Seeded(tokyo.id, other.id, agent_id, [c.id for c in conversations])
