"""Bursts of logins cost a bounded number of password hashes.

The attack: 2 000 wrong passwords at once for one account from one address,
then a flood spread over many addresses and accounts. What must hold: no more
hashes run than the login limit (per key) and the hashing budget (per
process) allow, the others are refused at once, and the agents who are not
under attack sign in all the while.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from app.auth import passwords
from app.kit.clock import clock
from app.kit.ratelimit import WINDOW_SECONDS
from tests.app_in_process import app_in_process

BURST = 2000
LIMIT = 5
TARGET = "target@example.com"
TARGET_PASSWORD = "the target's password"
COLLEAGUE = "colleague@example.com"
COLLEAGUE_PASSWORD = "the colleague's password"


class Verifications:
    """The password checks the app ran (in its hashing threads), the most at once."""

    def __init__(self) -> None:
        self.passwords: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Lock()

    def guesses(self, prefix: str) -> int:
        return sum(1 for p in self.passwords if p.startswith(prefix))


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Iterator[Verifications]:
    seen = Verifications()
    verify = passwords._verify

    def counted(password_hash: str | None, password: str) -> bool:
        with seen._lock:
            seen.passwords.append(password)
            seen.running += 1
            seen.most_at_once = max(seen.most_at_once, seen.running)
        try:
            seen.hold.wait(60)
            return verify(password_hash, password)
        finally:
            with seen._lock:
                seen.running -= 1

    monkeypatch.setattr(passwords, "_verify", counted)
    yield seen
    seen.hold.set()  # never leave a hashing thread waiting


@pytest.fixture
def moved_clock() -> Iterator[list[timedelta]]:
    moves: list[timedelta] = []
    yield moves
    for move in moves:
        clock.advance(-move)


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/token", json={"email": email, "password": password})


async def test_a_burst_of_guesses_runs_no_more_hashes_than_the_limit(
    tmp_path: Path, verifications: Verifications, moved_clock: list[timedelta]
) -> None:
    # The burst must fit the hashing budget, or some guesses would be refused
    # for it (503) rather than for the limit; that budget has its own test.
    assert passwords.HASH_THREADS + passwords.HASH_QUEUE > LIMIT + 1
    async with app_in_process(tmp_path, rate_login=LIMIT) as app:
        await app.create_agent(TARGET, TARGET_PASSWORD)
        await app.create_agent(COLLEAGUE, COLLEAGUE_PASSWORD)
        attacker = await app.client("203.0.113.7")
        colleague = await app.client("198.51.100.20")

        *guesses, colleague_signs_in = await asyncio.gather(
            *(login(attacker, TARGET, f"guess {i}") for i in range(BURST)),
            login(colleague, COLLEAGUE, COLLEAGUE_PASSWORD),
        )

        assert Counter(r.status_code for r in guesses) == {401: LIMIT, 429: BURST - LIMIT}
        assert all(int(r.headers["retry-after"]) > 0 for r in guesses if r.status_code == 429)
        # Only the limit's worth were hashed; the 429s were answered without one.
        assert verifications.guesses("guess ") == LIMIT
        assert colleague_signs_in.status_code == 200, colleague_signs_in.text
        assert colleague_signs_in.json()["access_token"]

        # Within the window even the right password waits, from that address
        # (and for that account from any other) ...
        assert (await login(attacker, TARGET, TARGET_PASSWORD)).status_code == 429
        elsewhere = await app.client("192.0.2.55")
        assert (await login(elsewhere, TARGET, TARGET_PASSWORD)).status_code == 429
        # ... and works once it has passed.
        clock.advance(timedelta(seconds=WINDOW_SECONDS + 1))
        moved_clock.append(timedelta(seconds=WINDOW_SECONDS + 1))
        signed_in = await login(attacker, TARGET, TARGET_PASSWORD)
        assert signed_in.status_code == 200, signed_in.text
        assert verifications.guesses("guess ") == LIMIT


async def test_a_flood_from_many_addresses_waits_for_a_bounded_number_of_hashes(
    tmp_path: Path, verifications: Verifications
) -> None:
    """Every address and account under its limit, so only the process's
    hashing budget stands in the way: the hashes past it are refused at once
    with 503, and a refusal costs the agent it met no attempt."""
    budget = passwords.HASH_THREADS + passwords.HASH_QUEUE
    refused_at_once = 40
    async with app_in_process(tmp_path, rate_login=1) as app:
        await app.create_agent(COLLEAGUE, COLLEAGUE_PASSWORD)
        bots = [await app.client(f"10.0.{i // 250}.{i % 250 + 1}") for i in range(budget + 40)]
        colleague = await app.client("198.51.100.20")

        verifications.hold.clear()  # the hashes admitted stay running or waiting
        flood = [
            asyncio.create_task(login(bot, f"bot{i}@example.com", "a guess"))
            for i, bot in enumerate(bots)
        ]
        async with asyncio.timeout(60):
            while sum(task.done() for task in flood) < refused_at_once:
                await asyncio.sleep(0.01)
        answered = [task.result() for task in flood if task.done()]
        assert [r.status_code for r in answered] == [503] * refused_at_once
        assert all(r.json()["error"] == "busy" for r in answered)
        assert all(r.headers["retry-after"] == "1" for r in answered)
        # The colleague meets the full budget too, and is told to come back.
        busy = await login(colleague, COLLEAGUE, COLLEAGUE_PASSWORD)
        assert busy.status_code == 503

        verifications.hold.set()
        statuses = Counter(r.status_code for r in await asyncio.gather(*flood))
        assert statuses == {401: budget, 503: refused_at_once}
        assert len(verifications.passwords) == budget
        assert verifications.most_at_once <= passwords.HASH_THREADS

        # With a limit of one attempt a minute, the 503 did not count as one.
        signed_in = await login(colleague, COLLEAGUE, COLLEAGUE_PASSWORD)
        assert signed_in.status_code == 200, signed_in.text
