from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.channels.fake_channel import sign
from tests.channels.fake_platform import FakePlatform, serve
from tests.conftest import StartServer
from tests.harness import Api

SECRET = "fakechat-signing-secret"
_event_ids = itertools.count(1)


@pytest.fixture(scope="session")
async def platform() -> AsyncIterator[FakePlatform]:
    fake = FakePlatform()
    server, task = await serve(fake)
    yield fake
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def channel_api(start_session_server: StartServer, platform: FakePlatform) -> Api:
    """A server with the FakeChat plug-in. The worker polls only once a minute,
    so a reply that leaves at once shows the worker was woken by its commit."""
    return await start_session_server(
        {
            "MADOGUCHI_CHANNEL_PLUGINS": "tests.channels.fake_channel:FakeChat",
            "MADOGUCHI_WORKER_POLL_SECONDS": "60",
        }
    )


@pytest.fixture
async def fake_inbox(channel_api: Api, platform: FakePlatform) -> dict[str, Any]:
    platform.received.clear()
    platform.failures.clear()
    r = await channel_api.http.post(
        "/api/v1/inboxes",
        json={
            "name": "FakeChat",
            "channel": "fakechat",
            "config": {"secret": SECRET, "bot_token": platform.bot_token, "api_base": platform.url},
        },
        headers=channel_api.auth(channel_api.admin_token),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def message_event(
    user_id: str, text: str, *, event_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "message",
        "id": event_id or f"evt-{next(_event_ids)}-{uuid.uuid4().hex[:6]}",
        "user": {"id": user_id, "name": f"User {user_id}"},
        "text": text,
        "ts": int(time.time()),
        **extra,
    }


def webhook_body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events)}, ensure_ascii=False).encode()


async def post_webhook(
    api: Api, inbox: dict[str, Any], body: bytes, *, signature: str | None = None
) -> httpx.Response:
    return await api.http.post(
        f"/webhooks/fakechat/{inbox['id']}",
        content=body,
        headers={
            "content-type": "application/json",
            "x-fake-signature": sign(SECRET, body) if signature is None else signature,
        },
    )


async def conversations_of(api: Api, inbox: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"inbox_id": inbox["id"], "limit": 200}
    while True:
        r = await api.http.get(
            "/api/v1/conversations", params=params, headers=api.auth(api.admin_token)
        )
        assert r.status_code == 200, r.text
        items.extend(r.json()["items"])
        if not r.json()["next_cursor"]:
            return items
        params["cursor"] = r.json()["next_cursor"]
