"""Several `madoguchi serve` processes over one PostgreSQL and one real
redis-server, which these tests start on a free port in a temp dir.

They need PostgreSQL (SQLite has one writer: one process serves it), so they
run in the PostgreSQL run of scripts/test and skip on SQLite.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest
import redis

from tests.harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Api,
    Server,
    base_database_url,
    free_port,
    fresh_postgres_database,
)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A redis-server of the test's own, that it may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.directory / "redis.log").open("ab") as log:
            self.process = self._spawn(log)
        self._wait_ready()

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - the test's own redis-server
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self) -> None:
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert self.process is not None
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def running_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, killed after it (a fixture's body)."""
    if not os.path.exists(REDIS_SERVER):
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if base_database_url() is None:
        pytest.skip("several processes need PostgreSQL (the PostgreSQL run of scripts/test)")
    yield from running_redis(tmp_path)


class Cluster:
    """Processes that share one database and one Redis, as machines behind a
    load balancer would; each has its own port."""

    def __init__(self, tmp_path: Path, redis_server: RedisServer) -> None:
        self.tmp_path = tmp_path
        self.redis = redis_server
        self.database_url = ""
        self.apis: list[Api] = []

    async def start(self, count: int, env: dict[str, str] | None = None) -> list[Api]:
        if not self.database_url:
            base = base_database_url()
            assert base is not None
            self.database_url = await fresh_postgres_database(base)
        started = []
        for _ in range(count):
            started.append(await self.add(env))
        return started

    async def add(self, env: dict[str, str] | None = None) -> Api:
        index = len(self.apis)
        server = Server(
            self.tmp_path / f"process-{index}",
            {
                "MADOGUCHI_REDIS_URL": self.redis.url,
                "MADOGUCHI_PRESENCE_HEARTBEAT_SECONDS": "0.5",
                **(env or {}),
            },
            self.database_url,
        )
        server.data_dir.mkdir(parents=True, exist_ok=True)
        if index == 0:
            created = server.cli(
                "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD
            )
            assert created.returncode == 0, created.stderr
        await server.start()
        api = Api(server, "")
        api.admin_token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.apis.append(api)
        return api

    async def close(self) -> None:
        for api in self.apis:
            await api.http.aclose()
            api.server.stop()


@pytest.fixture
async def cluster(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[Cluster]:
    started = Cluster(tmp_path, redis_server)
    yield started
    await started.close()


async def eventually(check: object, timeout: float = 20.0, every: float = 0.1) -> None:
    """Waits until the async `check()` returns true."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(every)
