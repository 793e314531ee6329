"""The widget's panel and what it shows, in a real browser."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import OpenShop, Reply, Widget
from tests.harness import Api


async def test_panel_is_hidden_until_the_launcher_opens_it(shop: OpenShop) -> None:
    widget = await shop()
    await expect(widget.launcher).to_be_visible()
    await expect(widget.panel).to_be_hidden()

    await widget.launcher.click()
    await expect(widget.panel).to_be_visible()
    await expect(widget.page.get_by_label("Message")).to_be_focused()

    await widget.launcher.click()
    await expect(widget.panel).to_be_hidden()


async def test_chat_page_opens_the_widget_full_screen(
    context: BrowserContext, api: Api, inbox: dict[str, Any], reply: Reply
) -> None:
    page = await context.new_page()
    widget = Widget(page, api, inbox["widget_key"])
    await page.goto(f"{api.server.url}/chat/{inbox['widget_key']}")
    await expect(widget.panel).to_be_visible()
    await widget.send("from the chat page")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "hello there")
    assert await widget.shows_history(conversation_id) == ["from the chat page", "hello there"]


async def test_markup_in_a_message_is_shown_as_text(shop: OpenShop, reply: Reply) -> None:
    markup = '<img src=x onerror="window.pwned = 1; alert(1)">'
    widget = await shop()
    await widget.open()
    await widget.send(markup)
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, f"<b>{markup}</b>")

    assert await widget.shows_history(conversation_id) == [markup, f"<b>{markup}</b>"]
    # The reload shows the same history, from the server this time.
    await widget.page.reload()
    assert await widget.shows_history(conversation_id) == [markup, f"<b>{markup}</b>"]
    assert await widget.page.locator("[data-madoguchi] img").count() == 0
    assert await widget.page.evaluate("window.pwned === undefined")
    assert widget.dialogs == []


async def test_a_waiting_customer_sees_their_place_in_the_queue(shop: OpenShop) -> None:
    # Nobody serves this inbox yet: the chat waits, and the panel says where.
    widget = await shop()
    await widget.open()
    await widget.send("anyone there?")
    await expect(widget.status).to_have_text(
        re.compile(r"You are number 1 in the queue, about \d+ minutes?")
    )
