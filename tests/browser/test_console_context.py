"""The customer's context in the console (issue 30): the agent sees the page the
customer is on, their browser, language and local time, live as they move."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import Browser, expect

from tests.browser.conftest import Console, OpenConsole, Widget, customer_says
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_console import away_agent
from tests.contacts.test_customer_context import MAC_CHROME
from tests.harness import Api

# 08:59:30 on a Tuesday morning in Tokyo: a minute later the customer's clock reads 09:00.
TOKYO_MORNING = datetime(2026, 12, 7, 23, 59, 30, tzinfo=UTC)


async def test_the_agent_sees_the_page_and_the_customers_local_time(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    token, _ = await customer_says(console_api, inbox, "Does the kettle come in red?", name="Aiko")
    console = await open_console(await away_agent(console_api))
    page = console.page
    await page.clock.install(time=TOKYO_MORNING)
    await page.get_by_label("Inbox").select_option(str(inbox["id"]))
    await console.open("Aiko")
    panel = page.get_by_role("complementary", name="Customer")
    where = panel.get_by_role("region", name="Where they are")
    await expect(where).to_be_hidden()

    async with console_api.widget(token, user_agent_header=MAC_CHROME) as widget:
        await widget.send(
            {
                "type": "context",
                "page_url": "https://shop.example/kettles/red?ref=<b>x</b>",
                "page_title": "<img src=x onerror=alert(1)> Red kettle",
                "language": "ja-JP",
                "time_zone": "Asia/Tokyo",
            }
        )
        await widget.send({"type": "ping"})
        await widget.expect("pong")

    # Live, without a reload; the customer's text is text, never markup.
    await expect(where).to_be_visible()
    await expect(where.locator(".page-title")).to_have_text(
        "<img src=x onerror=alert(1)> Red kettle"
    )
    assert await where.locator("img").count() == 0
    link = where.get_by_role("link", name="https://shop.example/kettles/red?ref=<b>x</b>")
    await expect(link).to_have_attribute("href", "https://shop.example/kettles/red?ref=<b>x</b>")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(where.locator(".browser")).to_have_text("Chrome 131 on macOS")
    await expect(where.locator(".language")).to_have_text("ja-JP")
    local = where.locator(".local-time")
    await expect(local).to_contain_text("08:59")
    await expect(local).to_contain_text("(Asia/Tokyo)")
    # The customer's clock moves on with the agent's.
    await page.clock.run_for("01:00")
    await expect(local).to_contain_text("09:00")
    await expect(local).to_contain_text("(Asia/Tokyo)")


async def test_the_real_widget_tells_the_agent_where_the_shopper_is(
    browser: Browser, api: Api, inbox: dict[str, Any], shop_url: str
) -> None:
    # A shopper in Tokyo with a Japanese browser, on the shop's own origin.
    shopper = await browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    # Past the console's CSP, for axe (as tests/browser/test_accessibility.py does).
    desk = await browser.new_context(bypass_csp=True)
    try:
        page = await shopper.new_page()
        widget = Widget(page, api, inbox["widget_key"])
        await page.goto(f"{shop_url}/?{urlencode({'server': api.server.url, 'key': widget.key})}")
        await widget.open()
        # The widget speaks the shopper's language: its box is 「メッセージ」.
        await page.get_by_label("メッセージ", exact=True).fill("この色はありますか？")
        await page.get_by_label("メッセージ", exact=True).press("Enter")

        console = Console(await desk.new_page(), api, await away_agent(api))
        await console.sign_in()
        await console.page.get_by_label("Inbox").select_option(str(inbox["id"]))
        await console.open("この色はありますか？")
        where = console.page.get_by_role("region", name="Where they are")
        await expect(where.locator(".page-title")).to_have_text("A shop")
        link = where.get_by_role("link", name=page.url)
        await expect(link).to_have_attribute("href", page.url)
        await expect(where.locator(".browser")).to_contain_text("Chrome")
        await expect(where.locator(".language")).to_have_text("ja-JP")
        await expect(where.locator(".local-time")).to_contain_text("(Asia/Tokyo)")
        await assert_accessible(console.page, "console customer context")
    finally:
        await shopper.close()
        await desk.close()
