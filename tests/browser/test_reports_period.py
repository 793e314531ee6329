"""Issue 30 on the reports page: it opens on the last 7 days with today, its
presets and filters change what the supervisor reads, each agent has a row,
the CSV follows the filters, and a link leads back to the console."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import BrowserContext, Page, expect

from app.models import Conversation, Customer, Message
from tests.browser.conftest import customer_says
from tests.harness import Api
from tests.reports.test_standards_live import server_database


async def answer(api: Api, agent: dict[str, Any], conversation_id: int) -> None:
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "On its way."},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 201, r.text


async def answered_ten_days_ago(api: Api, inbox_id: int, agent_id: int) -> None:
    """A conversation from before the last 7 days (and within 30): its first
    response came after 20 minutes."""
    asked = datetime.now(UTC) - timedelta(days=10)
    answered = asked + timedelta(minutes=20)
    db = server_database(api)
    try:
        async with db.write() as session:
            customer = Customer(name="Earlier customer", created_at=asked)
            session.add(customer)
            await session.flush()
            c = Conversation(
                inbox_id=inbox_id,
                customer_id=customer.id,
                thread_key=f"old-{uuid.uuid4().hex}",
                status="open",
                assignee_id=agent_id,
                created_at=asked,
                updated_at=answered,
                last_message_at=answered,
                last_seq=2,
            )
            session.add(c)
            await session.flush()
            for seq, (kind, when) in enumerate((("customer", asked), ("agent", answered)), 1):
                session.add(
                    Message(
                        conversation_id=c.id,
                        inbox_id=inbox_id,
                        seq=seq,
                        author_kind=kind,
                        body=f"{kind} {seq}",
                        private=False,
                        author_agent_id=agent_id if kind == "agent" else None,
                        created_at=when,
                        sent_at=when,
                    )
                )
    finally:
        await db.dispose()


async def sign_in(page: Page, api: Api, supervisor: dict[str, Any], query: str) -> None:
    await page.goto(f"{api.server.url}/console/reports?{query}")
    await page.get_by_label("Email", exact=True).fill(supervisor["email"])
    await page.get_by_label("Password", exact=True).fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)


async def reloaded(page: Page) -> None:
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)


async def test_the_supervisor_reads_this_week_then_narrows_it(
    context: BrowserContext, api: Api
) -> None:
    tag = uuid.uuid4().hex[:6]
    inbox = await api.create_inbox()
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/service-policy",
        json={"first_response_seconds": 600},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    # Capacity 0: answering by hand, never handed other tests' chats.
    hana = await api.create_agent(teams=[f"north-{tag}"], capacity=0, name=f"Hana {tag}")
    kenji = await api.create_agent(teams=[f"south-{tag}"], capacity=0, name=f"Kenji {tag}")
    supervisor = await api.create_agent("supervisor", capacity=0)
    _, first = await customer_says(api, inbox, "Where is my order?")
    _, second = await customer_says(api, inbox, "Can I change the size?")
    await answer(api, hana, first)
    await answer(api, kenji, second)
    await answered_ten_days_ago(api, inbox["id"], hana["id"])

    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # No period asked for: the last 7 days, today included.
    await sign_in(page, api, supervisor, urlencode({"inbox_id": inbox["id"]}))
    await expect(page.get_by_role("button", name="7 days")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(page.locator("#opened")).to_have_text("2")
    await expect(page.locator("#fr-count")).to_have_text("2")
    await expect(page.locator("#sla-attainment")).to_have_text("100%")
    await expect(page.locator("#shown-period")).to_contain_text("both included")

    # Each agent's row: the conversation they answered, and its first response.
    hana_row = page.get_by_role("row", name=f"Hana {tag}")
    await expect(hana_row.get_by_role("cell").nth(0)).to_have_text("1")
    await expect(hana_row.get_by_role("cell").nth(5)).to_have_text("100% (1 of 1)")
    await expect(page.get_by_role("row", name=f"Kenji {tag}")).to_be_visible()

    # 30 days takes in the earlier conversation, answered after 20 minutes.
    await page.get_by_role("button", name="30 days").click()
    await reloaded(page)
    await expect(page.locator("#opened")).to_have_text("3")
    await expect(page.locator("#sla-attainment")).to_have_text("67%")
    await expect(hana_row.get_by_role("cell").nth(0)).to_have_text("2")
    await expect(hana_row.get_by_role("cell").nth(5)).to_have_text("50% (1 of 2)")

    # A team narrows it to the agent in it.
    await page.get_by_label("Team", exact=True).select_option(f"south-{tag}")
    await reloaded(page)
    await expect(page.locator("#fr-count")).to_have_text("1")
    await expect(page.get_by_role("row", name=f"Kenji {tag}")).to_be_visible()
    await expect(page.get_by_role("row", name=f"Hana {tag}")).to_have_count(0)
    await page.get_by_label("Team", exact=True).select_option("")
    await page.get_by_label("Agent", exact=True).select_option(label=f"Hana {tag}")
    await reloaded(page)
    await expect(page.locator("#fr-count")).to_have_text("2")

    # The CSV is the same period and filters: 30 rows, Hana's 2 first responses.
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await download_info.value
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
    assert len(rows) == 30
    assert sum(int(row["first_response_count"]) for row in rows) == 2

    # Today alone: the two chats of today, Hana's one answer.
    await page.get_by_role("button", name="Today").click()
    await reloaded(page)
    await expect(page.locator("#fr-count")).to_have_text("1")
    await expect(page.get_by_label("From", exact=True)).to_have_value(
        await page.get_by_label("To", exact=True).input_value()
    )

    await page.get_by_role("link", name="Back to the console").click()
    await expect(page).to_have_url(f"{api.server.url}/console")
    await expect(page.locator("#app")).to_be_visible()
    assert errors == []
