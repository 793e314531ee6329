"""One of the processes of the job test: polls the jobs table with the real
Worker for a while and writes down each job it ran (run as a script)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.worker.runner import Worker

KIND = "test.record"


class Record:
    def __init__(self, out: Path) -> None:
        self.out = out

    async def run(self, payload: dict[str, Any]) -> None:
        # O_APPEND: each line lands whole, whichever process writes it.
        fd = os.open(self.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{payload['n']} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
        await asyncio.sleep(0.01)

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        return None


async def main(database_url: str, out: Path, seconds: float) -> None:
    db = Database(Settings(database_url=database_url), MemoryBus())
    worker = Worker(db, {KIND: Record(out)}, poll_seconds=0.05)
    await worker.start()
    await asyncio.sleep(seconds)
    await worker.stop()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])))
