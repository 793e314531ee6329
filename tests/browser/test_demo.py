"""The newcomer's tour: /demo in one tab, /console in another, chatting with
themselves both ways, in English and in Japanese."""

from __future__ import annotations

import uuid

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import ARTIFACTS, OpenConsole, Widget
from tests.harness import Api


async def test_demo_page_and_console_chat_both_ways(
    context: BrowserContext, console_api: Api, open_console: OpenConsole
) -> None:
    await console_api.create_inbox()
    console = await open_console()
    page = await context.new_page()
    await page.goto(f"{console_api.server.url}/demo")
    key = await page.locator("script[data-key]").get_attribute("data-key")
    assert key
    widget = Widget(page, console_api, key)
    await widget.open()

    hello = f"Hello, I need help with order {uuid.uuid4().hex[:6]}"
    await widget.send(hello)
    await expect(console.row(hello)).to_be_visible()
    await console.open(hello)
    await console.reply("Of course, which order?")
    await expect(widget.page.locator('[data-madoguchi-part="body"]').last).to_have_text(
        "Of course, which order?"
    )
    await widget.send("注文番号は１２３です。よろしくお願いします")
    await expect(console.messages().last).to_have_text("注文番号は１２３です。よろしくお願いします")
    await console.reply("ありがとうございます。確認します")
    await expect(widget.page.locator('[data-madoguchi-part="body"]').last).to_have_text(
        "ありがとうございます。確認します"
    )
    assert await widget.lines() == [
        hello,
        "Of course, which order?",
        "注文番号は１２３です。よろしくお願いします",
        "ありがとうございます。確認します",
    ]
    # The agent's name on their replies, in the widget.
    authors = widget.page.locator('[data-madoguchi-part="message"][data-author=agent] .meta')
    await expect(authors.first).to_contain_text(console.agent["name"])
    # What a run looked like, kept (git-ignored) for a person to glance at.
    ARTIFACTS.mkdir(exist_ok=True)
    await widget.page.screenshot(path=str(ARTIFACTS / "demo-widget.png"))
    await console.page.screenshot(path=str(ARTIFACTS / "demo-console.png"))


async def test_demo_page_without_a_web_inbox_says_what_to_do(start_server: object) -> None:
    api: Api = await start_server()  # type: ignore[operator]
    r = await api.http.get("/demo")
    assert r.status_code == 200
    assert "Create a web inbox" in r.text


async def test_the_hosted_chat_page_works_whatever_allowed_origins_says(
    context: BrowserContext, console_api: Api
) -> None:
    """The page redirect replies and follow-up mails link to is the server's
    own: a shop that lists only its own site in allowed_origins, as the docs
    advise, still gets its customers' chats from /chat/{key}."""
    inbox = await console_api.create_inbox(config={"allowed_origins": ["https://shop.example.com"]})
    page = await context.new_page()
    await page.goto(f"{console_api.server.url}/chat/{inbox['widget_key']}")
    widget = Widget(page, console_api, inbox["widget_key"])
    if not await widget.panel.is_visible():
        await widget.open()
    hello = f"Where is my parcel {uuid.uuid4().hex[:6]}?"
    await widget.send(hello)
    stored = await console_api.messages(await widget.conversation_id())
    assert [m["body"] for m in stored if m["author"]["kind"] == "customer"] == [hello]
    assert "unavailable" not in (await page.content()).lower()
