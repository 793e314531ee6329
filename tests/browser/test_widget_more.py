"""The widget's last pieces: earlier conversations, read-only; the owner's look
from the inbox settings with the script tag's data- attributes over it; and
the page the shopper is on, told to the agents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import BrowserContext, WebSocket, expect

from tests.browser.conftest import OpenShop, Reply, eventually
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_widget_look import custom_shop
from tests.harness import Api


async def test_previous_conversations_are_listed_and_open_read_only(
    shop: OpenShop, api: Api, agent: dict[str, Any], reply: Reply
) -> None:
    widget = await shop()
    page = widget.page
    await widget.open()
    await widget.send("Where is my order 1234?")
    first = await widget.conversation_id()
    await reply(first, "It ships today.")
    earlier = await widget.shows_history(first)
    link = page.get_by_role("button", name="Previous conversations")
    # One conversation: nothing earlier to list.
    await expect(link).to_be_hidden()
    r = await api.http.post(
        f"/api/v1/conversations/{first}/resolve", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text

    await widget.send("A new question")
    assert await widget.conversation_id() != first
    await expect(link).to_be_visible()
    await link.click()

    items = page.locator('[data-madoguchi-part="past-item"]')
    await expect(items).to_have_count(1)
    await expect(items).to_contain_text("Resolved")
    # Its first line: the customer's question.
    await expect(items.locator('[data-madoguchi-part="past-first"]')).to_have_text(
        "Where is my order 1234?"
    )
    # Read-only: no composer while looking back.
    await expect(page.get_by_label("Message")).to_be_hidden()
    await assert_accessible(page, "the widget's previous conversations")
    await items.click()
    bodies = page.locator('[data-madoguchi-part="past-message"] [data-madoguchi-part="body"]')
    await expect(bodies).to_have_text(earlier)
    await expect(page.get_by_label("Message")).to_be_hidden()
    await assert_accessible(page, "an earlier conversation in the widget")

    back = page.get_by_role("button", name="Back")
    await back.click()
    await expect(items).to_have_count(1)
    await expect(bodies).to_have_count(0)
    await back.click()
    await expect(page.get_by_label("Message")).to_be_visible()
    await expect(link).to_be_focused()
    assert (await widget.lines())[-1] == "A new question"


async def _set_look(api: Api, inbox: dict[str, Any], look: dict[str, Any]) -> None:
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/appearance",
        json=look,
        headers=api.auth(api.admin_token),
    )
    if r.status_code in (404, 405):
        pytest.skip("this server has no inbox appearance yet")
    assert r.status_code == 200, r.text


async def test_the_owners_look_from_the_inbox_and_data_attributes_over_it(
    context: BrowserContext, shop: OpenShop, api: Api, inbox: dict[str, Any]
) -> None:
    await _set_look(
        api,
        inbox,
        {
            "color": "#0B6E4F",
            "position": "left",
            "offset": 32,
            "launcher_text": "Questions?",
            "greeting": "Hello from the shop",
        },
    )
    widget = await shop()
    # The session's answer comes after the launcher is drawn: it is redrawn.
    await expect(widget.launcher).to_have_text("Questions?")
    colour = await widget.launcher.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(11, 110, 79)"
    box = await widget.launcher.bounding_box()
    assert box is not None
    assert box["x"] == 32
    await widget.open()
    await expect(widget.page.locator('[data-madoguchi-part="welcome"]')).to_have_text(
        "Hello from the shop"
    )

    # The script tag's data- attributes win over the inbox's settings.
    page = await context.new_page()
    other = await custom_shop(
        shop,
        page,
        {"launcher-text": "Ask us"},
        color="#0a6b3d",
        position="right",
        offset="0",
        greeting="Welcome!",
    )
    await expect(other.page.locator('[data-madoguchi-part="welcome"]')).to_have_text("Welcome!")
    await expect(other.launcher).to_have_text("Ask us")
    colour = await other.launcher.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(10, 107, 61)"
    box = await other.launcher.bounding_box()
    width = await page.evaluate("() => document.documentElement.clientWidth")
    assert box is not None
    assert box["x"] + box["width"] == pytest.approx(width, abs=1)


async def test_the_page_the_shopper_is_on_reaches_the_server(
    context: BrowserContext, shop: OpenShop
) -> None:
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda p: sent.append(json.loads(p)))
        ws.on("framereceived", lambda p: received.append(json.loads(p)))

    page = await context.new_page()
    page.on("websocket", watch)
    widget = await shop(page)

    def contexts() -> list[dict[str, Any]]:
        return [f for f in sent if f["type"] == "context"]

    async def told(count: int) -> bool:
        return len(contexts()) >= count

    await eventually(lambda: told(1), "a context frame")
    browser = await page.evaluate(
        "() => [navigator.language, Intl.DateTimeFormat().resolvedOptions().timeZone]"
    )
    assert contexts()[0] == {
        "type": "context",
        "page_url": page.url,
        "page_title": "A shop",
        "language": browser[0],
        "time_zone": browser[1],
    }

    # A single-page shop moves on without a page load: the agents hear of it.
    await page.evaluate(
        "() => { history.pushState({}, '', '/products/42?colour=green');"
        " document.title = 'Green shirt'; }"
    )
    await eventually(lambda: told(2), "a second context frame")
    assert contexts()[1]["page_url"].endswith("/products/42?colour=green")
    assert contexts()[1]["page_title"] == "Green shirt"

    # An older server refuses the frame with an error: the shopper sees nothing
    # of it, and chats on over the same socket.
    await widget.open()
    await widget.send("Is it in stock?")
    await expect(widget.status).not_to_contain_text("unavailable")
    await expect(widget.page.locator('[data-madoguchi-part="connection"]')).to_be_hidden()
    assert widget.dialogs == []
    assert [f for f in received if f["type"] == "error" and f.get("client_id")] == []
