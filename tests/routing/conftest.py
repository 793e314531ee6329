from __future__ import annotations

import pytest

from tests.conftest import StartServer
from tests.harness import Api


@pytest.fixture(scope="package")
async def api(start_package_server: StartServer) -> Api:
    """One server for the routing tests. Each test keeps to its own team: its
    inboxes name that team and its agents belong to it alone, so no other
    test's agents serve its customers (an inbox without teams is everyone's).
    A short grace period: an agent who leaves is offline a second later. A
    deep socket queue: one test client reads every agent's frames of a rush of
    200 customers, and on a loaded machine it falls behind; closing a slow
    reader with 1013 is tests/realtime/test_slow_consumer.py's subject."""
    return await start_package_server(
        {"MADOGUCHI_PRESENCE_GRACE_SECONDS": "1", "MADOGUCHI_WS_MAX_QUEUED_FRAMES": "100000"}
    )
