from __future__ import annotations

import pytest

from tests.conftest import StartServer
from tests.harness import Api


@pytest.fixture(scope="package")
async def api(start_server: StartServer) -> Api:
    """One server for the routing tests. Each test keeps to its own team: its
    inboxes name that team and its agents belong to it alone, so no other
    test's agents serve its customers (an inbox without teams is everyone's).
    A short grace period: an agent who leaves is offline a second later."""
    return await start_server({"MADOGUCHI_PRESENCE_GRACE_SECONDS": "1"})
