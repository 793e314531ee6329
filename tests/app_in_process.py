"""The whole app in the test's own process, behind httpx's ASGI transport.

For the few tests that must see inside the server while it answers HTTP
(count the password hashes it runs, hold them, move its clock); the rest talk
to a real `madoguchi serve` (tests/harness.py). Each client speaks from an
address of its own, as the server's per-address limits see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.agents import service as agents_service
from app.agents.schemas import AgentCreate
from app.config import Settings
from app.main import create_app
from app.migrate import upgrade_to_head
from app.runtime import Runtime
from tests.harness import base_database_url, fresh_postgres_database


class AppInProcess:
    def __init__(self, app: FastAPI, asgi: Any, stack: AsyncExitStack) -> None:
        self.app = app
        self._asgi = asgi
        self._stack = stack

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def client(self, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self._asgi, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://madoguchi.test")
        return await self._stack.enter_async_context(client)

    async def create_agent(self, email: str, password: str) -> None:
        data = AgentCreate(email=email, name=email.split("@")[0], password=password)
        await agents_service.create_agent(self.runtime.db, data)


@asynccontextmanager
async def app_in_process(data_dir: Path, **settings: Any) -> AsyncIterator[AppInProcess]:
    """A migrated database of its own (SQLite in `data_dir`, or a fresh
    PostgreSQL database), the app's lifespan around the test."""
    base = base_database_url()
    defaults: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": await fresh_postgres_database(base) if base else None,
        "redis_url": None,
        "smtp_port": 0,
        "imap_readers": False,
    }
    config = Settings(**(defaults | settings))
    # Alembic runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade_to_head, config)
    asgi = create_app(config)
    app: FastAPI = asgi.app  # type: ignore[assignment]
    async with app.router.lifespan_context(app), AsyncExitStack() as stack:
        yield AppInProcess(app, asgi, stack)
