"""A thin ASGI dispatcher that serves the WebSocket endpoints (and the platforms'
webhooks) ahead of FastAPI.

The sockets need no dependency injection or HTTP middleware, and FastAPI's
WebSocket route costs every connection its exit stacks, a copied scope and
several wrapped `send` callables: measured, about a quarter of an idle
socket's memory, and a layer of calls on every frame sent. Webhooks, posted
by the thousand per second, likewise need none of it (app/conversations/webhooks.py).
Everything that is not one of these paths goes to FastAPI unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from app.runtime import Runtime

SocketHandler = Callable[[WebSocket, Runtime, str], Awaitable[None]]
HttpHandler = Callable[[Scope, Receive, Send, Runtime], Awaitable[None]]


class SocketDispatcher:
    def __init__(
        self,
        app: ASGIApp,
        runtime: Callable[[], Runtime],
        routes: dict[str, SocketHandler],
        http_prefixes: dict[str, HttpHandler] | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = routes
        self.http_prefixes = tuple((http_prefixes or {}).items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                ws = WebSocket(scope, receive, send)
                await handler(ws, self.runtime(), _token(scope))
                return
        elif scope["type"] == "http":
            for prefix, http_handler in self.http_prefixes:
                if scope["path"].startswith(prefix):
                    await http_handler(scope, receive, send, self.runtime())
                    return
        await self.app(scope, receive, send)


def _token(scope: Scope) -> str:
    """The `token` query parameter, read without `WebSocket.query_params`,
    which would keep a parsed copy of the query on every idle socket."""
    query: str = scope.get("query_string", b"").decode("latin-1")
    # The last one wins, as in Starlette's QueryParams.
    return dict(parse_qsl(query, keep_blank_values=True)).get("token", "")


def origin_of(ws: WebSocket) -> str | None:
    """The handshake's Origin header, read without `WebSocket.headers`, which
    would keep a parsed copy of the headers on every idle socket."""
    return _handshake_header(ws, b"origin")


def host_of(ws: WebSocket) -> str | None:
    """The handshake's Host header (as origin_of)."""
    return _handshake_header(ws, b"host")


def _handshake_header(ws: WebSocket, wanted: bytes) -> str | None:
    for name, value in ws.scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None
