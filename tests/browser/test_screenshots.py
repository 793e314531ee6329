"""The screenshots of docs/desk.md, retaken from a running server:

    MADOGUCHI_SCREENSHOTS=1 .venv/bin/python -m pytest -p no:cacheprovider \\
        tests/browser/test_screenshots.py

writes docs/screenshots/*.png (in about a minute). Japanese text and the
widget's paperclip need fonts a bare Debian lacks: apt-get install
fonts-noto-cjk fonts-noto-color-emoji. Without MADOGUCHI_SCREENSHOTS the file
is skipped: the pictures are for people, the behaviour they show is tested
elsewhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.browser.conftest import (
    WAIT,
    Console,
    Widget,
    customer_again,
    customer_says,
    eventually,
)
from tests.conftest import StartServer
from tests.harness import Api
from tests.reports.seed import seed
from tests.reports.test_standards_live import server_database

pytestmark = pytest.mark.skipif(
    not os.environ.get("MADOGUCHI_SCREENSHOTS"),
    reason="retakes docs/screenshots only with MADOGUCHI_SCREENSHOTS=1",
)

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class Scene:
    api: Api
    inbox: dict[str, Any]
    agent: dict[str, Any]
    admin: dict[str, Any]
    shop_url: str


@pytest.fixture(scope="module")
async def scene(start_module_server: StartServer, shop_url: str) -> Scene:
    api = await start_module_server({"MADOGUCHI_PRESENCE_GRACE_SECONDS": "0"})
    r = await api.http.post(
        "/api/v1/inboxes",
        json={"name": "Sakura Tea — web shop", "channel": "web", "config": {}, "teams": []},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    agent = await api.create_agent(name="Kenji Ito", teams=["support"])
    admin = await api.create_agent(role="admin", name="Hana Sato", teams=["support"])
    return Scene(api, dict(r.json()), agent, admin, shop_url)


async def tab(browser: Browser, viewport: ViewportSize, *, phone: bool = False) -> BrowserContext:
    ctx = await browser.new_context(
        viewport=viewport,
        device_scale_factor=2 if phone else 1,
        is_mobile=phone,
        has_touch=phone,
        locale="en-GB",
        timezone_id="Asia/Tokyo",
    )
    ctx.set_default_timeout(WAIT * 1000)
    return ctx


async def shop_with_a_conversation(page: Page, scene: Scene) -> Widget:
    """A shopper asks on the shop's page (another origin); Kenji answers."""
    key = scene.inbox["widget_key"]
    await page.goto(f"{scene.shop_url}/?{urlencode({'server': scene.api.server.url, 'key': key})}")
    widget = Widget(page, scene.api, key)
    await widget.open()
    await widget.send("Hello! Do you ship sencha to Osaka?")
    conversation_id = await widget.conversation_id()
    r = await scene.api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "Yes, we do: delivery to Osaka takes two days, free over ¥5,000."},
        headers=scene.api.auth(scene.agent["token"]),
    )
    assert r.status_code == 201, r.text
    await expect(page.locator('[data-madoguchi-part="message"]')).to_have_count(2)
    await widget.send("Great, thank you!")
    return widget


async def test_the_widget_on_a_shop_page(browser: Browser, scene: Scene) -> None:
    ctx = await tab(browser, DESKTOP)
    try:
        page = await ctx.new_page()
        await shop_with_a_conversation(page, scene)
        await page.screenshot(path=str(SHOTS / "widget.png"))
    finally:
        await ctx.close()


async def test_the_widget_closed_with_an_unread_reply(browser: Browser, scene: Scene) -> None:
    ctx = await tab(browser, DESKTOP)
    try:
        page = await ctx.new_page()
        widget = await shop_with_a_conversation(page, scene)
        await widget.launcher.click()
        await widget.panel.wait_for(state="hidden")
        r = await scene.api.http.post(
            f"/api/v1/conversations/{await widget.conversation_id()}/messages",
            json={"body": "You're welcome! Your order ships tomorrow morning."},
            headers=scene.api.auth(scene.agent["token"]),
        )
        assert r.status_code == 201, r.text
        await page.locator('[data-madoguchi-part="preview"]').wait_for(state="visible")
        await page.screenshot(path=str(SHOTS / "widget-unread.png"))
    finally:
        await ctx.close()


async def test_the_widget_on_a_phone(browser: Browser, scene: Scene) -> None:
    ctx = await tab(browser, PHONE, phone=True)
    try:
        page = await ctx.new_page()
        await shop_with_a_conversation(page, scene)
        await page.screenshot(path=str(SHOTS / "widget-phone.png"))
    finally:
        await ctx.close()


async def test_the_hosted_chat_page(browser: Browser, scene: Scene) -> None:
    ctx = await tab(browser, DESKTOP)
    try:
        page = await ctx.new_page()
        await page.goto(f"{scene.api.server.url}/chat/{scene.inbox['widget_key']}")
        widget = Widget(page, scene.api, scene.inbox["widget_key"])
        await widget.panel.wait_for(state="visible")
        await widget.send("こんにちは。ギフト包装はできますか？")
        await page.screenshot(path=str(SHOTS / "chat-page.png"))
    finally:
        await ctx.close()


async def test_the_console(browser: Browser, scene: Scene) -> None:
    ctx = await tab(browser, DESKTOP)
    try:
        console = Console(await ctx.new_page(), scene.api, scene.agent)
        await console.sign_in()
        await customer_says(
            scene.api, scene.inbox, "Is the matcha set back in stock?", name="Lucas Martin"
        )
        token, conversation_id = await customer_says(
            scene.api,
            scene.inbox,
            "注文番号 1042 の配送先を変更したいのですが。",
            name="山田 花子",
        )
        await customer_says(
            scene.api, scene.inbox, "Can I pay by bank transfer?", name="Emma Wilson"
        )
        await expect(console.row("Emma Wilson")).to_be_visible()
        await console.open("山田 花子")
        await console.reply("かしこまりました。新しいご住所をお知らせください。")

        async def replied() -> bool:
            stored = await scene.api.messages(conversation_id)
            return bool(stored[-1]["author"]["kind"] == "agent")

        await eventually(replied, "Kenji's reply stored")
        await customer_again(scene.api, token, "大阪府大阪市北区梅田 1-1-1 です。")
        await expect(console.messages().last).to_have_text("大阪府大阪市北区梅田 1-1-1 です。")
        await console.page.get_by_label("Reply").fill("ありがとうございます。変更いたしました。")
        await console.page.screenshot(path=str(SHOTS / "console.png"))
    finally:
        await ctx.close()


async def signed_in(page: Page, scene: Scene, path: str) -> None:
    await page.goto(f"{scene.api.server.url}{path}")
    await page.locator("#email").fill(scene.admin["email"])
    await page.locator("#password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)


async def test_the_reports_page(browser: Browser, scene: Scene) -> None:
    db = server_database(scene.api)
    try:
        seeded = await seed(db, agent_id=scene.admin["id"])
    finally:
        await db.dispose()
    query = {"from": "2026-11-16", "to": "2026-11-30", "tz": "Asia/Tokyo"}
    query["inbox_id"] = str(seeded.tokyo_inbox_id)
    ctx = await tab(browser, DESKTOP)
    try:
        page = await ctx.new_page()
        await signed_in(page, scene, f"/console/reports?{urlencode(query)}")
        await expect(page.locator("#chart-response rect").first).to_be_attached()
        await page.screenshot(path=str(SHOTS / "reports.png"), full_page=True)
    finally:
        await ctx.close()


async def test_the_inboxes_page(browser: Browser, scene: Scene) -> None:
    ctx = await tab(browser, DESKTOP)
    try:
        page = await ctx.new_page()
        await signed_in(page, scene, "/console/inboxes")
        await page.screenshot(path=str(SHOTS / "inboxes.png"), full_page=True)
    finally:
        await ctx.close()
