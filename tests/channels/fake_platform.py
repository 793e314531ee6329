"""A local stand-in for FakeChat's send API: checks requests the way the
platform would, records them, and fails on demand."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.harness import free_port


@dataclass
class Failure:
    status: int
    description: str = "failed"
    retry_after: int | None = None


@dataclass
class FakePlatform:
    bot_token: str = "123456:fake-bot-token"
    received: list[dict[str, Any]] = field(default_factory=list)
    # Failures to answer, per chat: tests sharing the platform don't meet each other's.
    failures: dict[str, deque[Failure]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        ids = itertools.count(1000)

        async def send(request: Request) -> JSONResponse:
            if request.path_params["token"] != self.bot_token:
                return JSONResponse({"ok": False, "description": "Unauthorized"}, 401)
            body = await request.json()
            if not isinstance(body.get("chat_id"), str) or not isinstance(body.get("text"), str):
                return JSONResponse({"ok": False, "description": "chat_id and text needed"}, 400)
            pending = self.failures.get(body["chat_id"])
            if pending:
                failure = pending.popleft()
                headers = {"retry-after": str(failure.retry_after)} if failure.retry_after else {}
                return JSONResponse(
                    {"ok": False, "description": failure.description}, failure.status, headers
                )
            message_id = next(ids)
            self.received.append({**body, "message_id": message_id})
            return JSONResponse({"ok": True, "message_id": message_id})

        return Starlette(routes=[Route("/bot{token}/send", send, methods=["POST"])])

    def fail(self, chat_id: str, *failures: Failure) -> None:
        self.failures.setdefault(chat_id, deque()).extend(failures)

    async def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the platform got {len(self.received)} of {count} sends")
            await asyncio.sleep(0.05)
        return self.received


async def serve(platform: FakePlatform) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(platform.app(), host="127.0.0.1", port=platform.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return server, task
