"""A real server process on a free port, and the clients that talk to it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.migrate import upgrade_to_head

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"
STARTUP_TIMEOUT = 60.0
FRAME_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_database_url() -> str | None:
    return os.environ.get("MADOGUCHI_TEST_DATABASE_URL") or None


async def fresh_postgres_database(base_url: str) -> str:
    """A new empty database on the test PostgreSQL server: one per server process."""
    import asyncpg

    parts = urlsplit(base_url.replace("postgresql+asyncpg", "postgresql"))
    name = f"madoguchi_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(base_url)._replace(path=f"/{name}"))


async def migrated_database(data_dir: Path) -> Database:
    """A migrated database of its own (SQLite in `data_dir`, or a fresh
    PostgreSQL database), for tests of the parts below the HTTP surface."""
    base = base_database_url()
    settings = Settings(
        data_dir=data_dir, database_url=await fresh_postgres_database(base) if base else None
    )
    # Alembic runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade_to_head, settings)
    return Database(settings, MemoryBus())


class Server:
    """`madoguchi serve` in a child process, as an operator runs it."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        database_url: str | None,
        *,
        smtp_port: int = 0,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        # 0: no SMTP listener, as most tests want.
        self.smtp_port = smtp_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.env = dict(os.environ)
        self.env.update(
            {
                "MADOGUCHI_PRESENCE_GRACE_SECONDS": "0",
                "MADOGUCHI_RATE_WIDGET_SESSIONS": "0",
                "MADOGUCHI_RATE_WIDGET_MESSAGES": "0",
                "MADOGUCHI_RATE_LOGIN": "0",
                # Mail senders are authenticated over DNS: a test's DNS is a
                # file of its own (tests/channels/email/fake_dns.py).
                "MADOGUCHI_DNS_RESOLVER": "tests.channels.email.fake_dns:FileResolver",
                "MADOGUCHI_TEST_DNS_FILE": str(data_dir / "dns.json"),
                # The IMAP tests' Dovecot listens on loopback, which inbox
                # configs may not name unless exempted (app/kit/network.py).
                "MADOGUCHI_IMAP_ALLOWED_HOSTS": "127.0.0.1",
            }
        )
        self.env.update(env)
        if database_url:
            self.env["MADOGUCHI_DATABASE_URL"] = database_url
        else:
            self.env.pop("MADOGUCHI_DATABASE_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args, "--data-dir", str(self.data_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--smtp-port",
                str(self.smtp_port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = self._spawn(log)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown hooks, no flush
        self.process.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


class Api:
    """HTTP helpers over one running server."""

    def __init__(self, server: Server, admin_token: str) -> None:
        self.server = server
        # Idle connections are dropped well before uvicorn closes them (5 s):
        # a request sent on one just as the server closes it fails with a
        # ReadError, a race of the test's client and no fault of the server.
        self.http = httpx.AsyncClient(
            base_url=server.url, timeout=30, limits=httpx.Limits(keepalive_expiry=2)
        )
        self.admin_token = admin_token

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}"}

    async def login(self, email: str, password: str) -> str:
        r = await self.http.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def create_agent(
        self,
        role: str = "agent",
        teams: list[str] | None = None,
        *,
        capacity: int = 5,
        skills: list[str] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        email = f"agent-{uuid.uuid4().hex[:10]}@example.com"
        r = await self.http.post(
            "/api/v1/agents",
            json={
                "email": email,
                "name": name or f"Agent {email[6:10]}",
                "password": "agent-password",
                "role": role,
                "capacity": capacity,
                "teams": teams or [],
                "skills": skills or [],
            },
            headers=self.auth(self.admin_token),
        )
        assert r.status_code == 201, r.text
        agent = dict(r.json())
        agent["token"] = await self.login(email, "agent-password")
        return agent

    async def create_inbox(
        self, config: dict[str, Any] | None = None, teams: list[str] | None = None
    ) -> dict[str, Any]:
        r = await self.http.post(
            "/api/v1/inboxes",
            json={
                "name": "Website",
                "channel": "web",
                "config": config or {},
                "teams": teams or [],
            },
            headers=self.auth(self.admin_token),
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def new_session(self, inbox: dict[str, Any], **extra: Any) -> dict[str, Any]:
        r = await self.http.post(
            "/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"], **extra}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def messages(
        self, conversation_id: int, token: str | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            r = await self.http.get(
                f"/api/v1/conversations/{conversation_id}/messages",
                params=params,
                headers=self.auth(token or self.admin_token),
            )
            assert r.status_code == 200, r.text
            page = r.json()
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items

    @asynccontextmanager
    async def _socket(self, path: str, token: str, **kwargs: Any) -> AsyncIterator[Socket]:
        async with websockets.connect(f"{self.server.ws_url}{path}?token={token}", **kwargs) as ws:
            yield Socket(ws)

    def widget(self, session_token: str, **kwargs: Any) -> AbstractAsyncContextManager[Socket]:
        return self._socket("/ws/widget", session_token, **kwargs)

    def agent_socket(self, token: str, **kwargs: Any) -> AbstractAsyncContextManager[Socket]:
        return self._socket("/ws/agent", token, **kwargs)


class Socket:
    """A client socket that reads frames of a wanted type, keeping the others."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def next(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(frame)
        return dict(frame)

    async def expect(
        self, type_: str, timeout: float = FRAME_TIMEOUT, **match: Any
    ) -> dict[str, Any]:
        """The next frame of this type (and these field values), skipping others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {type_} frame matching {match}; saw {self.seen[-5:]}")
            frame = await self.next(left)
            if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def expect_for(
        self, type_: str, conversation_id: int, timeout: float = FRAME_TIMEOUT, **match: Any
    ) -> dict[str, Any]:
        """The next frame of this type about this conversation (`conversation_id`
        or `conversation.id`), skipping others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(
                    f"no {type_} frame of conversation {conversation_id} matching {match};"
                    f" saw {self.seen[-5:]}"
                )
            frame = await self.next(left)
            about = frame.get("conversation_id") or (frame.get("conversation") or {}).get("id")
            if (
                frame.get("type") == type_
                and about == conversation_id
                and all(frame.get(k) == v for k, v in match.items())
            ):
                return frame

    async def quiet(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """Every frame that arrives within `seconds`."""
        frames = []
        try:
            while True:
                frames.append(await self.next(seconds))
        except TimeoutError:
            return frames
