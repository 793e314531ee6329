"""The admins' agents page in a real browser: an admin deactivates an agent
whose console is open, and that console is signed out at once; names and
teams show as text, whatever they say."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import OpenConsole

HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'


async def agents_page(context: BrowserContext, api: Any, admin: dict[str, Any]) -> Page:
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    await page.goto(f"{api.server.url}/console/agents")
    await page.locator("#email").fill(admin["email"])
    await page.locator("#password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    return page


def row(page: Page, agent: dict[str, Any]) -> Any:
    return page.locator(f"#agent-rows tr[data-agent-id='{agent['id']}']")


async def test_deactivating_an_agent_signs_their_open_console_out(
    context: BrowserContext, console_api: Any, open_console: OpenConsole
) -> None:
    console = await open_console()
    admin = await console_api.create_agent(role="admin")
    page = await agents_page(context, console_api, admin)
    victim = row(page, console.agent)
    await expect(victim.locator(".account")).to_have_text("Active")

    await victim.get_by_role("button", name="Deactivate").click()
    await expect(page.locator("#notice")).to_contain_text("deactivated")
    await expect(victim.locator(".account")).to_have_text("Deactivated")
    await expect(victim.get_by_role("button", name="Reactivate")).to_be_visible()

    # The agent's tab, open all along, is back at the sign-in form...
    await expect(console.page.locator("#login")).to_be_visible()
    await expect(console.page.locator("#app")).to_be_hidden()
    await expect(console.page.locator("#login-error")).to_have_text(re.compile("session has ended"))
    # ...and cannot sign in again.
    await console.page.get_by_label("Email", exact=True).fill(console.agent["email"])
    await console.page.get_by_label("Password", exact=True).fill("agent-password")
    await console.page.get_by_role("button", name="Sign in").click()
    await expect(console.page.locator("#login-error")).to_have_text(re.compile("Sign-in failed"))

    # Reactivated from the page, they can.
    await victim.get_by_role("button", name="Reactivate").click()
    await expect(victim.locator(".account")).to_have_text("Active")
    await console.sign_in()


async def test_an_admin_creates_changes_and_resets_an_agent(
    context: BrowserContext, console_api: Any
) -> None:
    admin = await console_api.create_agent(role="admin")
    page = await agents_page(context, console_api, admin)
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    team = f"{HOSTILE} team"
    await page.get_by_label("New agent's email").fill(email)
    await page.get_by_label("New agent's name").fill(HOSTILE)
    await page.get_by_label("New agent's password").fill("first-password")
    await page.get_by_label("New agent's teams").fill(team)
    await page.get_by_role("button", name="Create agent").click()
    await expect(page.locator("#notice")).to_contain_text("created")

    listed = await console_api.http.get(
        "/api/v1/agents", headers=console_api.auth(console_api.admin_token)
    )
    made = next(a for a in listed.json()["items"] if a["email"] == email)
    assert (made["name"], made["teams"], made["role"]) == (HOSTILE, [team], "agent")
    mine = row(page, made)
    await expect(mine.get_by_label("Name of " + HOSTILE)).to_have_value(HOSTILE)
    await expect(page.locator("#teams")).to_contain_text(team)
    # Shown as text: no element was made of it, nothing ran.
    assert await page.locator("#agents img, #teams img").count() == 0
    assert await page.evaluate("document.body.dataset.pwned") is None

    await mine.get_by_label("Role of " + HOSTILE).select_option("supervisor")
    await mine.get_by_label("Capacity of " + HOSTILE).fill("2")
    await mine.get_by_label("Skills of " + HOSTILE).fill("ja, billing")
    await mine.get_by_role("button", name="Save").click()
    await expect(page.locator("#notice")).to_contain_text("saved")
    token = await console_api.login(email, "first-password")
    me = (await console_api.http.get("/api/v1/agents/me", headers=console_api.auth(token))).json()
    assert (me["role"], me["capacity"], me["skills"]) == ("supervisor", 2, ["ja", "billing"])

    await mine.get_by_text("Reset password").click()
    await mine.get_by_label("New password for " + HOSTILE).fill("second-password")
    await mine.get_by_role("button", name="Set password").click()
    await expect(page.locator("#notice")).to_contain_text("every session of theirs has ended")
    r = await console_api.http.get("/api/v1/agents/me", headers=console_api.auth(token))
    assert r.status_code == 401
    assert await console_api.login(email, "second-password")
