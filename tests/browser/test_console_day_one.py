"""The console on an agent's first day (issue 30): new chats stand out, canned
replies read right, transfers say where a chat went, and an outage shows."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import AGENT_SOCKET, OpenConsole, Outage, customer_says, eventually


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


async def greeting_inbox(api: Any, teams: list[str] | None = None) -> dict[str, Any]:
    """A web inbox that greets every new chat automatically."""
    inbox: dict[str, Any] = await api.create_inbox(teams=teams)
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/responders",
        json={"greeting": "Welcome, {customer_name}! Someone will be with you shortly."},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    return inbox


async def greeted(api: Any, conversation_id: int) -> None:
    async def two() -> bool:
        return len(await api.messages(conversation_id)) == 2

    await eventually(two, "the greeting")


async def test_a_new_chat_is_unread_and_previews_the_customers_question(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await greeting_inbox(console_api)
    console = await open_console(role="supervisor")
    await console.page.get_by_label("Inbox").select_option(str(inbox["id"]))
    name = unique("Haruto")
    _, conversation_id = await customer_says(
        console_api, inbox, "Do you ship to Okinawa?", name=name
    )
    await greeted(console_api, conversation_id)

    row = console.row(name)
    # The customer's question, not the greeting that came after it.
    await expect(row.locator(".preview")).to_have_text("Do you ship to Okinawa?")
    await expect(row).to_have_attribute("data-unread", "1")
    await expect(console.page.locator("#unread-count")).to_have_text("1 unread")
    await expect(console.page).to_have_title(re.compile(r"^\(1\) Madoguchi"))

    await console.open(name)
    await expect(row).not_to_have_attribute("data-unread", "1")
    await expect(console.page).to_have_title(re.compile(r"^Madoguchi"))


async def canned(api: Any, agent: dict[str, Any], shortcut: str, body: str) -> None:
    r = await api.http.post(
        "/api/v1/canned-responses",
        json={"shortcut": shortcut, "body": body},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 201, r.text


async def test_a_canned_reply_greets_a_nameless_customer_as_the_server_does(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    agent = await console_api.create_agent(role="supervisor")
    ja, en = f"ja{uuid.uuid4().hex[:6]}", f"en{uuid.uuid4().hex[:6]}"
    await canned(console_api, agent, ja, "こんにちは、{customer_name}様。")
    await canned(console_api, agent, en, "Hi {customer_name}! I am {agent_name}.")
    _, conversation_id = await customer_says(console_api, inbox, "名前なしの質問")
    console = await open_console(agent)
    await console.page.get_by_label("Inbox").select_option(str(inbox["id"]))
    await console.open("名前なしの質問")
    box = console.page.get_by_label("Reply")

    await box.press_sequentially("/" + ja)
    await expect(console.page.get_by_role("listbox", name="Canned responses")).to_be_visible()
    await box.press("Enter")
    await expect(box).to_have_value("こんにちは、お客様。")

    await box.fill("")
    await box.press_sequentially("/" + en)
    await box.press("Enter")
    await expect(box).to_have_value(f"Hi there! I am {agent['name']}.")


async def test_shift_enter_adds_a_line_and_enter_sends(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Lines")
    _, conversation_id = await customer_says(console_api, inbox, "two questions", name=name)
    console = await open_console(role="supervisor")
    await console.open(name)
    box = console.page.get_by_label("Reply")
    await box.press_sequentially("First: yes.")
    await box.press("Shift+Enter")
    await box.press_sequentially("Second: no.")
    await expect(box).to_have_value("First: yes.\nSecond: no.")
    await box.press("Enter")
    await expect(console.page.locator("#log li[data-state=sent]")).to_have_count(1)
    await expect(box).to_have_value("")
    stored = [m["body"] for m in await console_api.messages(conversation_id)]
    assert stored == ["two questions", "First: yes.\nSecond: no."]


async def test_a_plain_agent_transfers_to_a_listed_team_and_sees_where_it_went(
    open_console: OpenConsole, console_api: Any
) -> None:
    team = unique("Billing").replace(" ", "-")
    inbox = await console_api.create_inbox(teams=[team])
    # The same team, spelt in another case: one team, listed once.
    agent = await console_api.create_agent(role="agent", teams=[team.lower()])
    colleague = await console_api.create_agent(role="agent", name=unique("Colleague"))
    console = await open_console(agent)
    page = console.page
    name = unique("Kenta")
    _, conversation_id = await customer_says(console_api, inbox, "refund please", name=name)
    await console.open(name)
    await expect(console.messages().first).to_have_text("refund please")

    await page.locator("#transfer summary").click()
    # A plain agent may hand it to a colleague, chosen from a list...
    await expect(
        page.get_by_label("To agent").locator("option", has_text=colleague["name"])
    ).to_have_count(1)
    # ...or to a team, listed once whatever its case: nothing to misspell.
    teams = page.get_by_label("or team")
    options = teams.locator("option", has_text=re.compile(re.escape(team), re.IGNORECASE))
    await expect(options).to_have_count(1)
    await teams.select_option(await options.get_attribute("value"))
    await page.get_by_label("Note", exact=True).fill("over to billing")
    await page.get_by_role("button", name="Transfer", exact=True).click()
    await expect(console.messages().last).to_contain_text("over to billing")

    # Whatever routing did with it (the agent is in that team), the header says
    # what the server says, never a stale "Unassigned".
    async def header_matches_server() -> bool:
        r = await console_api.http.get(
            f"/api/v1/conversations/{conversation_id}", headers=console_api.auth(agent["token"])
        )
        if r.status_code != 200:
            return True  # no longer this agent's to see
        assignee = r.json()["assignee"]
        expected = f"Assigned to {assignee['name']}" if assignee else "Unassigned"
        text = await page.locator("#conv-meta .assignee").text_content()
        return text == expected

    await eventually(header_matches_server, "the header to match the server")


async def test_a_banner_says_the_connection_is_lost_until_it_is_back(
    context: BrowserContext, open_console: OpenConsole
) -> None:
    outage = await Outage.on(context, AGENT_SOCKET)
    console = await open_console()
    banner = console.page.get_by_role("status").filter(has_text="Connection lost")
    await expect(banner).to_be_hidden()

    await outage.cut()
    await expect(banner).to_have_text("Connection lost – reconnecting…")
    await expect(banner).to_be_visible()
    outage.restore()
    # The browser says the network is back: the console tries at once.
    await console.page.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(banner).to_be_hidden()
    await console.connected()


async def test_after_sign_in_the_focus_is_on_the_heading_and_shortcuts_are_listed(
    open_console: OpenConsole,
) -> None:
    console = await open_console()
    page = console.page
    await expect(page.get_by_role("heading", name="Madoguchi", level=1)).to_be_focused()
    await page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard help")
    await expect(help_dialog).to_be_visible()
    await expect(help_dialog).to_contain_text("Assign to me")
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()
