"""One server for the customers tests: SMTP in, a real SMTP relay out (the
sink), social platforms at the fake, a public URL for chat links, and a short
follow-up delay for widget replies nobody read."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from aiosmtpd.smtp import SMTP

from tests.channels.email.conftest import Sink
from tests.channels.social.conftest import PUBLIC_URL
from tests.channels.social.fake_platforms import FakePlatforms
from tests.conftest import StartServer
from tests.harness import Api

FOLLOW_UP_SECONDS = 1.5


def identity_hash(secret: str, external_id: str) -> str:
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="session")
async def relay() -> AsyncIterator[Sink]:
    loop = asyncio.get_running_loop()
    keeper = Sink()
    server = await loop.create_server(
        lambda: SMTP(keeper, hostname="relay.test", loop=loop), "127.0.0.1", 0
    )
    keeper.port = int(server.sockets[0].getsockname()[1])
    yield keeper
    server.close()


@pytest.fixture(scope="session")
async def fake_platforms() -> AsyncIterator[FakePlatforms]:
    fake = FakePlatforms()
    server = uvicorn.Server(
        uvicorn.Config(fake.app(), host="127.0.0.1", port=fake.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield fake
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def capi(
    start_session_server: StartServer, relay: Sink, fake_platforms: FakePlatforms
) -> Api:
    return await start_session_server(
        {
            "MADOGUCHI_SMTP_RELAY": f"smtp://127.0.0.1:{relay.port}",
            "MADOGUCHI_TELEGRAM_API_BASE": fake_platforms.url,
            "MADOGUCHI_LINE_API_BASE": fake_platforms.url,
            "MADOGUCHI_GRAPH_API_BASE": f"{fake_platforms.url}/v21.0",
            "MADOGUCHI_PUBLIC_URL": PUBLIC_URL,
            "MADOGUCHI_WIDGET_EMAIL_FOLLOW_UP_SECONDS": str(FOLLOW_UP_SECONDS),
            "MADOGUCHI_WORKER_POLL_SECONDS": "0.2",
        },
        smtp=True,
    )


async def get(api: Api, path: str, token: str | None = None, **params: Any) -> Any:
    r = await api.http.get(path, params=params, headers=api.auth(token or api.admin_token))
    assert r.status_code == 200, r.text
    return r.json()


async def post(api: Api, path: str, body: Any = None, token: str | None = None) -> Any:
    r = await api.http.post(path, json=body, headers=api.auth(token or api.admin_token))
    assert r.status_code in (200, 201), r.text
    return r.json()


async def timeline(api: Api, customer_id: int, token: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await get(api, f"/api/v1/customers/{customer_id}/timeline", token, **params)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def wait_until(check: Any, timeout: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)
