"""A budget of bytes per client key and hour, in one process and shared in
Redis: refused past the budget, bytes given back when not stored."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.errors import RateLimited
from app.kit.byte_budget import ByteBudget, SharedByteBudget
from app.kit.clock import clock
from tests.harness import free_port

REDIS_SERVER = shutil.which("redis-server")


async def test_a_key_is_refused_past_its_budget_and_others_are_not() -> None:
    budget = ByteBudget(1000)
    first = await budget.take("net:2001:db8::/64", 600)
    await budget.take("net:2001:db8::/64", 400)
    with pytest.raises(RateLimited) as refused:
        await budget.take("net:2001:db8::/64", 1)
    assert 0 < refused.value.retry_after <= 3600
    with pytest.raises(RateLimited):
        budget.check("net:2001:db8::/64", 1)
    await budget.take("net:2001:db8:0:1::/64", 1000)
    # Bytes not stored after all are given back.
    await budget.give_back(first)
    await budget.take("net:2001:db8::/64", 600)


async def test_the_next_hour_starts_from_nothing() -> None:
    budget = ByteBudget(1000)
    spent = await budget.take("addr:203.0.113.9", 1000)
    with pytest.raises(RateLimited) as refused:
        await budget.take("addr:203.0.113.9", 1)
    clock.advance(timedelta(seconds=refused.value.retry_after))
    try:
        await budget.take("addr:203.0.113.9", 900)
        # Given back after the hour turned: the new hour's count stays.
        await budget.give_back(spent)
        with pytest.raises(RateLimited):
            await budget.take("addr:203.0.113.9", 101)
    finally:
        clock.advance(-timedelta(seconds=refused.value.retry_after))


async def test_zero_turns_the_budget_off() -> None:
    budget = ByteBudget(0)
    for _ in range(3):
        budget.check("addr:203.0.113.9", 10**9)
        await budget.take("addr:203.0.113.9", 10**9)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - the test's own redis-server
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    client = Redis(port=port)
    try:
        for _ in range(200):
            try:
                await client.ping()
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        await client.aclose()
        process.kill()
        process.wait()


async def test_processes_sharing_redis_share_one_budget(redis_url: str) -> None:
    """Two processes' budgets over one Redis: one total, exact."""
    first_redis, second_redis = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        first = SharedByteBudget(1000, "uploads", first_redis)
        second = SharedByteBudget(1000, "uploads", second_redis)
        spent = await first.take("net:2001:db8::/64", 600)
        await second.take("net:2001:db8::/64", 300)
        with pytest.raises(RateLimited):
            await second.take("net:2001:db8::/64", 200)
        # The refused bytes were not kept: what is left still fits.
        await first.take("net:2001:db8::/64", 100)
        with pytest.raises(RateLimited):
            await first.take("net:2001:db8::/64", 1)
        await second.take("addr:203.0.113.9", 1000)
        await first.give_back(spent)
        await second.take("net:2001:db8::/64", 600)
    finally:
        await first_redis.aclose()
        await second_redis.aclose()


async def test_without_redis_each_process_counts_for_itself() -> None:
    unreachable = Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    try:
        budget = SharedByteBudget(1000, "uploads", unreachable)
        spent = await budget.take("net:2001:db8::/64", 1000)
        with pytest.raises(RateLimited):
            await budget.take("net:2001:db8::/64", 1)
        await budget.give_back(spent)
        await budget.take("net:2001:db8::/64", 1000)
    finally:
        await unreachable.aclose()
