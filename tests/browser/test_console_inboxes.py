"""The admins' inboxes page in a real browser: an admin creates a web, a
Telegram and an email inbox and sees what each needs outside (the embed
snippet, the webhook URL); a missing field gets the server's word next to the
form; a plain agent is told they cannot create, and the API refuses them."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.conftest import StartServer
from tests.harness import Api

HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'


@pytest.fixture(scope="module")
async def console_api(start_module_server: StartServer) -> Api:
    """A server of this module's own: the inboxes made here (one with allowed
    origins) must not become another test's first web inbox or console filter."""
    return await start_module_server()


async def inboxes_page(context: BrowserContext, api: Api, agent: dict[str, Any]) -> Page:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{api.server.url}/console/inboxes")
    await page.locator("#email").fill(agent["email"])
    await page.locator("#password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    # After signing in, focus is on the page's heading, for keyboard and screen-reader users.
    await expect(page.get_by_role("heading", name="Inboxes", level=1)).to_be_focused()
    assert errors == []
    return page


async def stored(api: Api, name: str) -> dict[str, Any]:
    r = await api.http.get("/api/v1/inboxes", headers=api.auth(api.admin_token))
    assert r.status_code == 200, r.text
    found = [i for i in r.json()["items"] if i["name"] == name]
    assert len(found) == 1, found
    return dict(found[0])


def card(page: Page, inbox: dict[str, Any]) -> Any:
    return page.locator(f"#inboxes li[data-inbox-id='{inbox['id']}']")


async def create(page: Page, name: str, channel: str, fields: dict[str, str]) -> None:
    await page.get_by_label("Inbox name").fill(name)
    await page.get_by_label("Channel", exact=True).select_option(channel)
    for label, value in fields.items():
        await page.get_by_label(label).fill(value)
    await page.get_by_role("button", name="Create inbox").click()


async def test_an_admin_creates_a_web_inbox_and_sees_its_embed_snippet(
    context: BrowserContext, console_api: Api
) -> None:
    admin = await console_api.create_agent(role="admin")
    page = await inboxes_page(context, console_api, admin)
    name = f"{HOSTILE} shop {uuid.uuid4().hex[:6]}"
    await page.get_by_label("Teams", exact=True).fill("sales, web team")
    await create(page, name, "web", {"Allowed origins": "https://shop.example.com"})
    await expect(page.locator("#notice")).to_contain_text("created")

    made = await stored(console_api, name)
    assert (made["channel"], made["mode"], made["teams"]) == ("web", "live", ["sales", "web team"])
    assert made["config"]["allowed_origins"] == ["https://shop.example.com"]
    key = made["widget_key"]
    assert key
    mine = card(page, made)
    await expect(mine.get_by_role("heading", level=3)).to_have_text(name)
    snippet = f'<script src="{console_api.server.url}/widget.js" data-key="{key}" async></script>'
    await expect(mine.get_by_label("Embed snippet", exact=True)).to_have_value(snippet)
    await expect(mine.get_by_role("button", name="Copy embed snippet")).to_be_visible()
    await expect(mine.get_by_role("link", name="Full-screen chat page")).to_have_attribute(
        "href", f"/chat/{key}"
    )
    await expect(mine.get_by_role("link", name="Demo shop page")).to_have_attribute("href", "/demo")
    await expect(mine).to_contain_text("sales, web team")
    # The name is text: no element was made of it, nothing ran.
    assert await page.locator("#inboxes img").count() == 0
    assert await page.evaluate("document.body.dataset.pwned") is None

    # The chat page it links to is the inbox's own.
    chat = await console_api.http.get(f"/chat/{key}")
    assert chat.status_code == 200


async def test_an_admin_creates_telegram_and_email_inboxes(
    context: BrowserContext, console_api: Api
) -> None:
    admin = await console_api.create_agent(role="admin")
    page = await inboxes_page(context, console_api, admin)
    suffix = uuid.uuid4().hex[:6]

    bot_token = f"123456:bot-token-{suffix}"
    await create(
        page,
        f"Telegram {suffix}",
        "telegram",
        {"Bot token": bot_token, "Secret token": f"hook_{suffix}"},
    )
    await expect(page.locator("#notice")).to_contain_text("created")
    telegram = await stored(console_api, f"Telegram {suffix}")
    assert telegram["channel"] == "telegram"
    assert telegram["config"]["bot_token"] == bot_token
    assert telegram["config"]["secret_token"] == f"hook_{suffix}"
    mine = card(page, telegram)
    await expect(mine.get_by_label("Webhook URL", exact=True)).to_have_value(
        f"{console_api.server.url}/webhooks/telegram/{telegram['id']}"
    )
    # The secrets went to the server; the page does not show them back.
    await expect(mine).not_to_contain_text(bot_token)
    await expect(mine).not_to_contain_text(f"hook_{suffix}")

    address = f"help-{suffix}@example.com"
    await create(page, f"Mail {suffix}", "email", {"Inbox address": address})
    await expect(page.locator("#notice")).to_contain_text(f"Mail {suffix} created")
    mail = await stored(console_api, f"Mail {suffix}")
    assert (mail["channel"], mail["config"]["address"], mail["config"].get("imap")) == (
        "email",
        address,
        None,
    )
    await expect(card(page, mail)).to_contain_text(address)


async def test_a_missing_required_field_gets_a_readable_error(
    context: BrowserContext, console_api: Api
) -> None:
    admin = await console_api.create_agent(role="admin")
    page = await inboxes_page(context, console_api, admin)
    name = f"No secret {uuid.uuid4().hex[:6]}"
    await create(page, name, "telegram", {"Bot token": "123456:bot-token"})
    # The server's word, with the field named as the form names it.
    await expect(page.locator("#create-error")).to_have_text(
        re.compile(r"not created: Secret token: Field required")
    )
    r = await console_api.http.get("/api/v1/inboxes", headers=console_api.auth(admin["token"]))
    assert name not in [i["name"] for i in r.json()["items"]]
    # What was typed is still there, to be completed.
    await expect(page.get_by_label("Inbox name")).to_have_value(name)


async def test_a_plain_agent_cannot_create_an_inbox(
    context: BrowserContext, console_api: Api
) -> None:
    agent = await console_api.create_agent(role="agent")
    page = await inboxes_page(context, console_api, agent)
    await expect(page.locator("#error")).to_have_text(
        "Only admins create and change inboxes; your role is agent."
    )
    await expect(page.get_by_role("button", name="Create inbox")).to_be_hidden()

    r = await console_api.http.post(
        "/api/v1/inboxes",
        json={"name": "Sneaky", "channel": "web", "config": {}},
        headers=console_api.auth(agent["token"]),
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]


async def test_an_admin_sets_business_hours_responders_and_routing(
    context: BrowserContext, console_api: Api
) -> None:
    admin = await console_api.create_agent(role="admin")
    inbox = await console_api.create_inbox()
    page = await inboxes_page(context, console_api, admin)
    mine = card(page, inbox)

    await mine.get_by_text("Business hours of").click()
    await mine.get_by_label("Time zone").fill("Asia/Tokyo")
    await mine.get_by_label("Monday").fill("9:00-12:00, 13:00-18:00")
    await mine.get_by_label("Saturday").fill("10-16")
    await mine.get_by_role("button", name="Save business hours").click()
    await expect(mine.locator(".form-error").first).to_have_text(
        "Saturday: write hours as 09:00-18:00, not 10-16"
    )
    await mine.get_by_label("Saturday").fill("")
    await mine.get_by_label("Closed dates").fill("2026-12-31")
    await mine.get_by_role("button", name="Save business hours").click()
    await expect(page.locator("#notice")).to_contain_text("Business hours of")

    await mine.get_by_text("Responders of").click()
    await mine.get_by_label("Greeting text").fill("Hello {customer_name}!")
    await mine.get_by_label("Acknowledgement off").check()
    await mine.get_by_role("button", name="Save responders").click()
    await expect(page.locator("#notice")).to_contain_text("Responders of")

    await mine.get_by_text("Routing of").click()
    await mine.get_by_label("Policy").select_option("round_robin")
    await mine.get_by_label("Answer timeout (seconds)").fill("120")
    await mine.get_by_role("button", name="Save routing").click()
    await expect(page.locator("#notice")).to_contain_text("Routing of")

    r = await console_api.http.get(
        f"/api/v1/inboxes/{inbox['id']}", headers=console_api.auth(admin["token"])
    )
    saved = r.json()
    assert saved["business_hours"] == {
        "timezone": "Asia/Tokyo",
        "weekly": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]]},
        "closed_dates": ["2026-12-31"],
        "holiday_calendar": None,
    }
    assert saved["responders"] == {"greeting": "Hello {customer_name}!", "acknowledgement": None}
    assert (saved["routing"]["policy"], saved["routing"]["answer_timeout_seconds"]) == (
        "round_robin",
        120,
    )
