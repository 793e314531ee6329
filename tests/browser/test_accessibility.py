"""WCAG 2.2 AA, checked by axe-core (vendored: tests/browser/vendor/axe-core/)
in Chromium on every screen a shopper or an agent uses: the widget closed
(with and without an unread reply) and open on a shop's page of another
origin (desktop and phone), the hosted chat page, the console (sign-in, list,
a conversation), the admin pages and the reports page. A serious or critical
violation fails the test, named with the element it is on and what fixes it.

One server, one browser and one set of people for the whole file: each test
only opens its page (in a fresh context) and runs axe."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect

from tests.browser.conftest import WAIT, Console, Widget, customer_says
from tests.conftest import StartServer
from tests.harness import Api
from tests.reports.seed import seed
from tests.reports.test_standards_live import server_database

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# axe's tags for WCAG 2.0, 2.1 and 2.2 at levels A and AA (2.2 added AA rules
# only, such as target-size: axe has no "wcag22a" tag).
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Known:
    """A serious violation owned elsewhere: the rule, the elements it is on
    (a fragment of axe's target for each), and what fixes it."""

    rule: str
    on: tuple[str, ...]
    fix: str

    def covers(self, violation: dict[str, Any]) -> bool:
        return violation["id"] == self.rule and all(
            any(fragment in node["target"] for fragment in self.on) for node in violation["nodes"]
        )


# Known serious violations by page: such a test is an xfail naming them until
# their owner fixes them. Any other violation, or one on other elements, fails.
KNOWN: dict[str, list[Known]] = {}

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({
      impact: n.impact,
      target: JSON.stringify(n.target),
      summary: n.failureSummary,
    })),
  }));
}"""


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The page's WCAG A/AA violations, as axe reports them."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(RUN_AXE, WCAG_AA)
    return found


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:
            summary = " ".join(str(node["summary"]).split())
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


async def assert_accessible(page: Page, name: str) -> None:
    """Fails on serious or critical violations; prints the lesser ones."""
    violations = await axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    minor = [v for v in violations if v["impact"] not in BLOCKING]
    if minor:
        print(f"axe on {name}, below serious:\n{describe(minor)}")  # noqa: T201
    known = KNOWN.get(name, [])
    unknown = [v for v in blocking if not any(k.covers(v) for k in known)]
    assert not unknown, f"axe on {name}:\n{describe(unknown)}"
    if blocking:
        named = [f"{k.rule} ({k.fix})" for k in known if any(k.covers(v) for v in blocking)]
        pytest.xfail(f"known on {name}: " + "; ".join(named))


@dataclass
class Desk:
    api: Api
    admin: dict[str, Any]
    inbox: dict[str, Any]
    shop_url: str


@pytest.fixture(scope="module")
async def desk(start_module_server: StartServer, shop_url: str) -> Desk:
    # Grace 0: the admin's console, once closed, is offline at once, so routing
    # does not wait on it.
    api = await start_module_server({"MADOGUCHI_PRESENCE_GRACE_SECONDS": "0"})
    admin = await api.create_agent(role="admin", name="Hana Sato")
    inbox = await api.create_inbox()
    return Desk(api, admin, inbox, shop_url)


async def new_context(browser: Browser) -> BrowserContext:
    # The console's pages forbid inline scripts (script-src 'self'): axe is
    # injected as one, so the context bypasses the page's CSP.
    ctx = await browser.new_context(bypass_csp=True)
    ctx.set_default_timeout(WAIT * 1000)
    return ctx


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A tab of its own (its own storage: each widget starts as a new visitor's)."""
    ctx = await new_context(browser)
    yield await ctx.new_page()
    await ctx.close()


async def shop_widget(page: Page, desk: Desk) -> Widget:
    query = urlencode({"server": desk.api.server.url, "key": desk.inbox["widget_key"]})
    await page.goto(f"{desk.shop_url}/?{query}")
    widget = Widget(page, desk.api, desk.inbox["widget_key"])
    await widget.launcher.wait_for(state="visible")
    return widget


async def a_conversation_in(widget: Widget, desk: Desk) -> None:
    """The customer asks, an agent answers: the open panel shows both sides."""
    await widget.open()
    await widget.send("Hello, where is my order?")
    conversation_id = await widget.conversation_id()
    r = await desk.api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "It left our warehouse today."},
        headers=desk.api.auth(desk.admin["token"]),
    )
    assert r.status_code == 201, r.text
    await expect(widget.page.locator('[data-madoguchi-part="message"]')).to_have_count(2)


async def test_the_closed_widget(page: Page, desk: Desk) -> None:
    await shop_widget(page, desk)
    await assert_accessible(page, "widget closed")


async def test_the_closed_widget_with_an_unread_reply(page: Page, desk: Desk) -> None:
    widget = await shop_widget(page, desk)
    await widget.open()
    await widget.send("Do you have this in blue?")
    await widget.launcher.click()
    await widget.panel.wait_for(state="hidden")
    r = await desk.api.http.post(
        f"/api/v1/conversations/{await widget.conversation_id()}/messages",
        json={"body": "We do: size M and L."},
        headers=desk.api.auth(desk.admin["token"]),
    )
    assert r.status_code == 201, r.text
    await page.locator('[data-madoguchi-part="preview"]').wait_for(state="visible")
    await assert_accessible(page, "widget closed, unread reply")


async def test_the_open_widget_with_a_conversation(page: Page, desk: Desk) -> None:
    widget = await shop_widget(page, desk)
    await a_conversation_in(widget, desk)
    await assert_accessible(page, "widget open")


async def test_the_open_widget_on_a_phone(page: Page, desk: Desk) -> None:
    await page.set_viewport_size(PHONE)
    widget = await shop_widget(page, desk)
    await a_conversation_in(widget, desk)
    await assert_accessible(page, "widget open on a phone")


COVERED = """(panel) => {
  const root = panel.getRootNode();
  const covered = [];
  for (const el of panel.querySelectorAll("button, input, textarea, select, a[href]")) {
    if (el.closest("[hidden]") || el.getAttribute("aria-hidden") === "true") continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || r.top < 0 || r.left < 0) continue;
    if (r.bottom > innerHeight || r.right > innerWidth) continue;
    const top = root.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (top && (top === el || el.contains(top))) continue;
    const name = el.getAttribute("aria-label") || el.textContent.trim() || el.tagName;
    const over = !top ? "nothing" :
      top.getAttribute("data-madoguchi-part") || top.className || top.tagName;
    covered.push(name + " (under " + over + ")");
  }
  return covered;
}"""


async def test_nothing_covers_the_open_widgets_controls_on_a_phone(page: Page, desk: Desk) -> None:
    # A control under another element cannot be tapped, nor seen when focused (WCAG
    # 2.2's 2.4.11): axe's target-size sees only a partly covered one.
    await page.set_viewport_size(PHONE)
    widget = await shop_widget(page, desk)
    await a_conversation_in(widget, desk)
    covered = await widget.panel.evaluate(COVERED)
    assert covered == []


async def test_the_hosted_chat_page(page: Page, desk: Desk) -> None:
    await page.goto(f"{desk.api.server.url}/chat/{desk.inbox['widget_key']}")
    widget = Widget(page, desk.api, desk.inbox["widget_key"])
    await widget.panel.wait_for(state="visible")
    await widget.send("Is the shop open on Sunday?")
    await assert_accessible(page, "hosted chat page")


async def test_the_console_sign_in(page: Page, desk: Desk) -> None:
    await page.goto(f"{desk.api.server.url}/console")
    await page.locator("#login").wait_for(state="visible")
    await assert_accessible(page, "console sign-in")


@pytest.fixture(scope="module")
async def console(browser: Browser, desk: Desk) -> AsyncIterator[tuple[Console, str]]:
    """The admin's console, signed in, with a customer's new chat in the list:
    (the console, the customer's question)."""
    ctx = await new_context(browser)
    console = Console(await ctx.new_page(), desk.api, desk.admin)
    await console.sign_in()
    question = f"Can I change my delivery address? ({uuid.uuid4().hex[:4]})"
    await customer_says(desk.api, desk.inbox, question, name="Ken Tanaka")
    await expect(console.row(question)).to_be_visible()
    yield console, question
    await ctx.close()


async def test_the_console_list(console: tuple[Console, str]) -> None:
    await assert_accessible(console[0].page, "console list")


async def test_a_conversation_open_in_the_console(console: tuple[Console, str]) -> None:
    tab, question = console
    await tab.open(question)
    await tab.reply("Yes: which address should we use?")
    await expect(tab.messages().last).to_have_text("Yes: which address should we use?")
    await assert_accessible(tab.page, "console conversation")


async def signed_in(page: Page, desk: Desk, path: str) -> None:
    """Opens one of the console's other pages and signs the admin in there."""
    await page.goto(f"{desk.api.server.url}{path}")
    await page.locator("#email").fill(desk.admin["email"])
    await page.locator("#password").fill("agent-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body[data-loaded='1']")).to_have_count(1)


async def test_the_agents_page(page: Page, desk: Desk) -> None:
    await desk.api.create_agent(name="Yuki Mori", teams=["billing"])
    await signed_in(page, desk, "/console/agents")
    await assert_accessible(page, "agents page")


async def test_the_inboxes_page(page: Page, desk: Desk) -> None:
    await signed_in(page, desk, "/console/inboxes")
    await assert_accessible(page, "inboxes page")


async def test_the_reports_page(page: Page, desk: Desk) -> None:
    db = server_database(desk.api)
    try:
        seeded = await seed(db, agent_id=desk.admin["id"])
    finally:
        await db.dispose()
    query = {"from": "2026-11-16", "to": "2026-11-30", "tz": "Asia/Tokyo"}
    query["inbox_id"] = str(seeded.tokyo_inbox_id)
    await signed_in(page, desk, f"/console/reports?{urlencode(query)}")
    await expect(page.locator("#chart-response rect").first).to_be_attached()
    await assert_accessible(page, "reports page")
