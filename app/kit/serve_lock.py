"""One `madoguchi serve` per SQLite database.

SQLite has one writer and the server keeps in-process state (sockets,
presence, rate limits) that a second process on the same file would not see:
a second `serve` is refused instead of quietly halving both. The lock is an
flock on a file beside the database, so the kernel releases it whenever the
holder ends, killed or not; nothing stale is left to clean up. Other commands
(`migrate`, `create-admin`, `agents`) take no lock: they are meant to run
beside a server.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from app.kit.data_dir import PRIVATE_FILE


class ServeLocked(Exception):
    def __init__(self, database: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"another madoguchi serve is using {database} ({who})")
        self.database = database
        self.pid = pid


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".serve.lock")


def hold_serve_lock(database: Path) -> int:
    """Takes the lock for this process's lifetime and returns its descriptor
    (keep it open; closing it releases the lock). ServeLocked names the
    holder when another process has it."""
    fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        raise ServeLocked(database, pid) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None
