"""Shared limits against a real redis-server that the test stops and starts.

Two `SharedCounters`, each with its own Redis client, stand for two server
processes. While Redis is down each holds a client to half the limit (so the
two together still allow one limit), says so once in the log and in its
`degraded` flag; once Redis is back the counts are shared again, with what
was counted meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from app.config import Settings
from app.errors import RateLimited
from app.kit.ratelimit import WINDOW_SECONDS, now_seconds
from app.kit.shared_ratelimit import PREFIX, SharedCounters, SharedRateLimiter
from app.runtime import RateLimits
from tests.redis_alone import (  # noqa: F401 - fixtures
    lone_redis_server_fixture,
    start_of_a_minute_fixture,
)
from tests.scale.conftest import RedisServer

LIMIT = 6
PROCESSES = 2


class Process:
    """What one server process holds: its Redis client, counters, limits."""

    def __init__(self, url: str) -> None:
        # Short timeouts: a stopped redis-server answers a connect at once anyway.
        self.redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.counters = SharedCounters(self.redis)
        settings = Settings(rate_login=LIMIT, server_processes=PROCESSES)
        self.limits = RateLimits.shared(settings, self.counters)

    @property
    def login(self) -> SharedRateLimiter:
        assert isinstance(self.limits.login, SharedRateLimiter)
        return self.limits.login

    def allowed(self, key: str, attempts: int) -> int:
        """How many of `attempts` failed logins for `key` the limit lets through."""
        allowed = 0
        for _ in range(attempts):
            try:
                self.login.reserve(key)
            except RateLimited:
                continue
            allowed += 1
        return allowed


@pytest.fixture
async def processes(lone_redis_server: RedisServer) -> AsyncIterator[list[Process]]:
    started = [Process(lone_redis_server.url) for _ in range(PROCESSES)]
    for process in started:
        await process.counters.start()
    yield started
    for process in started:
        await process.counters.stop()
        await process.redis.aclose()


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer if isinstance(answer, bool) else await answer:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


def redis_key(key: str) -> str:
    return f"{PREFIX}login:{int(now_seconds() // WINDOW_SECONDS)}:{key}"


async def flushed(process: Process) -> None:
    """Until what the process counted has been sent and answered."""
    counters = process.counters
    await eventually(lambda: not counters._pending and not counters._sending)


async def redis_total(url: str, key: str) -> int:
    checker = Redis.from_url(url)
    try:
        return int(await checker.get(redis_key(key)) or 0)
    finally:
        await checker.aclose()


@pytest.mark.usefixtures("start_of_a_minute")
async def test_the_limit_is_shared_and_holds_at_a_share_per_process_while_redis_is_down(
    processes: list[Process], lone_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = processes
    caplog.set_level(logging.WARNING, logger="app.kit.shared_ratelimit")

    # Shared: a process learns the total over all of them as it counts.
    assert first.allowed("acct:a", 4) == 4
    await flushed(first)
    assert second.allowed("acct:a", 1) == 1
    await flushed(second)
    assert second.counters.count(redis_key("acct:a")) == 5
    assert second.allowed("acct:a", 3) == 1

    lone_redis_server.kill()
    # The first counts after the outage began find it out.
    for process in processes:
        process.allowed("addr:probe", 1)
    await eventually(lambda: first.limits.degraded and second.limits.degraded)
    # Each process alone now allows its share: the two together, one limit.
    assert first.allowed("acct:b", LIMIT) == LIMIT // PROCESSES
    assert second.allowed("acct:b", LIMIT) == LIMIT // PROCESSES
    # A success still gives its attempt back while degraded.
    first.login.reserve("acct:c").release()
    assert first.allowed("acct:c", LIMIT) == LIMIT // PROCESSES
    # Several failed rounds later (a probe a second), still one warning each.
    await asyncio.sleep(2.5)
    outage = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(outage) == PROCESSES

    lone_redis_server.start()
    await eventually(lambda: not first.limits.degraded and not second.limits.degraded)
    back = [r for r in caplog.records if "Redis is back" in r.getMessage()]
    assert len(back) == PROCESSES
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == PROCESSES
    # What each counted alone was sent: together, one limit.
    assert await redis_total(lone_redis_server.url, "acct:b") == LIMIT
    assert await redis_total(lone_redis_server.url, "acct:c") == LIMIT // PROCESSES
    # A new client meets the whole limit again, shared.
    assert first.allowed("acct:d", LIMIT - 1) == LIMIT - 1
    await flushed(first)
    assert second.allowed("acct:d", 1) == 1
    await flushed(second)
    assert await redis_total(lone_redis_server.url, "acct:d") == LIMIT
    assert second.allowed("acct:d", 3) == 0


@pytest.mark.usefixtures("start_of_a_minute")
async def test_a_reservation_given_back_is_uncounted_in_redis(
    processes: list[Process], lone_redis_server: RedisServer
) -> None:
    first, second = processes
    attempts = [first.login.reserve("acct:e") for _ in range(LIMIT - 1)]
    await flushed(first)
    assert second.allowed("acct:e", 1) == 1
    await flushed(second)
    assert await redis_total(lone_redis_server.url, "acct:e") == LIMIT
    assert second.allowed("acct:e", 1) == 0
    for attempt in attempts[:2]:
        attempt.release()
    await flushed(first)
    assert await redis_total(lone_redis_server.url, "acct:e") == LIMIT - 2
    assert first.allowed("acct:e", 3) == 2
