"""History and live messages in the widget: all of them, once, in order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from playwright.async_api import BrowserContext, WebSocket, WebSocketRoute

from tests.browser.conftest import WIDGET_SOCKET, OpenShop, Outage, Reply
from tests.harness import Api


async def test_reload_shows_the_whole_history_once_in_order(shop: OpenShop, reply: Reply) -> None:
    widget = await shop()
    await widget.open()
    for body in ("one", "two", "three"):
        await widget.send(body)
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "an answer")
    await widget.send("four")
    await widget.shows_history(conversation_id)

    await widget.page.reload()
    history = await widget.shows_history(conversation_id)
    assert history == ["one", "two", "three", "an answer", "four"]
    await asyncio.sleep(1)
    assert await widget.lines() == history


async def test_replies_while_the_page_was_closed_show_once_in_order(
    shop: OpenShop, reply: Reply
) -> None:
    widget = await shop()
    await widget.open()
    await widget.send("hello")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "r1")
    await widget.shows_history(conversation_id)
    await widget.page.close()

    await reply(conversation_id, "r2")
    await reply(conversation_id, "r3")
    widget = await shop()
    await widget.shows_history(conversation_id)
    # And live again after the history.
    await reply(conversation_id, "r4")
    assert await widget.shows_history(conversation_id) == ["hello", "r1", "r2", "r3", "r4"]


async def test_reconnect_shows_what_was_missed_once_in_order(
    context: BrowserContext, shop: OpenShop, reply: Reply
) -> None:
    outage = await Outage.on(context, WIDGET_SOCKET)
    widget = await shop()
    await widget.open()
    await widget.send("hello")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "r1")
    await widget.shows_history(conversation_id)

    # The socket drops; the agent answers while the widget cannot connect.
    await outage.cut()
    await reply(conversation_id, "r2")
    await reply(conversation_id, "r3")
    outage.restore()
    await widget.shows_history(conversation_id)
    await reply(conversation_id, "r4")
    await widget.send("thanks")
    history = await widget.shows_history(conversation_id)
    assert history == ["hello", "r1", "r2", "r3", "r4", "thanks"]
    assert len(outage.sockets) >= 2


async def test_live_frame_ahead_of_the_history_is_shown_after_it(
    context: BrowserContext, shop: OpenShop, reply: Reply
) -> None:
    widget = await shop()
    await widget.open()
    await widget.send("hello")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "r1")
    await reply(conversation_id, "r2")
    await widget.shows_history(conversation_id)
    await widget.page.close()

    async def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        held: list[str | bytes] = []

        def from_server(message: str | bytes) -> None:
            kind = json.loads(message)["type"]
            if kind == "message":
                held.append(message)
                return
            if kind == "resumed" and held:
                # The newest message overtakes the replay, as a live frame
                # published during the resume would.
                ws.send(held[-1])
                for frame in held:
                    ws.send(frame)
                held.clear()
            ws.send(message)

        server.on_message(from_server)

    await context.route_web_socket(WIDGET_SOCKET, route)
    widget = await shop()
    history = await widget.shows_history(conversation_id)
    assert history == ["hello", "r1", "r2"]
    await asyncio.sleep(0.5)
    assert await widget.lines() == history


async def test_resume_waits_for_status_and_follows_its_conversation(
    context: BrowserContext, api: Api, shop: OpenShop, reply: Reply, agent: dict[str, Any]
) -> None:
    widget = await shop()
    await widget.open()
    await widget.send("first chat")
    first = await widget.conversation_id()
    await reply(first, "solved")
    await widget.shows_history(first)
    token = await widget.token()
    assert token
    await widget.page.close()

    # Resolved; then the customer writes from another tab: a new conversation.
    r = await api.http.post(
        f"/api/v1/conversations/{first}/resolve", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text
    async with api.widget(token) as other_tab:
        await other_tab.send({"type": "message", "client_id": "t-1", "body": "second chat"})
        second = int((await other_tab.expect("ack"))["conversation_id"])
    assert second != first
    await reply(second, "welcome back")

    frames: list[tuple[str, dict[str, Any]]] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda p: frames.append(("sent", json.loads(p))))
        ws.on("framereceived", lambda p: frames.append(("received", json.loads(p))))

    page = await context.new_page()
    page.on("websocket", watch)
    widget = await shop(page)
    assert await widget.shows_history(second) == ["second chat", "welcome back"]

    kinds = [(direction, frame["type"]) for direction, frame in frames]
    assert kinds.index(("received", "status")) < kinds.index(("sent", "resume")), kinds
    resume = next(f for d, f in frames if d == "sent" and f["type"] == "resume")
    assert resume == {"type": "resume", "conversation_id": second, "after_seq": 0}
