"""Item 4 of issue 30: a supervisor who opens Reports in the console's tab
stays at the desk. The reports page holds the agent socket, so the console's
socket closing starts no grace period that ends with them offline and their
chat back in the queue."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import Console, customer_says, eventually
from tests.conftest import StartServer
from tests.harness import Api

# Short, so the test waits past it; long enough for a page change in between.
GRACE_SECONDS = 2.0


async def assignee(api: Api, conversation_id: int) -> Any:
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200, r.text
    return r.json()["assignee_id"]


async def test_reading_reports_keeps_the_supervisor_and_their_chat(
    context: BrowserContext, start_module_server: StartServer
) -> None:
    # A server of its own: the supervisor is the only agent who can be online.
    api = await start_module_server({"MADOGUCHI_PRESENCE_GRACE_SECONDS": str(GRACE_SECONDS)})
    inbox = await api.create_inbox()
    supervisor = await api.create_agent("supervisor")
    console = Console(await context.new_page(), api, supervisor)
    await console.sign_in()
    _, conversation_id = await customer_says(api, inbox, "Where is my order?")

    async def assigned_to_supervisor() -> bool:
        return bool(await assignee(api, conversation_id) == supervisor["id"])

    await eventually(assigned_to_supervisor, "the chat routed to the supervisor")

    page = console.page
    await page.get_by_role("link", name="Reports").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    await expect(page.locator("#presence")).to_have_text("You are online")
    # Past the grace period the console's closed socket started.
    await asyncio.sleep(GRACE_SECONDS * 2)
    assert await assignee(api, conversation_id) == supervisor["id"]
    r = await api.http.get("/api/v1/agents/me", headers=api.auth(supervisor["token"]))
    assert r.json()["status"] == "online"

    # And back at the console, the chat is still theirs to answer.
    await page.get_by_role("link", name="Back to the console").click()
    await console.connected()
    await expect(console.row("Where is my order?")).to_be_visible()

    # The proof the wait meant something: leaving the desk does release it.
    await page.goto("about:blank")

    async def released() -> bool:
        return await assignee(api, conversation_id) is None

    await eventually(released, "the chat back in the queue once the supervisor left")
