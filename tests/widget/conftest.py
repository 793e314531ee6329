"""A server in the tests' own process, so that the tests can move its clock
(app/kit/clock.py): widget sessions expire after days and rotate after hours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from app.config import Settings
from app.kit.clock import clock
from app.main import create_app
from app.realtime.sockets import SocketDispatcher
from app.realtime.ws_protocol import DirectSendProtocol
from app.runtime import Runtime
from tests.harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Api,
    Server,
    base_database_url,
    fresh_postgres_database,
)


@dataclass
class LocalServer:
    api: Api
    app: SocketDispatcher

    @property
    def runtime(self) -> Runtime:
        return self.app.runtime()


@pytest.fixture(scope="module")
async def local(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalServer]:
    base = base_database_url()
    database_url = await fresh_postgres_database(base) if base else None
    data_dir: Path = tmp_path_factory.mktemp("local-server")
    # Not started: its command line migrates and makes the admin, and its port
    # is where this process serves.
    server = Server(data_dir, {}, database_url)
    created = server.cli("create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
    assert created.returncode == 0, created.stderr
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        smtp_port=0,
        imap_readers=False,
        rate_widget_sessions=0,
        rate_widget_messages=0,
        rate_login=0,
        presence_grace_seconds=0,
    )
    app = create_app(settings)
    uv = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=server.port, log_level="warning", ws=DirectSendProtocol
        )
    )
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        assert not task.done(), "the local server did not start"
        await asyncio.sleep(0.02)
    api = Api(server, "")
    api.admin_token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    try:
        yield LocalServer(api, app)
    finally:
        await api.http.aclose()
        uv.should_exit = True
        await task


Travel = Callable[[timedelta], None]


@pytest.fixture
def travel() -> Iterator[Travel]:
    """Moves the clock forward; put back after the test."""
    moved = timedelta()

    def go(delta: timedelta) -> None:
        nonlocal moved
        clock.advance(delta)
        moved += delta

    yield go
    clock.advance(-moved)
