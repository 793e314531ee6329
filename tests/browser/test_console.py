"""The agents' console in a real browser: what an agent sees and does."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import (
    AGENT_SOCKET,
    OpenConsole,
    Outage,
    customer_again,
    customer_says,
    eventually,
)


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


async def away_agent(api: Any, role: str = "supervisor") -> dict[str, Any]:
    """An agent who chose `away`: routing hands them nothing, so what is
    unassigned stays so while they work in the console."""
    agent: dict[str, Any] = await api.create_agent(role=role)
    r = await api.http.put(
        "/api/v1/agents/me/status", json={"status": "away"}, headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text
    return agent


async def test_sign_in_hides_the_form_and_clears_the_password(open_console: OpenConsole) -> None:
    console = await open_console()
    page = console.page
    await expect(page.locator("#login")).to_be_hidden()
    assert await page.locator("#password").input_value() == ""
    await expect(page.locator("#me")).to_contain_text(console.agent["name"])


async def test_wrong_password_says_so_and_keeps_the_form(
    context: BrowserContext, console_api: Any
) -> None:
    page = await context.new_page()
    await page.goto(f"{console_api.server.url}/console")
    await page.get_by_label("Email", exact=True).fill("nobody@example.com")
    await page.get_by_label("Password", exact=True).fill("wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#login-error")).to_have_text(re.compile("Sign-in failed"))
    await expect(page.locator("#app")).to_be_hidden()
    assert await page.locator("#password").input_value() == ""


async def test_a_reload_keeps_the_agent_signed_in_and_sign_out_signs_out(
    open_console: OpenConsole, console_api: Any
) -> None:
    console = await open_console()
    page = console.page
    token = await page.evaluate("JSON.parse(sessionStorage.getItem('madoguchi.console')).token")
    await page.reload()
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.locator("#login")).to_be_hidden()
    await console.connected()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#app")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('madoguchi.console')") is None
    # Really signed out: the server no longer takes the token.
    r = await console_api.http.get("/api/v1/agents/me", headers=console_api.auth(token))
    assert r.status_code == 401
    await page.reload()
    await expect(page.locator("#login")).to_be_visible()


async def test_rows_show_name_channel_preview_time_and_unread(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Hanako")
    await customer_says(console_api, inbox, "where is my parcel? " + "x" * 300, name=name)
    console = await open_console(role="supervisor")
    row = console.row(name)
    await expect(row).to_be_visible()
    await expect(row.locator(".preview")).to_have_text(re.compile(r"^where is my parcel\? x+$"))
    await expect(row.locator(".tags")).to_contain_text("web")
    await expect(row.locator(".time")).to_have_text(re.compile(r"\d{1,2}:\d{2}"))
    await expect(row).to_have_attribute("data-unread", "1")

    await console.open(name)
    await expect(console.messages()).to_have_text(["where is my parcel? " + "x" * 300])
    # Read: the unread mark goes, and stays gone after a reload.
    await expect(row).not_to_have_attribute("data-unread", "1")
    await console.page.reload()
    await expect(console.row(name)).to_be_visible()
    await expect(console.row(name)).not_to_have_attribute("data-unread", "1")


async def test_filters_by_status_assignee_and_inbox(
    open_console: OpenConsole, console_api: Any
) -> None:
    first, second = await console_api.create_inbox(), await console_api.create_inbox()
    mine, free, done = unique("Mine"), unique("Free"), unique("Done")
    agent = await away_agent(console_api)
    _, mine_id = await customer_says(console_api, first, "one", name=mine)
    await customer_says(console_api, second, "two", name=free)
    _, done_id = await customer_says(console_api, first, "three", name=done)
    token = agent["token"]
    r = await console_api.http.post(
        f"/api/v1/conversations/{mine_id}/assign",
        json={"agent_id": agent["id"]},
        headers=console_api.auth(token),
    )
    assert r.status_code == 200, r.text
    r = await console_api.http.post(
        f"/api/v1/conversations/{done_id}/resolve", headers=console_api.auth(token)
    )
    assert r.status_code == 200, r.text
    # Opened once all that is done: a resolve made elsewhere of a chat nobody
    # holds sends no frame, so an open list would learn of it only later.
    console = await open_console(agent)
    page = console.page
    await expect(console.row(mine)).to_be_visible()
    await expect(console.row(free)).to_be_visible()
    await expect(console.row(done)).to_be_hidden()

    await page.get_by_label("Assignee").select_option("me")
    await expect(console.row(mine)).to_be_visible()
    await expect(console.row(free)).to_be_hidden()
    await page.get_by_label("Assignee").select_option("none")
    await expect(console.row(free)).to_be_visible()
    await expect(console.row(mine)).to_be_hidden()
    await page.get_by_label("Assignee").select_option("")
    await page.get_by_label("Inbox").select_option(str(first["id"]))
    await expect(console.row(mine)).to_be_visible()
    await expect(console.row(free)).to_be_hidden()
    await page.locator("#f-status").select_option("resolved")
    await expect(console.row(done)).to_be_visible()
    await expect(console.row(mine)).to_be_hidden()


async def test_assign_resolve_reopen_and_the_customer_panel(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Taro")
    session = await console_api.new_session(inbox, name=name, email="taro@example.com")
    conversation_id = await customer_again(console_api, session["session_token"], "help")
    console = await open_console(await away_agent(console_api))
    await console.open(name)
    page = console.page
    await expect(page.locator("#customer-details")).to_contain_text("taro@example.com")
    await expect(page.locator("#customer-details")).to_contain_text(name)

    await page.get_by_role("button", name="Assign to me").click()
    await expect(page.locator("#conv-meta")).to_contain_text(f"Assigned to {console.agent['name']}")
    await page.get_by_role("button", name="Unassign").click()
    await expect(page.locator("#conv-meta")).to_contain_text("Unassigned")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#conv-meta")).to_contain_text("resolved")
    await expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    r = await console_api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=console_api.auth(console.agent["token"])
    )
    assert r.json()["status"] == "resolved"
    await page.get_by_role("button", name="Reopen").click()
    await expect(page.locator("#conv-meta")).to_contain_text("open")


async def test_transfer_with_a_note(open_console: OpenConsole, console_api: Any) -> None:
    inbox = await console_api.create_inbox()
    other = await console_api.create_agent(name=unique("Colleague"))
    name = unique("Jiro")
    _, conversation_id = await customer_says(console_api, inbox, "a tricky one", name=name)
    console = await open_console(role="supervisor")
    await console.open(name)
    page = console.page
    await page.locator("#transfer summary").click()
    await page.get_by_label("To agent").select_option(str(other["id"]))
    # Typed while the conversation may still be loading: what the agent types
    # stays where they type it (the reply box does not take the focus).
    await page.get_by_label("Note", exact=True).press_sequentially("billing question")
    await expect(page.get_by_label("Note", exact=True)).to_have_value("billing question")
    await expect(page.get_by_label("Reply")).to_have_value("")
    await page.get_by_role("button", name="Transfer", exact=True).click()
    await expect(page.locator("#conv-meta")).to_contain_text(f"Assigned to {other['name']}")
    await expect(console.messages().last).to_contain_text("billing question")


async def test_a_note_is_private_and_the_toggle_resets_after_sending(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Note")
    _, conversation_id = await customer_says(console_api, inbox, "hi", name=name)
    console = await open_console(role="supervisor")
    await console.open(name)
    await console.reply("internal: VIP", private=True)
    await expect(console.page.get_by_label("Private note")).not_to_be_checked()
    await console.reply("Hello! How can I help?")
    await expect(console.page.locator("#log li[data-state=sent]")).to_have_count(2)
    stored = await console_api.messages(conversation_id)
    assert [(m["body"], m["private"]) for m in stored] == [
        ("hi", False),
        ("internal: VIP", True),
        ("Hello! How can I help?", False),
    ]
    await expect(console.page.locator("#log li.note")).to_have_count(1)


async def test_a_reply_typed_while_the_socket_is_down_is_queued_and_sent_once(
    context: BrowserContext, open_console: OpenConsole, console_api: Any
) -> None:
    outage = await Outage.on(context, AGENT_SOCKET)
    inbox = await console_api.create_inbox()
    name = unique("Offline")
    token, conversation_id = await customer_says(console_api, inbox, "are you there?", name=name)
    console = await open_console(role="supervisor")
    await console.open(name)

    await outage.cut()
    await expect(console.page.locator("#connection")).to_have_text("Reconnecting…")
    await console.reply("yes, one moment")
    queued = console.page.locator("#log li[data-state=queued]")
    await expect(queued).to_have_count(1)
    await expect(queued).to_contain_text("Queued")
    # Meanwhile the customer writes again: fetched after the reconnect.
    await customer_again(console_api, token, "hello??")

    outage.restore()
    await expect(console.page.locator("#log li[data-state=sent]")).to_have_count(1)
    await expect(console.messages()).to_have_text(["are you there?", "hello??", "yes, one moment"])
    await asyncio.sleep(1)
    stored = [m["body"] for m in await console_api.messages(conversation_id)]
    assert stored == ["are you there?", "hello??", "yes, one moment"]


async def test_missed_messages_are_fetched_after_a_reconnect(
    context: BrowserContext, open_console: OpenConsole, console_api: Any
) -> None:
    outage = await Outage.on(context, AGENT_SOCKET)
    inbox = await console_api.create_inbox()
    name = unique("Missed")
    token, _ = await customer_says(console_api, inbox, "first", name=name)
    console = await open_console(role="supervisor")
    await console.open(name)
    await outage.cut()
    await expect(console.page.locator("#connection")).to_have_text("Reconnecting…")
    await customer_again(console_api, token, "second")
    await customer_again(console_api, token, "third")
    outage.restore()
    await expect(console.messages()).to_have_text(["first", "second", "third"])
    await expect(console.page.locator("#connection")).to_have_text("")


async def test_markup_from_a_customer_is_text_and_the_page_has_a_csp(
    open_console: OpenConsole, console_api: Any
) -> None:
    markup = '<img src=x onerror="window.pwned = 1">'
    inbox = await console_api.create_inbox()
    await customer_says(console_api, inbox, markup, name=markup)
    console = await open_console(role="supervisor")
    page = console.page
    await expect(console.row("onerror")).to_be_visible()
    await console.open("onerror")
    await expect(console.messages()).to_have_text([markup])
    await expect(page.locator("#conv-title")).to_have_text(markup)
    assert await page.locator("#app img").count() == 0
    assert await page.evaluate("window.pwned === undefined")
    r = await console_api.http.get("/console")
    assert "script-src 'self'" in r.headers["content-security-policy"]


async def test_automatic_replies_show_as_such(open_console: OpenConsole, console_api: Any) -> None:
    # A redirect inbox answers every message automatically (the redirect responder).
    r = await console_api.http.post(
        "/api/v1/inboxes",
        json={"name": "Old site", "channel": "web", "mode": "redirect", "config": {}},
        headers=console_api.auth(console_api.admin_token),
    )
    assert r.status_code == 201, r.text
    name = unique("Auto")
    _, conversation_id = await customer_says(console_api, r.json(), "hello", name=name)

    async def answered() -> bool:
        return len(await console_api.messages(conversation_id)) == 2

    await eventually(answered, "the redirect reply")
    console = await open_console(role="supervisor")
    await console.page.locator("#f-status").select_option("resolved")
    await console.open(name)
    system = console.page.locator("#log li[data-author=system]")
    await expect(system).to_have_count(1)
    await expect(system.locator(".who")).to_have_text("Automatic reply")
    await expect(console.page.locator("#log li[data-author=customer] .who")).to_have_text(name)


async def test_presence_switch_sets_the_agent_away_and_back(
    open_console: OpenConsole, console_api: Any
) -> None:
    console = await open_console()
    token = console.agent["token"]

    async def status() -> str:
        r = await console_api.http.get("/api/v1/agents/me", headers=console_api.auth(token))
        return str(r.json()["status"])

    assert await status() == "online"
    await console.page.get_by_label("Presence").select_option("away")
    await eventually(lambda: _is(status, "away"), "away")
    await console.page.reload()
    await console.connected()
    await expect(console.page.get_by_label("Presence")).to_have_value("away")
    await console.page.get_by_label("Presence").select_option("online")
    await eventually(lambda: _is(status, "online"), "online")


async def _is(read: Any, expected: str) -> bool:
    return bool(await read() == expected)
