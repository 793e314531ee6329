"""The bare baseline: a chat "echo" server with no framework, no store, no auth.

It speaks just enough of Madoguchi's WebSocket contract for the benchmark
clients to run unchanged:

- `GET /healthz` answers 200.
- `WS /ws/widget?token=c<index>:<agent>`: on connect it sends an
  `availability` and a `status` frame (as Madoguchi does); each
  `{"type": "message", "client_id", "body"}` is answered with
  `{"type": "ack", "client_id", "id", "seq"}` and forwarded to agent
  socket `<agent>` as `{"type": "message.created", "conversation_id",
  "message": {...}}`.
- `WS /ws/agent?token=a<index>`: registers agent socket `<index>`.

Two implementations, so the baseline can match the stack being measured:
`--impl websockets` (the library's own asyncio server) and `--impl uvicorn`
(a raw ASGI app on uvicorn, whose WebSocket protocol is the same one a
FastAPI/Starlette app gets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
SendText = Callable[[str], Awaitable[None]]

AVAILABILITY = json.dumps({"type": "availability", "open": True, "next_open_at": None})
STATUS = json.dumps({"type": "status", "conversation_status": "open"})


class ChatState:
    """Agent sockets by index, and the id counter shared by every message."""

    def __init__(self) -> None:
        self.agents: dict[int, SendText] = {}
        self.next_id = 0

    async def on_widget_open(self, send: SendText) -> None:
        await send(AVAILABILITY)
        await send(STATUS)

    async def on_widget_text(
        self, text: str, customer: int, agent: int, seq: list[int], send: SendText
    ) -> None:
        frame = json.loads(text)
        if frame.get("type") != "message":
            return
        self.next_id += 1
        seq[0] += 1
        message_id, number = self.next_id, seq[0]
        client_id = frame.get("client_id")
        await send(
            json.dumps({"type": "ack", "client_id": client_id, "id": message_id, "seq": number})
        )
        target = self.agents.get(agent)
        if target is None:
            return
        await target(
            json.dumps(
                {
                    "type": "message.created",
                    "conversation_id": customer,
                    "message": {
                        "id": message_id,
                        "conversation_id": customer,
                        "seq": number,
                        "client_id": client_id,
                        "author": {"kind": "customer", "name": f"Customer {customer}"},
                        "body": frame.get("body", ""),
                        "created_at": datetime.now(UTC).isoformat(),
                    },
                }
            )
        )


def parse_target(path: str) -> tuple[str, int, int] | None:
    """('widget', customer, agent) or ('agent', index, index) from the request path."""
    parts = urlsplit(path)
    token = parse_qs(parts.query).get("token", [""])[0]
    try:
        if parts.path == "/ws/widget" and token.startswith("c"):
            customer, agent = token[1:].split(":")
            return "widget", int(customer), int(agent)
        if parts.path == "/ws/agent" and token.startswith("a"):
            return "agent", int(token[1:]), int(token[1:])
    except ValueError:
        return None
    return None


# --------------------------------------------------------------------------
# --impl websockets


async def serve_websockets(port: int, stop: asyncio.Event) -> None:
    from websockets.asyncio.server import ServerConnection, serve  # noqa: PLC0415
    from websockets.datastructures import Headers  # noqa: PLC0415
    from websockets.http11 import Request, Response  # noqa: PLC0415

    state = ChatState()

    def health(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return Response(
                200, "OK", Headers({"Content-Type": "application/json"}), b'{"status": "ok"}'
            )
        if parse_target(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        target = parse_target(ws.request.path if ws.request else "")
        if target is None:
            return
        kind, first, second = target
        if kind == "agent":
            state.agents[first] = ws.send
            try:
                await ws.wait_closed()
            finally:
                state.agents.pop(first, None)
            return
        await state.on_widget_open(ws.send)
        seq = [0]
        async for text in ws:
            await state.on_widget_text(str(text), first, second, seq, ws.send)

    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        process_request=health,
        backlog=4096,
        max_size=64 * 1024,
    ):
        await stop.wait()


# --------------------------------------------------------------------------
# --impl uvicorn


def make_asgi_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    state = ChatState()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            ok = scope["path"] == "/healthz"
            await send(
                {
                    "type": "http.response.start",
                    "status": 200 if ok else 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"status": "ok"}'})
            return
        if scope["type"] != "websocket":
            return
        query = scope.get("query_string", b"").decode()
        target = parse_target(f"{scope['path']}?{query}")
        if (await receive())["type"] != "websocket.connect":
            return
        if target is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})

        async def send_text(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        kind, first, second = target
        if kind == "agent":
            state.agents[first] = send_text
        else:
            await state.on_widget_open(send_text)
        seq = [0]
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if kind == "widget" and text is not None:
                    await state.on_widget_text(text, first, second, seq, send_text)
        finally:
            if kind == "agent":
                state.agents.pop(first, None)

    return app


def run_uvicorn(port: int, ws: str) -> None:
    import uvicorn  # noqa: PLC0415

    uvicorn.run(
        make_asgi_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
        backlog=4096,
        ws=ws,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("websockets", "uvicorn"), default="websockets")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--agents", type=int, default=0, help="unused; for symmetry")
    parser.add_argument(
        "--uvicorn-ws",
        default=os.environ.get("BENCH_UVICORN_WS", "auto"),
        help="uvicorn's WebSocket protocol: auto, websockets, websockets-sansio",
    )
    args = parser.parse_args()
    if args.impl == "uvicorn":
        run_uvicorn(args.port, args.uvicorn_ws)
        return
    try:
        import uvloop  # noqa: PLC0415

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_websockets(args.port, stop)

    runner(run())


if __name__ == "__main__":
    main()
