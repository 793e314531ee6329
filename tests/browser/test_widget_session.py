"""A session token the server no longer takes: one new session, not a loop."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import BrowserContext, Route, WebSocket, WebSocketRoute, expect

from tests.browser.conftest import WIDGET_SOCKET, OpenShop
from tests.harness import Api


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def test_refused_handshake_gets_one_new_session(
    context: BrowserContext, api: Api, shop: OpenShop
) -> None:
    # The first session answer carries a token the server does not know, as
    # when a session is revoked between the answer and the connect.
    revoked = "revoked-session-token"
    answered = 0

    async def sessions(route: Route) -> None:
        nonlocal answered
        if route.request.method != "POST" or answered:
            await route.fallback()
            return
        answered += 1
        response = await route.fetch()
        body = await response.json()
        body["session_token"] = revoked
        await route.fulfill(response=response, body=json.dumps(body))

    await context.route(f"{api.server.url}/api/v1/widget/sessions", sessions)
    sockets: list[WebSocket] = []
    page = await context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws))
    widget = await shop(page)
    await widget.open()
    await widget.send("are you there?")

    token = await widget.token()
    assert token
    assert token != revoked
    assert [token_of(ws.url) for ws in sockets] == [revoked, token]
    await asyncio.sleep(2)
    assert len(sockets) == 2


async def test_unknown_stored_token_gets_a_working_chat(
    context: BrowserContext, shop: OpenShop
) -> None:
    sockets: list[WebSocket] = []
    page = await context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws))
    widget = await shop(page)
    await page.evaluate(
        "key => localStorage.setItem('madoguchi:' + key, JSON.stringify({token: 'bogus'}))",
        widget.key,
    )
    await page.reload()
    await widget.open()
    await widget.send("hello after tampering")
    assert await widget.token() not in (None, "bogus")
    assert len(sockets) <= 3


async def test_close_with_1008_drops_the_token_for_a_new_session(
    context: BrowserContext, shop: OpenShop
) -> None:
    revoked: list[str] = []
    tokens: list[str] = []

    async def route(ws: WebSocketRoute) -> None:
        token = token_of(ws.url)
        tokens.append(token)
        if not revoked:
            revoked.append(token)
        if token in revoked:
            await ws.close(code=1008, reason="invalid session token")
            return
        ws.connect_to_server()

    await context.route_web_socket(WIDGET_SOCKET, route)
    widget = await shop()
    await widget.open()
    await widget.send("still here")
    token = await widget.token()
    assert token
    assert token not in revoked
    await asyncio.sleep(2)
    assert tokens == [revoked[0], token]


async def test_chat_is_unavailable_when_a_new_session_is_refused_too(
    context: BrowserContext, shop: OpenShop
) -> None:
    tokens: list[str] = []

    async def route(ws: WebSocketRoute) -> None:
        tokens.append(token_of(ws.url))
        await ws.close(code=1008, reason="invalid session token")

    await context.route_web_socket(WIDGET_SOCKET, route)
    widget = await shop()
    await widget.open()
    await expect(widget.status).to_have_text("Chat is unavailable right now.")
    await asyncio.sleep(3)
    # One refusal of the old token, one of the new one, then no more tries.
    assert len(tokens) == 2
    assert tokens[0] != tokens[1]


async def test_chat_is_unavailable_when_the_server_refuses_every_session(
    context: BrowserContext, api: Api, shop: OpenShop
) -> None:
    # Every session answer carries a token the socket then refuses (HTTP 403).
    answered = 0

    async def sessions(route: Route) -> None:
        nonlocal answered
        if route.request.method != "POST":
            await route.fallback()
            return
        answered += 1
        response = await route.fetch()
        body = await response.json()
        body["session_token"] = f"refused-{answered}"
        await route.fulfill(response=response, body=json.dumps(body))

    await context.route(f"{api.server.url}/api/v1/widget/sessions", sessions)
    sockets: list[WebSocket] = []
    page = await context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws))
    widget = await shop(page)
    await widget.open()
    await expect(widget.status).to_have_text("Chat is unavailable right now.")
    await asyncio.sleep(3)
    assert [token_of(ws.url) for ws in sockets] == ["refused-1", "refused-2"]
    assert answered == 3
