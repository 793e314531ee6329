"""The console's desk tools (issue 30): keyboard shortcuts, the alert sound and
its setting, image thumbnails, and the first-reply (SLA) marker."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

from playwright.async_api import Route, expect

from tests.browser.conftest import OpenConsole, customer_again, customer_says
from tests.browser.test_console import away_agent

# A 1×1 PNG: a real image, which the server's byte check accepts as one.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# Counts the console's chimes: each is one oscillator started (WebAudio, no file).
COUNT_CHIMES = """() => {
  window.chimes = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.chimes += 1;
    return start.apply(this, args);
  };
}"""


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


async def test_keys_open_the_next_conversation_assign_and_resolve(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Keys")
    _, conversation_id = await customer_says(console_api, inbox, "by keyboard", name=name)
    console = await open_console(await away_agent(console_api))
    page = console.page
    await page.get_by_label("Inbox").select_option(str(inbox["id"]))
    await expect(page.locator("#list li")).to_have_count(1)
    await page.get_by_role("heading", name="Madoguchi", level=1).focus()

    await page.keyboard.press("j")
    await expect(page.locator("#conv-title")).to_have_text(name)
    # In the reply box a letter is a letter.
    await expect(page.get_by_label("Reply")).to_be_focused()
    await page.keyboard.type("a r")
    await expect(page.get_by_label("Reply")).to_have_value("a r")
    await expect(page.locator("#conv-meta")).to_contain_text("Unassigned")

    await page.get_by_label("Reply").fill("")
    await page.locator("#conv-title").click()
    await page.keyboard.press("a")
    await expect(page.locator("#conv-meta")).to_contain_text(f"Assigned to {console.agent['name']}")
    await page.keyboard.press("r")
    await expect(page.locator("#conv-meta")).to_contain_text("resolved")
    r = await console_api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=console_api.auth(console.agent["token"])
    )
    assert (r.json()["status"], r.json()["assignee_id"]) == ("resolved", console.agent["id"])


async def test_ctrl_k_opens_the_canned_insert(open_console: OpenConsole, console_api: Any) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Canned")
    await customer_says(console_api, inbox, "hello", name=name)
    agent = await console_api.create_agent(role="supervisor")
    shortcut = f"thanks{uuid.uuid4().hex[:6]}"
    r = await console_api.http.post(
        "/api/v1/canned-responses",
        json={"shortcut": shortcut, "body": "Thank you for waiting."},
        headers=console_api.auth(agent["token"]),
    )
    assert r.status_code == 201, r.text
    console = await open_console(agent)
    await console.open(name)
    page = console.page
    await page.locator("#conv-title").click()
    await page.keyboard.press("Control+k")
    picker = page.get_by_role("listbox", name="Canned responses")
    await expect(picker).to_be_visible()
    await page.keyboard.type(shortcut)
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Reply")).to_have_value("Thank you for waiting.")


async def test_a_chime_for_a_customers_message_and_a_setting_to_silence_it(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    console = await open_console(role="supervisor")
    page = console.page
    await page.evaluate(COUNT_CHIMES)
    await page.get_by_label("Inbox").select_option(str(inbox["id"]))
    await page.locator("#settings summary").click()
    sound = page.get_by_label("Sound for new chats and replies")
    await expect(sound).to_be_checked()

    first = unique("Chime")
    token, _ = await customer_says(console_api, inbox, "is anyone there?", name=first)
    await expect(console.row(first)).to_be_visible()
    assert await page.evaluate("window.chimes") >= 1

    await sound.uncheck()
    await page.reload()
    await console.connected()
    await page.evaluate(COUNT_CHIMES)
    await page.get_by_label("Inbox").select_option(str(inbox["id"]))
    await page.locator("#settings summary").click()
    await expect(page.get_by_label("Sound for new chats and replies")).not_to_be_checked()
    await customer_again(console_api, token, "hello??")
    await expect(console.row(first).locator(".preview")).to_have_text("hello??")
    assert await page.evaluate("window.chimes") == 0


async def test_an_image_shows_as_a_thumbnail(open_console: OpenConsole, console_api: Any) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Photo")
    await customer_says(console_api, inbox, "see my photo", name=name)
    console = await open_console(role="supervisor")
    await console.open(name)
    await console.page.locator("#attach").set_input_files(
        {"name": "parcel.png", "mimeType": "image/png", "buffer": PNG}
    )
    thumb = console.page.get_by_role("img", name="parcel.png")
    await expect(thumb).to_be_visible()
    await expect(thumb).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    await expect(console.page.get_by_role("button", name="Download parcel.png")).to_be_visible()


async def test_an_overdue_first_reply_is_marked_in_the_list_and_the_header(
    open_console: OpenConsole, console_api: Any
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Waiting")
    _, conversation_id = await customer_says(console_api, inbox, "still waiting", name=name)
    console = await open_console(role="supervisor")
    page = console.page

    # The server's word for a reply promised an hour ago and not yet given
    # (promised_reply_by past, no promise_outcome): what the console shows.
    async def promised_an_hour_ago(route: Route) -> None:
        response = await route.fetch()
        data = await response.json()
        for item in data.get("items", [data]):
            if item.get("id") == conversation_id:
                item["promised_reply_by"] = "2020-01-01T00:00:00+00:00"
                item["promise_outcome"] = None
        await route.fulfill(response=response, body=json.dumps(data))

    await page.route(re.compile(r"/api/v1/conversations(\?|/\d+$)"), promised_an_hour_ago)
    await page.get_by_label("Inbox").select_option(str(inbox["id"]))
    marker = console.row(name).locator(".sla.overdue")
    await expect(marker).to_have_text(re.compile(r"^overdue \d+ h \d+ min$"))
    await expect(console.row(name).locator(".name")).to_contain_text("first reply overdue")
    await console.open(name)
    await expect(page.locator("#conv-meta .sla.overdue")).to_be_visible()


async def test_the_inboxs_sla_clock_warns_then_shows_the_breach_live_and_after_a_reload(
    open_console: OpenConsole, console_api: Any
) -> None:
    """The service policy's clock (sla.warning, sla.breached): the supervisor
    watching the conversation sees the warning, then the breach, on its row
    and in its header; a console opened later reads it back."""
    inbox = await console_api.create_inbox()
    r = await console_api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/service-policy",
        json={"first_response_seconds": 16, "warning_ratio": 0.5},
        headers=console_api.auth(console_api.admin_token),
    )
    assert r.status_code == 200, r.text
    supervisor = await console_api.create_agent("supervisor")
    console = await open_console(supervisor)
    name = unique("Clocked")
    await customer_says(console_api, inbox, "is anyone there?", name=name)
    await console.page.get_by_label("Inbox").select_option(str(inbox["id"]))
    await console.open(name)
    header = console.page.locator("#conv-meta .sla")
    await expect(header).to_have_text("SLA due soon: first response", timeout=30_000)
    await expect(header).to_have_text("SLA breached: first response", timeout=30_000)
    await expect(console.row(name).locator(".sla.overdue")).to_have_text(
        "SLA breached: first response"
    )
    await expect(console.row(name).locator(".name")).to_contain_text("SLA breached")

    later = await open_console(supervisor)
    await later.page.get_by_label("Inbox").select_option(str(inbox["id"]))
    await later.open(name)
    await expect(later.page.locator("#conv-meta .sla.overdue")).to_have_text(
        "SLA breached: first response"
    )
