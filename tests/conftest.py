from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Api,
    Server,
    base_database_url,
    free_port,
    fresh_postgres_database,
)

StartServer = Callable[..., Awaitable[Api]]


@pytest.fixture(scope="session")
async def start_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StartServer]:
    """Starts a server with its own data dir (and own PostgreSQL database)."""
    started: list[Api] = []

    async def start(env: dict[str, str] | None = None, *, smtp: bool = False) -> Api:
        """`smtp`: with the inbound SMTP listener, on `api.server.smtp_port`."""
        base = base_database_url()
        database_url = await fresh_postgres_database(base) if base else None
        server = Server(
            tmp_path_factory.mktemp("server"),
            env or {},
            database_url,
            smtp_port=free_port() if smtp else 0,
        )
        created = server.cli("create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
        assert created.returncode == 0, created.stderr
        await server.start()
        api = Api(server, "")
        api.admin_token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        started.append(api)
        return api

    yield start
    for api in started:
        await api.http.aclose()
        api.server.stop()


@pytest.fixture(scope="session")
async def api(start_server: StartServer) -> Api:
    """The shared server most tests use; each test makes its own inbox and people."""
    return await start_server()


@pytest.fixture
async def inbox(api: Api) -> dict[str, Any]:
    return await api.create_inbox()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
