"""A shop owner sets the widget's look in the inboxes page, without code:
colour, corner and offset, launcher text, greeting, hide on phones. It is
saved through the API, reaches the widget's session, and is shown again
after a reload; an offset out of range is said next to the form."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.test_accessibility import BLOCKING, axe_violations, describe
from tests.harness import Api


async def _signed_in(context: BrowserContext, api: Api, admin: dict[str, Any]) -> Page:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{api.server.url}/console/inboxes")
    await page.locator("#email").fill(admin["email"])
    await page.locator("#password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    assert errors == []
    return page


async def _open_form(page: Page, inbox: dict[str, Any]) -> Any:
    mine = page.locator(f"#inboxes li[data-inbox-id='{inbox['id']}']")
    details = mine.locator("details.settings", has_text="Widget appearance")
    if await details.get_attribute("open") is None:
        await details.locator("summary").click()
    return details


async def test_an_admin_sets_the_widget_look_and_sees_it_after_a_reload(
    context: BrowserContext, api: Api
) -> None:
    name = f"Shop {uuid.uuid4().hex[:6]}"
    r = await api.http.post(
        "/api/v1/inboxes",
        json={"name": name, "channel": "web", "config": {}},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    inbox = r.json()
    admin = await api.create_agent(role="admin")
    page = await _signed_in(context, api, admin)
    form = await _open_form(page, inbox)

    await form.get_by_label("Colour", exact=True).fill("#0b6e4f")
    await form.get_by_label("Position").select_option("left")
    await form.get_by_label("Offset from the edge (px, 0-200)").fill("250")
    await form.get_by_label("Launcher text").fill("Chat with us")
    await form.get_by_label("Greeting").fill("こんにちは! Ask us anything.")
    await form.get_by_label("Hide on mobile").check()
    await form.get_by_role("button", name="Save widget appearance").click()
    # Out of range: said next to the form, nothing saved.
    await expect(form.get_by_role("alert")).to_contain_text("Offset")
    r = await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    assert "appearance" not in r.json()["config"]

    await form.get_by_label("Offset from the edge (px, 0-200)").fill("24")
    await form.get_by_role("button", name="Save widget appearance").click()
    await expect(page.locator("#notice")).to_have_text(f"Widget appearance of {name} saved.")
    expected = {
        "color": "#0b6e4f",
        "position": "left",
        "offset": 24,
        "launcher_text": "Chat with us",
        "greeting": "こんにちは! Ask us anything.",
        "hide_on_mobile": True,
    }
    r = await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    assert r.json()["config"]["appearance"] == expected
    assert (await api.new_session(inbox))["appearance"] == expected

    await page.reload()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    form = await _open_form(page, inbox)
    await expect(form.get_by_label("Colour", exact=True)).to_have_value("#0b6e4f")
    await expect(form.get_by_label("Own colour (else the default)")).to_be_checked()
    await expect(form.get_by_label("Position")).to_have_value("left")
    await expect(form.get_by_label("Offset from the edge (px, 0-200)")).to_have_value("24")
    await expect(form.get_by_label("Launcher text")).to_have_value("Chat with us")
    await expect(form.get_by_label("Greeting")).to_have_value("こんにちは! Ask us anything.")
    await expect(form.get_by_label("Hide on mobile")).to_be_checked()

    # Back to the defaults: every field cleared removes the appearance.
    await form.get_by_label("Own colour (else the default)").uncheck()
    await form.get_by_label("Position").select_option("")
    await form.get_by_label("Offset from the edge (px, 0-200)").fill("")
    await form.get_by_label("Launcher text").fill("")
    await form.get_by_label("Greeting").fill("")
    await form.get_by_label("Hide on mobile").uncheck()
    await form.get_by_role("button", name="Save widget appearance").click()
    await expect(page.locator("#notice")).to_have_text(f"Widget appearance of {name} saved.")
    assert (await api.new_session(inbox))["appearance"] is None


async def test_the_open_appearance_form_passes_axe(browser: Browser, api: Api) -> None:
    inbox = await api.create_inbox({"appearance": {"color": "#ff8800", "hide_on_mobile": True}})
    admin = await api.create_agent(role="admin")
    # axe is injected as an inline script, which the console's CSP forbids.
    context = await browser.new_context(bypass_csp=True)
    try:
        page = await _signed_in(context, api, admin)
        form = await _open_form(page, inbox)
        await expect(form.get_by_label("Colour", exact=True)).to_have_value("#ff8800")
        blocking = [v for v in await axe_violations(page) if v["impact"] in BLOCKING]
        assert not blocking, describe(blocking)
    finally:
        await context.close()
