"""Reserving an attempt: counted while in flight, kept on failure, given back on success."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from app.errors import RateLimited
from app.kit.clock import clock
from app.kit.ratelimit import WINDOW_SECONDS, RateLimiter


@pytest.fixture
def moved_clock() -> Iterator[list[timedelta]]:
    """Moves of the one clock made by the test, undone after it."""
    moves: list[timedelta] = []
    yield moves
    for move in moves:
        clock.advance(-move)


def advance(moves: list[timedelta], seconds: float) -> None:
    move = timedelta(seconds=seconds)
    clock.advance(move)
    moves.append(move)


def test_attempts_in_flight_count_toward_the_limit() -> None:
    limiter = RateLimiter(3)
    in_flight = [limiter.reserve("addr:a", "acct:x") for _ in range(3)]
    # None has an outcome yet; a fourth is refused anyway, from either key.
    with pytest.raises(RateLimited) as refused:
        limiter.reserve("addr:a", "acct:y")
    assert refused.value.retry_after > 0
    with pytest.raises(RateLimited):
        limiter.reserve("addr:b", "acct:x")
    # The refusals counted nothing: another address and account are untouched.
    limiter.reserve("addr:b", "acct:y")
    assert len(in_flight) == 3


def test_a_refused_reservation_counts_on_no_key() -> None:
    limiter = RateLimiter(2)
    limiter.reserve("acct:x")
    limiter.reserve("acct:x")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.reserve("addr:a", "acct:x")
    # addr:a was checked before acct:x refused, never counted.
    limiter.reserve("addr:a")
    limiter.reserve("addr:a")
    with pytest.raises(RateLimited):
        limiter.reserve("addr:a")


def test_a_success_gives_its_attempt_back_and_a_failure_keeps_it() -> None:
    limiter = RateLimiter(2)
    failed = limiter.reserve("acct:x")
    succeeded = limiter.reserve("acct:x")
    succeeded.release()
    succeeded.release()  # once only
    limiter.reserve("acct:x")  # the place the success gave back
    with pytest.raises(RateLimited):
        limiter.reserve("acct:x")
    failed.release()  # a success after all: its place too
    limiter.reserve("acct:x")


def test_the_limit_lifts_when_the_window_passes(moved_clock: list[timedelta]) -> None:
    limiter = RateLimiter(1)
    late = limiter.reserve("acct:x")
    with pytest.raises(RateLimited):
        limiter.reserve("acct:x")
    advance(moved_clock, WINDOW_SECONDS + 1)
    fresh = limiter.reserve("acct:x")
    # Given back after its window ended: the new window's count is not touched.
    late.release()
    with pytest.raises(RateLimited):
        limiter.reserve("acct:x")
    fresh.release()
    limiter.reserve("acct:x")


def test_a_limit_of_zero_reserves_nothing() -> None:
    limiter = RateLimiter(0)
    for _ in range(100):
        limiter.reserve("acct:x")
    limiter.hit("acct:x")


def test_hits_and_reservations_share_the_count() -> None:
    limiter = RateLimiter(3)
    limiter.hit("session:s")
    limiter.reserve("session:s")
    limiter.hit("session:s")
    with pytest.raises(RateLimited):
        limiter.hit("session:s")
    with pytest.raises(RateLimited):
        limiter.reserve("session:s")
