"""Connection ids are unique across the processes that share one bus."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
from app.realtime.connection import Connection
print(Connection(None).id)  # type: ignore[arg-type]
"""


def test_two_processes_never_hand_out_the_same_connection_id() -> None:
    ids = [
        subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert ids[0] != ids[1]
    assert all(ids)
