"""Fixtures for tests of one process against a real redis-server of their own,
on either database (the several-process tests in tests/scale need PostgreSQL).
Import them (`..._fixture`) into the test module that uses them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.kit.clock import clock
from app.kit.ratelimit import WINDOW_SECONDS, now_seconds
from tests.scale.conftest import RedisServer, running_redis


@pytest.fixture(name="lone_redis_server")
def lone_redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path)


@pytest.fixture(name="start_of_a_minute")
def start_of_a_minute_fixture() -> Iterator[None]:
    """Shared windows are whole minutes of the clock: the test starts a second
    into one, so no window ends under it."""
    move = timedelta(seconds=WINDOW_SECONDS + 1 - now_seconds() % WINDOW_SECONDS)
    clock.advance(move)
    yield
    clock.advance(-move)
