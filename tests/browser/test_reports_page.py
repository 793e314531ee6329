"""The reports page in a real browser: a supervisor sees the seeded week's
figures (wall-clock and business), CSAT and SLA breaches, and charts."""

from __future__ import annotations

from urllib.parse import urlencode

from playwright.async_api import BrowserContext, expect

from tests.harness import Api
from tests.reports.seed import EXPECTED_TOKYO, seed
from tests.reports.test_standards_live import server_database


async def test_a_supervisor_sees_the_seeded_week(context: BrowserContext, api: Api) -> None:
    # Capacity 0: the page keeps them online, and this shared server's other
    # tests' chats are not theirs to take.
    supervisor = await api.create_agent("supervisor", capacity=0)
    db = server_database(api)
    try:
        seeded = await seed(db, agent_id=supervisor["id"])
    finally:
        await db.dispose()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    query = urlencode(
        {
            "from": "2026-11-16",
            "to": "2026-11-30",
            "tz": "Asia/Tokyo",
            "inbox_id": seeded.tokyo_inbox_id,
        }
    )
    await page.goto(f"{api.server.url}/console/reports?{query}")
    await page.get_by_placeholder("email").fill(supervisor["email"])
    await page.get_by_placeholder("password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)

    async def seconds(element_id: str) -> float:
        value = await page.locator(f"#{element_id}").get_attribute("data-seconds")
        assert value, element_id
        return float(value)

    fr, res = EXPECTED_TOKYO["first_response"], EXPECTED_TOKYO["resolution"]
    assert await seconds("fr-median") == fr["median"]
    assert await seconds("fr-business-median") == fr["business_median"]
    assert await seconds("fr-p90") == fr["p90"]
    assert await seconds("fr-business-p90") == fr["business_p90"]
    assert await seconds("res-median") == res["median"]
    assert await seconds("res-business-median") == res["business_median"]
    await expect(page.locator("#fr-median")).to_have_text("1h 15m")
    await expect(page.locator("#fr-business-median")).to_have_text("15m")
    await expect(page.locator("#csat-average")).to_have_text("4.00 / 5")
    await expect(page.locator("#csat-count")).to_have_text("2")
    await expect(page.locator("#sla-breaches")).to_have_text("1")
    await expect(page.locator("#opened")).to_have_text("3")
    # Charts: a bar per day and series, and the CSAT bars say 1 x "3", 1 x "5".
    await expect(page.locator("#chart-response rect")).to_have_count(14 * 3)
    csat_bars = page.locator("#chart-csat rect")
    assert [await csat_bars.nth(i).get_attribute("data-value") for i in range(5)] == [
        "0",
        "0",
        "1",
        "0",
        "1",
    ]
    await expect(page.locator("#chart-sla rect")).to_have_count(14)
    await expect(page.locator("#inbox")).to_have_value(str(seeded.tokyo_inbox_id))
    assert errors == []


async def test_the_console_leads_supervisors_to_the_reports_signed_in(
    context: BrowserContext, api: Api
) -> None:
    supervisor = await api.create_agent("supervisor", capacity=0)
    agent = await api.create_agent("agent")
    page = await context.new_page()
    await page.goto(f"{api.server.url}/console")
    await page.locator("#email").fill(agent["email"])
    await page.locator("#password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.get_by_role("link", name="Reports")).to_be_hidden()
    await page.get_by_role("button", name="Sign out").click()

    await page.locator("#email").fill(supervisor["email"])
    await page.locator("#password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name="Reports").click()
    # The console's sign-in holds on the reports page: no second password.
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)
    await expect(page.locator("#login")).to_be_hidden()
