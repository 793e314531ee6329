"""The background loop: rounds when started, woken or due; a bad round is
logged and survived; start and stop are safe to repeat."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.kit.background import BackgroundLoop

log = logging.getLogger("tests.kit.background")


class Rounds:
    """A round that counts itself and says when each one ended."""

    def __init__(self, due: float | None = None) -> None:
        self.due = due
        self.count = 0
        self.ended = asyncio.Event()

    async def __call__(self) -> float | None:
        self.count += 1
        self.ended.set()
        return self.due

    async def next(self) -> None:
        self.ended.clear()
        await asyncio.wait_for(self.ended.wait(), 2)


async def test_a_wake_runs_the_next_round_long_before_the_interval() -> None:
    rounds = Rounds()
    loop = BackgroundLoop(rounds, name="test-wake", interval=60)
    await loop.start()
    try:
        await rounds.next()
        assert rounds.count == 1, "a round at start"
        loop.wake()
        await rounds.next()
        assert rounds.count == 2
    finally:
        await loop.stop()


async def test_a_round_is_due_again_after_the_seconds_it_returns() -> None:
    rounds = Rounds(due=0.01)
    loop = BackgroundLoop(rounds, name="test-due")  # no interval: woken only, or due
    await loop.start()
    try:
        for _ in range(3):
            await rounds.next()
        assert rounds.count >= 3
    finally:
        await loop.stop()


async def test_settle_gathers_a_burst_of_wakes_into_one_round() -> None:
    rounds = Rounds()
    loop = BackgroundLoop(rounds, name="test-settle", settle=0.05)
    await loop.start()
    try:
        await rounds.next()
        for _ in range(5):
            loop.wake()
            await asyncio.sleep(0)
        await rounds.next()
        await asyncio.sleep(0.1)
        assert rounds.count == 2
    finally:
        await loop.stop()


async def test_a_failed_round_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran = asyncio.Event()
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bad moment")
        ran.set()

    loop = BackgroundLoop(flaky, name="test-failure", interval=0.01, log=log)
    with caplog.at_level(logging.ERROR, logger=log.name):
        await loop.start()
        try:
            await asyncio.wait_for(ran.wait(), 2)
        finally:
            await loop.stop()
    assert calls >= 2, "the round after the failure ran"
    failed = [r for r in caplog.records if r.name == log.name]
    assert len(failed) == 1
    assert "test-failure" in failed[0].getMessage()
    assert failed[0].exc_info is not None


async def test_backoff_pauses_after_a_failure_however_often_woken() -> None:
    times: list[float] = []
    clock = asyncio.get_running_loop().time

    async def failing() -> None:
        times.append(clock())
        raise RuntimeError("still down")

    loop = BackgroundLoop(failing, name="test-backoff", backoff=lambda n: 0.1 * n, log=log)
    await loop.start()
    try:
        while len(times) < 3:
            loop.wake()
            await asyncio.sleep(0.005)
    finally:
        await loop.stop()
    assert times[1] - times[0] >= 0.1
    assert times[2] - times[1] >= 0.2, "the pause grows with the failures in a row"


async def test_stop_awaits_the_round_in_progress_and_is_idempotent() -> None:
    started = asyncio.Event()
    unwound: list[str] = []

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.01)  # the round's own cleanup takes a moment
            unwound.append("done")

    loop = BackgroundLoop(slow, name="test-stop")
    await loop.stop()  # never started: nothing to do
    await loop.start()
    await started.wait()
    await loop.stop()
    assert unwound == ["done"], "stop returns after the round has unwound"
    assert not loop.running
    await loop.stop()
    assert unwound == ["done"]


async def test_starting_twice_runs_one_task() -> None:
    rounds = Rounds()
    loop = BackgroundLoop(rounds, name="test-start-twice")
    await loop.start()
    await loop.start()
    try:
        await rounds.next()
        await asyncio.sleep(0.01)
        named = [t for t in asyncio.all_tasks() if t.get_name() == "test-start-twice"]
        assert len(named) == 1
        assert rounds.count == 1
    finally:
        await loop.stop()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "test-start-twice"]


async def test_it_starts_again_after_a_stop() -> None:
    rounds = Rounds()
    loop = BackgroundLoop(rounds, name="test-restart")
    await loop.start()
    await rounds.next()
    await loop.stop()
    await loop.start()
    try:
        await rounds.next()
        assert rounds.count == 2
    finally:
        await loop.stop()


async def test_a_draining_stop_runs_rounds_until_nothing_is_left() -> None:
    queued = list(range(10))
    done: list[int] = []

    async def take_one() -> float | None:
        if not queued:
            return None
        await asyncio.sleep(0.001)
        done.append(queued.pop(0))
        return 0.0 if queued else None

    loop = BackgroundLoop(take_one, name="test-drain", drain=True)
    await loop.start()
    await loop.stop()
    assert done == list(range(10))
    # What is queued while it waits is written by the stop's round too.
    queued.extend([10, 11])
    await loop.start()
    await asyncio.sleep(0.01)
    queued.append(12)
    await loop.stop()
    assert done == list(range(13))
