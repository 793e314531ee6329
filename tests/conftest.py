from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

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


class Servers:
    """Starts servers, each with its own data dir (and own PostgreSQL
    database), and stops them when the scope that asked for them ends: a
    server left running holds its PostgreSQL connections, and enough of them
    fill the database's connection slots."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.started: list[Api] = []

    async def start(self, env: dict[str, str] | None = None, *, smtp: bool = False) -> Api:
        """`smtp`: with the inbound SMTP listener, on `api.server.smtp_port`."""
        base = base_database_url()
        database_url = await fresh_postgres_database(base) if base else None
        server = Server(
            self.tmp_path_factory.mktemp("server"),
            env or {},
            database_url,
            smtp_port=free_port() if smtp else 0,
        )
        created = server.cli("create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD)
        assert created.returncode == 0, created.stderr
        api = Api(server, "")
        self.started.append(api)  # stopped at the end even if it fails to start
        await server.start()
        api.admin_token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        return api

    async def stop(self) -> None:
        for api in self.started:
            await api.http.aclose()
            api.server.stop()
        self.started.clear()


def _server_starter(scope: Literal["function", "module", "package", "session"], name: str) -> Any:
    """A fixture that starts servers and stops them when `scope` ends: a
    server lives as long as the fixture or test that started it, no longer."""

    @pytest.fixture(scope=scope, name=name)
    async def starter(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[StartServer]:
        servers = Servers(tmp_path_factory)
        try:
            yield servers.start
        finally:
            await servers.stop()

    return starter


start_server = _server_starter("function", "start_server")
start_module_server = _server_starter("module", "start_module_server")
start_package_server = _server_starter("package", "start_package_server")
start_session_server = _server_starter("session", "start_session_server")


@pytest.fixture(scope="session")
async def api(start_session_server: StartServer) -> Api:
    """The shared server most tests use; each test makes its own inbox and people."""
    return await start_session_server()


@pytest.fixture
async def inbox(api: Api) -> dict[str, Any]:
    return await api.create_inbox()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
