"""Migration 0013 on a database with sessions in use: each counts as seen and
issued when it was opened, and keeps working."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import select

from app.auth.widget_sessions import SessionLifetimes, authenticate_session
from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.kit.clock import clock
from app.migrate import alembic_config
from app.models import Inbox, WidgetSession
from app.widget.sessions import SessionRequest, TokenRules, open_session
from tests.harness import migrated_database
from tests.widget.conftest import Travel

LIFETIMES = SessionLifetimes(
    idle=timedelta(days=30), rotate_after=timedelta(hours=24), overlap=timedelta(minutes=10)
)
RULES = TokenRules(LIFETIMES, "a test secret")


def _request(token: str | None = None) -> SessionRequest:
    return SessionRequest(
        name=None, email=None, external_id=None, identity_hash=None, session_token=token
    )


async def test_sessions_in_use_are_seen_and_issued_when_opened(
    tmp_path: Path, travel: Travel
) -> None:
    db = await migrated_database(tmp_path)
    async with db.write() as session:
        inbox = Inbox(name="web", channel="web", mode="live", config={}, created_at=clock.now())
        session.add(inbox)
        await session.flush()
        opened = await open_session(session, inbox, _request(), RULES, before_new=lambda: None)
    travel(timedelta(hours=2))
    async with db.write() as session:
        # A resume records the use: last_seen_at moves on.
        again = await open_session(
            session, inbox, _request(opened.token), RULES, before_new=lambda: None
        )
    assert again.token == opened.token
    async with db.read() as session:
        before = (await session.execute(select(WidgetSession))).scalar_one()
        assert before.last_seen_at > before.created_at
    await db.dispose()

    settings = Settings(data_dir=tmp_path, database_url=db.url)
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0012")
    await asyncio.to_thread(command.upgrade, alembic_config(settings), "head")

    db = Database(settings, MemoryBus())
    try:
        async with db.read() as session:
            row = (await session.execute(select(WidgetSession))).scalar_one()
            assert row.last_seen_at == row.created_at == row.token_issued_at
            assert row.previous_digest is None
            assert row.previous_until is None
            identity = await authenticate_session(session, opened.token, LIFETIMES)
            assert identity.customer_id == opened.customer.id
    finally:
        await db.dispose()
