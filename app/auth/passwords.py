"""Argon2id password hashing, off the event loop, within a fixed budget.

One hash costs tens of milliseconds of CPU; on the loop it would stall every
request and socket of the process for that long. argon2-cffi releases the GIL
while it hashes, so a thread is enough.

The login limits bound the guesses per address and per account, not what a
botnet spread over many of both can ask for at once. So the process runs at
most `HASH_THREADS` hashes and lets at most `HASH_QUEUE` more wait; a hash
asked for past that is refused at once (`HashingBusy`, 503), so a flood
costs a bounded amount of CPU, memory and waiting, however large.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import AppError

T = TypeVar("T")

_hasher = PasswordHasher()

# A hash holds 64 MiB (argon2-cffi's default memory cost) while it runs: a few
# threads bound what a flood of logins can take, and more than the cores
# would not hash any faster.
HASH_THREADS = max(1, min(4, os.cpu_count() or 1))
# Waiting hashes hold next to no memory, so the queue may be long enough for
# a whole shift signing in at 9:00 to wait its turn (a hash is tens of
# milliseconds per thread: a full queue drains in a few seconds, short
# against a client's timeout) while a flood past it is still refused at once.
HASH_QUEUE = 64 * HASH_THREADS

_hashing = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")

# Verified against when an email is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("madoguchi-no-such-agent")


class HashingBusy(AppError):
    """Every hashing thread is busy and the queue is full: the server, not the
    client, is at its limit."""

    code = "busy"
    status = 503

    def __init__(self) -> None:
        super().__init__(
            "too many sign-ins at once; retry in a moment", headers={"Retry-After": "1"}
        )


class HashingGate:
    """Counts the hashes running or waiting; refuses past the budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.admitted = 0
        # Released from the hashing thread that finished.
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        with self._lock:
            if self.admitted >= self.budget:
                raise HashingBusy()
            self.admitted += 1
        future = _hashing.submit(fn, *args)
        # When the hash ends, not when its caller stops waiting: a request
        # cancelled mid-hash (a client gone) still holds its thread until then.
        future.add_done_callback(self._release)
        return future

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self.admitted -= 1


_gate = HashingGate(HASH_THREADS + HASH_QUEUE)


async def hash_password(password: str) -> str:
    # Only for a signed-in agent or admin (a new agent, a password change or
    # reset): not a stranger's to flood, so never refused; it shares the threads.
    return await asyncio.get_running_loop().run_in_executor(_hashing, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    return await asyncio.wrap_future(_gate.submit(_verify, password_hash, password))


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
