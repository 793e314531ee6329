"""Files both ways, canned responses, escalation, the customer across channels,
and read marks after a reload: in the widget and the console, in a browser."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import OpenConsole, Widget, customer_says, eventually
from tests.browser.test_console import away_agent
from tests.harness import Api

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


async def _shop_widget(
    context: BrowserContext, api: Api, inbox: dict[str, Any], shop_url: str
) -> Widget:
    page = await context.new_page()
    widget = Widget(page, api, inbox["widget_key"])
    await page.goto(
        f"{shop_url}/?{urlencode({'server': api.server.url, 'key': inbox['widget_key']})}"
    )
    return widget


async def test_customer_and_agent_send_each_other_files(
    context: BrowserContext,
    console_api: Api,
    open_console: OpenConsole,
    shop_url: str,
    tmp_path: Path,
) -> None:
    inbox = await console_api.create_inbox()
    console = await open_console(role="supervisor")
    widget = await _shop_widget(context, console_api, inbox, shop_url)
    await widget.open()
    hello = unique("A photo of the damage")
    await widget.send(hello)
    await console.open(hello)

    # The customer attaches a file: stored, marked sent, a download of their own.
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("領収書 no. 42\n")
    await widget.page.locator('[data-madoguchi-part="file-input"]').set_input_files(receipt)
    mine = widget.page.locator('[data-madoguchi-part="message"][data-author=customer]').last
    # Stored ("Sent"), or already read by the agent who has the chat open.
    await expect(mine.locator(".mark")).to_have_text(re.compile("^(Sent|Read)$"))
    await expect(mine.locator('[data-madoguchi-part="body"]')).to_have_text("[file: receipt.txt]")
    async with widget.page.expect_download() as own:
        await mine.locator('[data-madoguchi-part="file"]').click()
    saved = await (await own.value).path()
    assert Path(saved).read_bytes() == receipt.read_bytes()

    # The agent sees it live, with a download button, and gets the same bytes.
    button = console.page.get_by_role("button", name="Download receipt.txt")
    await expect(button).to_be_visible()
    async with console.page.expect_download() as got:
        await button.click()
    download = await got.value
    assert download.suggested_filename == "receipt.txt"
    assert Path(await download.path()).read_bytes() == receipt.read_bytes()

    # The agent attaches a file; the customer sees it and downloads it.
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(PDF)
    await console.page.locator("#attach").set_input_files(invoice)
    await expect(console.messages().last).to_have_text("[file: invoice.pdf]")
    theirs = widget.page.locator('[data-madoguchi-part="message"][data-author=agent]').last
    await expect(theirs.locator('[data-madoguchi-part="body"]')).to_have_text("[file: invoice.pdf]")
    async with widget.page.expect_download() as got:
        await theirs.locator('[data-madoguchi-part="file"]').click()
    assert Path(await (await got.value).path()).read_bytes() == PDF

    # A page of markup is refused, and the customer is told so.
    page_file = tmp_path / "trap.html"
    page_file.write_text("<!doctype html><script>alert(1)</script>")
    await widget.page.locator('[data-madoguchi-part="file-input"]').set_input_files(page_file)
    refused = widget.page.locator('[data-madoguchi-part="message"][data-state=failed] .mark')
    await expect(refused).to_contain_text("not accepted")
    assert widget.dialogs == []


async def test_read_mark_shows_again_after_a_reload(
    context: BrowserContext, console_api: Api, shop_url: str
) -> None:
    inbox = await console_api.create_inbox()
    agent = await console_api.create_agent()
    widget = await _shop_widget(context, console_api, inbox, shop_url)
    await widget.open()
    await widget.send("did you get my order?")
    conversation_id = await widget.conversation_id()
    r = await console_api.http.post(
        f"/api/v1/conversations/{conversation_id}/read",
        json={"seq": 1},
        headers=console_api.auth(agent["token"]),
    )
    assert r.status_code == 204, r.text
    mark = widget.page.locator('[data-madoguchi-part="message"][data-author=customer] .mark')
    await expect(mark).to_have_text("Read")
    await widget.page.reload()
    await expect(mark).to_have_text("Read")


async def test_canned_response_by_slash_shortcut(
    open_console: OpenConsole, console_api: Api
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Yuki")
    await customer_says(console_api, inbox, "when do you open?", name=name)
    console = await open_console(role="supervisor")
    page = console.page
    # Made in the console itself.
    await page.locator("#canned summary").click()
    await page.get_by_label("Shortcut", exact=True).fill("hours")
    await page.get_by_label("Text", exact=True).fill("Hi {customer_name}, we open at 9:00.")
    await page.get_by_role("button", name="Save canned response").click()
    await expect(page.locator("#canned-list")).to_contain_text("/hours")

    await console.open(name)
    box = page.get_by_label("Reply")
    await box.press_sequentially("/ho")
    picker = page.get_by_role("listbox", name="Canned responses")
    await expect(picker).to_be_visible()
    await expect(picker.get_by_role("option")).to_have_text([re.compile(r"^/hours")])
    await box.press("Enter")
    await expect(picker).to_be_hidden()
    await expect(box).to_have_value(f"Hi {name}, we open at 9:00.")
    # Enter again sends it.
    await box.press("Enter")
    await expect(console.messages().last).to_have_text(f"Hi {name}, we open at 9:00.")


async def test_escalate_to_a_supervisor_with_a_note(
    open_console: OpenConsole, console_api: Api
) -> None:
    inbox = await console_api.create_inbox()
    name = unique("Ken")
    _, conversation_id = await customer_says(console_api, inbox, "I want a refund", name=name)
    console = await open_console(await away_agent(console_api, role="agent"))
    await console.open(name)
    page = console.page
    await page.get_by_role("button", name="Assign to me").click()
    await expect(page.locator("#conv-meta")).to_contain_text("Assigned to")
    await page.locator("#escalate summary").click()
    await page.locator("#escalate-to").select_option("supervisor")
    await page.get_by_label("Escalation note").fill("asks for a refund over the limit")
    await page.get_by_role("button", name="Escalate", exact=True).click()
    await expect(page.locator("#conv-meta")).to_contain_text("Unassigned")
    await expect(console.messages().last).to_contain_text("asks for a refund over the limit")

    async def escalated() -> bool:
        r = await console_api.http.get(
            f"/api/v1/conversations/{conversation_id}",
            headers=console_api.auth(console_api.admin_token),
        )
        return r.json()["assignee_id"] != console.agent["id"]

    await eventually(escalated, "the escalation")


async def test_history_across_channels_and_answering_on_another(
    open_console: OpenConsole, console_api: Api
) -> None:
    inbox = await console_api.create_inbox()
    address = f"help-{uuid.uuid4().hex[:6]}@shop.test"
    r = await console_api.http.post(
        "/api/v1/inboxes",
        json={"name": "Mail", "channel": "email", "config": {"address": address}},
        headers=console_api.auth(console_api.admin_token),
    )
    assert r.status_code == 201, r.text
    name = unique("Sora")
    session = await console_api.new_session(inbox, name=name, email="sora@example.com")
    token = session["session_token"]
    async with console_api.widget(token) as socket:
        await socket.send({"type": "message", "client_id": "c-1", "body": "send me the manual"})
        await socket.expect("ack")
    console = await open_console(role="supervisor")
    await console.open(name)
    page = console.page
    timeline = page.get_by_role("list", name="History across channels")
    await expect(timeline.locator("li")).to_have_count(1)
    await expect(timeline.locator("li").first).to_contain_text("web")

    await page.locator("#other-channel summary").click()
    await page.get_by_label("Through").select_option(label="Mail (email)")
    await page.get_by_label("Subject").fill("Your manual")
    await page.get_by_label("Text to send").fill("Here is the manual you asked for.")
    await page.get_by_role("button", name="Answer on that channel").click()
    # The new email conversation opens, and the history holds both channels.
    await expect(page.locator("#conv-meta")).to_contain_text("email")
    await expect(console.messages().last).to_have_text("Here is the manual you asked for.")
    await expect(timeline.locator("li")).to_have_count(2)
    await expect(timeline.locator(".badge").first).to_have_text("web")
    await expect(timeline.locator("li").last).to_contain_text("email")
    await expect(timeline.locator("li").last).to_contain_text("Here is the manual you asked for.")
    # The other conversation is a click away.
    await timeline.locator("li").first.get_by_role("button").click()
    await expect(console.messages().last).to_have_text("send me the manual")
