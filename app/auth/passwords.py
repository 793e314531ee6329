"""Argon2id password hashing, off the event loop.

One hash costs tens of milliseconds of CPU; on the loop it would stall every
request and socket of the process for that long. argon2-cffi releases the GIL
while it hashes, so a thread is enough.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# A hash holds 64 MiB (argon2-cffi's default memory cost) while it runs: a few
# threads bound what a flood of logins can take, and more would not hash any
# faster on a few cores. The others wait their turn off the loop.
_hashing = ThreadPoolExecutor(max_workers=4, thread_name_prefix="argon2")

# Verified against when an email is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash("madoguchi-no-such-agent")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_hashing, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing, _verify, password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
