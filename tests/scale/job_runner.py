"""One of the processes of the job test: polls the jobs table with the real
Worker until every job has run and writes down each job it ran (run as a
script). The processes start polling together, at the test's signal, so a
process slow to import under load still takes part."""

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


def lines_in(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


async def main(database_url: str, out: Path, jobs: int) -> None:
    db = Database(Settings(database_url=database_url), MemoryBus())
    worker = Worker(db, {KIND: Record(out)}, poll_seconds=0.05)
    (out.parent / f"ready-{os.getpid()}").touch()
    go = out.parent / "go"
    for _ in range(1200):  # the test gives the signal once all are ready
        if go.exists():
            break
        await asyncio.sleep(0.05)
    await worker.start()
    for _ in range(1200):
        if lines_in(out) >= jobs:
            break
        await asyncio.sleep(0.05)
    await worker.stop()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
