"""How the widget looks and speaks: the away time as the server words it,
no "away" beside an agent who answers, an owner's data- attributes, avatars,
dates, automatic messages without italics, and controls a customer can see
and hit."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, WebSocketRoute, expect

from tests.browser.conftest import WIDGET_SOCKET, OpenShop, Reply, Widget
from tests.harness import Api

AUTOMATIC = "[auto] We are closed today"


async def custom_shop(
    shop: OpenShop, page: Page, attributes: dict[str, str], **plain: str
) -> Widget:
    """The shop's page with the widget's data- attributes an owner writes.
    The shop page takes plain names as query parameters; a hyphenated one is
    written on the script tag as the page parses it, before the script runs."""
    await page.add_init_script(
        "(attrs => new MutationObserver((_, watch) => {"
        " const tag = document.querySelector('script[data-key]');"
        " if (!tag) return;"
        " for (const [k, v] of Object.entries(attrs)) tag.setAttribute('data-' + k, v);"
        " watch.disconnect();"
        f" }}).observe(document, {{childList: true, subtree: true}}))({json.dumps(attributes)})"
    )
    return await shop(page, **plain)


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    def luminance(rgb: tuple[int, ...]) -> float:
        def channel(c: int) -> float:
            s = c / 255
            return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

        r, g, bl = (channel(c) for c in rgb[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * bl

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def rgb(css: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", css)[:3])


async def test_away_says_the_servers_words_and_gives_way_to_the_agent(
    context: BrowserContext, shop: OpenShop, api: Api, agent: dict[str, Any]
) -> None:
    routes: list[WebSocketRoute] = []

    async def route(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        routes.append(ws)

    await context.route_web_socket(WIDGET_SOCKET, route)
    widget = await shop()
    page = widget.page
    await widget.open()
    await widget.send("Are you open tomorrow?")
    conversation_id = await widget.conversation_id()
    availability = page.locator('[data-madoguchi-part="availability"]')
    back = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    routes[-1].send(
        json.dumps(
            {
                "type": "availability",
                "open": False,
                "next_open_at": back,
                "next_open_text": "Tuesday 8 December, 09:00 (JST)",
                "time_zone": "Asia/Tokyo",
            }
        )
    )
    await expect(availability).to_have_text("We are away, back Tuesday 8 December, 09:00 (JST)")
    # Without the server's words: the inbox's zone, named.
    routes[-1].send(
        json.dumps(
            {"type": "availability", "open": False, "next_open_at": back, "time_zone": "Asia/Tokyo"}
        )
    )
    await expect(availability).to_have_text(re.compile(r"^We are away, back .+(GMT\+9|JST)$"))
    await expect(widget.status).not_to_contain_text("here to help")

    # An agent takes the chat while the shop is closed: the agent line wins.
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/assign",
        json={"agent_id": agent["id"]},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    await expect(widget.status).to_have_text(f"{agent['name']} is here to help")
    await expect(availability).to_be_hidden()


async def test_an_owners_attributes_and_what_the_messages_show(
    context: BrowserContext, shop: OpenShop, agent: dict[str, Any], reply: Reply
) -> None:
    # Played as the server sends them on a later day: the first message two
    # days old, an automatic message as the responders write it.
    old = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    first_id: list[int] = []

    async def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "message":
                if frame["seq"] == 1 or frame["id"] in first_id:
                    first_id.append(frame["id"])
                    frame["created_at"] = old
                if frame["body"] == AUTOMATIC:
                    frame["author"] = {"kind": "system", "name": "A shop"}
            ws.send(json.dumps(frame))

        server.on_message(from_server)

    await context.route_web_socket(WIDGET_SOCKET, route)
    widget = await custom_shop(
        shop,
        await context.new_page(),
        {"launcher-text": "Ask us"},
        color="#0a6b3d",
        position="left",
        offset="40",
        greeting="Welcome to the shop!",
    )
    page = widget.page
    await expect(widget.launcher).to_have_text("Ask us")
    colour = await widget.launcher.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(10, 107, 61)"
    box = await widget.launcher.bounding_box()
    assert box is not None
    assert box["x"] == 40

    await widget.open()
    await expect(page.locator('[data-madoguchi-part="welcome"]')).to_have_text(
        "Welcome to the shop!"
    )
    await widget.send("Do you have it in green?")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "Yes, size M and L 😀")
    await reply(conversation_id, AUTOMATIC)
    await widget.shows_history(conversation_id)
    answer = page.locator('[data-madoguchi-part="message"][data-author=agent]')
    words = agent["name"].split()
    await expect(answer.locator('[data-madoguchi-part="avatar"]')).to_have_text(
        (words[0][0] + words[-1][0]).upper()
    )
    automatic = page.locator('[data-madoguchi-part="message"][data-author=system]')
    await expect(automatic.locator('[data-madoguchi-part="author"]')).to_have_text(
        "Automatic message"
    )
    slant = await automatic.locator('[data-madoguchi-part="body"]').evaluate(
        "e => getComputedStyle(e).fontStyle"
    )
    assert slant == "normal"
    font = await answer.locator('[data-madoguchi-part="body"]').evaluate(
        "e => getComputedStyle(e).fontFamily"
    )
    assert "Noto Color Emoji" in font

    # On a later visit the history spans two days: each day is named.
    await page.reload()
    await widget.shows_history(conversation_id)
    days = page.locator('[data-madoguchi-part="day"]')
    await expect(days).to_have_count(2)
    await expect(days.last).to_have_text("Today")

    # The close button's focus ring stands out from the header.
    await page.get_by_label("Message").focus()
    close = page.get_by_role("button", name="Close chat")
    await close.focus()
    ring = await close.evaluate(
        "e => [getComputedStyle(e).outlineColor, getComputedStyle(e).outlineStyle,"
        " getComputedStyle(e.closest('header')).backgroundColor]"
    )
    assert ring[1] != "none"
    assert contrast(rgb(ring[0]), rgb(ring[2])) >= 3


async def test_on_a_phone_the_close_button_is_big_and_the_owner_may_hide_the_widget(
    browser: Browser, api: Api, inbox: dict[str, Any], shop_url: str
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        widget = Widget(await context.new_page(), api, inbox["widget_key"])
        await widget.page.goto(f"{shop_url}/?server={api.server.url}&key={inbox['widget_key']}")
        await widget.open()
        box = await widget.page.get_by_role("button", name="Close chat").bounding_box()
        assert box is not None
        assert box["width"] >= 44
        assert box["height"] >= 44
        # The launcher does not cover the full-screen panel (its Send button).
        await expect(widget.launcher).to_be_hidden()
        await widget.page.get_by_role("button", name="Close chat").click()
        await expect(widget.launcher).to_be_visible()

        page = await context.new_page()
        await page.add_init_script(
            "new MutationObserver((_, watch) => {"
            " const tag = document.querySelector('script[data-key]');"
            " if (tag) { tag.setAttribute('data-hide-on-mobile', '1'); watch.disconnect(); }"
            " }).observe(document, {childList: true, subtree: true})"
        )
        await page.goto(f"{shop_url}/?server={api.server.url}&key={inbox['widget_key']}")
        hidden = Widget(page, api, inbox["widget_key"])
        await expect(hidden.page.locator("madoguchi-chat")).to_be_attached()
        await expect(hidden.launcher).to_be_hidden()
    finally:
        await context.close()
