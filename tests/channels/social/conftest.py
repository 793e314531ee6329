from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from tests.channels.social.fake_platforms import FakePlatforms
from tests.channels.social.payloads import encode, signed_headers, unique
from tests.conftest import StartServer
from tests.harness import Api

PUBLIC_URL = "https://help.shop.example"


@pytest.fixture(scope="session")
async def platforms() -> AsyncIterator[FakePlatforms]:
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


def server_env(platforms: FakePlatforms) -> dict[str, str]:
    """Every platform's API base pointed at the fake. The worker polls once a
    minute: a reply that leaves at once shows it was woken by its commit."""
    return {
        "MADOGUCHI_TELEGRAM_API_BASE": platforms.url,
        "MADOGUCHI_LINE_API_BASE": platforms.url,
        "MADOGUCHI_GRAPH_API_BASE": f"{platforms.url}/v21.0",
        "MADOGUCHI_PUBLIC_URL": PUBLIC_URL,
        "MADOGUCHI_WORKER_POLL_SECONDS": "60",
    }


@pytest.fixture(scope="session")
async def social_api(start_session_server: StartServer, platforms: FakePlatforms) -> Api:
    return await start_session_server(server_env(platforms))


@dataclass
class Inbox:
    """An inbox on one platform, its config, and how to post to its webhook."""

    api: Api
    id: int
    channel: str
    config: dict[str, Any]

    @property
    def slug(self) -> str:
        return self.channel if self.channel in ("telegram", "line") else "meta"

    @property
    def url(self) -> str:
        return f"/webhooks/{self.slug}/{self.id}"

    @property
    def token(self) -> str:
        """The credential its sends carry, to find them at the fake."""
        for key in ("bot_token", "channel_access_token", "page_access_token", "access_token"):
            if key in self.config:
                return str(self.config[key])
        raise KeyError("no send credential")

    async def post(
        self, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Posts the payload signed as the platform signs it (or with `headers`)."""
        body = payload if isinstance(payload, bytes) else encode(payload)
        return await self.api.http.post(
            self.url,
            content=body,
            headers=headers or signed_headers(self.channel, self.config, body),
        )

    async def conversations(self, status: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"inbox_id": self.id, "limit": 200}
        if status:
            params["status"] = status
        r = await self.api.http.get(
            "/api/v1/conversations", params=params, headers=self.api.auth(self.api.admin_token)
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def only_conversation(self, status: str | None = None) -> dict[str, Any]:
        (conversation,) = await self.conversations(status)
        return conversation


def default_config(channel: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:12]
    if channel == "telegram":
        return {"bot_token": f"{unique()}:AAH-{tag}", "secret_token": f"tg-secret-{tag}"}
    if channel == "line":
        return {"channel_secret": f"line-secret-{tag}", "channel_access_token": f"line-token-{tag}"}
    if channel in ("messenger", "instagram"):
        return {
            "page_id": str(unique()),
            "app_secret": f"app-secret-{tag}",
            "verify_token": f"verify-{tag}",
            "page_access_token": f"EAAG-page-{tag}",
        }
    if channel == "whatsapp":
        return {
            "phone_number_id": str(unique()),
            "app_secret": f"app-secret-{tag}",
            "verify_token": f"verify-{tag}",
            "access_token": f"EAAG-wa-{tag}",
        }
    raise ValueError(channel)


async def create_inbox(
    api: Api, platforms: FakePlatforms, channel: str, *, mode: str = "live", **config: Any
) -> Inbox:
    full = {**default_config(channel), **config}
    if channel == "telegram":
        platforms.telegram_tokens.add(full["bot_token"])
    elif channel == "line":
        platforms.line_tokens.add(full["channel_access_token"])
    elif channel == "whatsapp":
        platforms.graph_tokens[full["access_token"]] = full["phone_number_id"]
    else:
        platforms.graph_tokens[full["page_access_token"]] = None
    r = await api.http.post(
        "/api/v1/inboxes",
        json={"name": f"{channel} inbox", "channel": channel, "mode": mode, "config": full},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    return Inbox(api, int(r.json()["id"]), channel, full)


@pytest.fixture
def new_inbox(social_api: Api, platforms: FakePlatforms) -> Any:
    async def make(channel: str, *, mode: str = "live", **config: Any) -> Inbox:
        return await create_inbox(social_api, platforms, channel, mode=mode, **config)

    return make


async def reply(
    api: Api, conversation_id: int, body: str, token: str | None = None
) -> httpx.Response:
    return await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": body},
        headers=api.auth(token or api.admin_token),
    )


async def message(api: Api, conversation_id: int, message_id: int) -> dict[str, Any]:
    return next(m for m in await api.messages(conversation_id) if m["id"] == message_id)


async def settled(
    api: Api, conversation_id: int, message_id: int, timeout: float = 20
) -> dict[str, Any]:
    """The message once its delivery is no longer pending."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await message(api, conversation_id, message_id)
        if found.get("delivery_status") != "pending":
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"message {message_id} still pending")
        await asyncio.sleep(0.1)
