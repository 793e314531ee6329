"""The widget as a customer uses it: panel, phone, links, typing, read marks,
connection state, availability, email, pre-chat form and rating."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from playwright.async_api import Browser, BrowserContext, Route, WebSocketRoute, expect

from tests.browser.conftest import WIDGET_SOCKET, OpenShop, Outage, Reply, eventually
from tests.harness import Api


async def test_escape_closes_and_the_open_state_survives_a_reload(shop: OpenShop) -> None:
    widget = await shop()
    await widget.open()
    await widget.page.reload()
    await expect(widget.panel).to_be_visible()
    await widget.page.get_by_label("Message").press("Escape")
    await expect(widget.panel).to_be_hidden()
    await expect(widget.launcher).to_be_focused()
    await widget.page.reload()
    await expect(widget.launcher).to_be_visible()
    await expect(widget.panel).to_be_hidden()


async def test_on_a_phone_the_panel_takes_the_whole_screen(
    browser: Browser, api: Api, inbox: dict[str, Any], shop_url: str
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = await context.new_page()
        await page.goto(f"{shop_url}/?server={api.server.url}&key={inbox['widget_key']}")
        await page.locator('[data-madoguchi-part="launcher"]').click()
        panel = page.locator('[data-madoguchi-part="panel"]')
        await expect(panel).to_be_visible()
        box = await panel.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
        size = await page.get_by_label("Message").evaluate("e => getComputedStyle(e).fontSize")
        # Under 16 px, iOS zooms into the page on focus.
        assert float(size.removesuffix("px")) >= 16
    finally:
        await context.close()


async def test_a_long_url_wraps_and_is_a_link(shop: OpenShop, reply: Reply) -> None:
    url = "https://example.com/" + "a" * 300 + "?q=1"
    widget = await shop()
    await widget.open()
    await widget.send("hi")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, f"See {url}. And javascript:alert(1) is not a link.")
    link = widget.page.locator('[data-madoguchi-part="body"] a')
    await expect(link).to_have_count(1)
    await expect(link).to_have_attribute("href", url)
    await expect(link).to_have_text(url)
    log = widget.page.locator('[data-madoguchi-part="log"]')
    overflow = await log.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0


async def test_hostile_page_css_does_not_reach_the_widget(shop: OpenShop) -> None:
    widget = await shop()
    await widget.page.add_style_tag(
        content="* { color: red !important; font-size: 40px !important;"
        " background: lime !important; display: inline !important }"
        " button, input, div, section { visibility: hidden !important; }"
    )
    await widget.open()
    message = widget.page.get_by_label("Message")
    await expect(message).to_be_visible()
    style = await message.evaluate(
        "e => { const s = getComputedStyle(e); return [s.fontSize, s.color, s.display]; }"
    )
    assert style == ["16px", "rgb(29, 36, 51)", "block"]
    launcher = await widget.launcher.evaluate(
        "e => [getComputedStyle(e).fontSize, getComputedStyle(e).backgroundColor]"
    )
    assert launcher == ["14px", "rgb(31, 58, 95)"]


async def test_japanese_from_the_browser_language_and_japanese_text(
    browser: Browser, api: Api, inbox: dict[str, Any], shop_url: str, reply: Reply
) -> None:
    context = await browser.new_context(locale="ja-JP")
    try:
        page = await context.new_page()
        await page.goto(f"{shop_url}/?server={api.server.url}&key={inbox['widget_key']}")
        launcher = page.locator('[data-madoguchi-part="launcher"]')
        await expect(launcher).to_have_text("チャット")
        await launcher.click()
        await page.get_by_label("メッセージ").fill("こんにちは、注文について")
        await page.get_by_label("メッセージ").press("Enter")
        await expect(page.locator('[data-madoguchi-part="message"] .mark')).to_have_text("送信済み")
    finally:
        await context.close()


async def test_typing_shows_both_ways(shop: OpenShop, api: Api, agent: dict[str, Any]) -> None:
    widget = await shop()
    await widget.open()
    await widget.send("hello")
    conversation_id = await widget.conversation_id()
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await console.send({"type": "watch", "conversation_id": conversation_id})
        await console.expect("watch")
        await widget.page.get_by_label("Message").press_sequentially("are")
        typing = await console.expect("typing")
        assert typing["conversation_id"] == conversation_id
        assert typing["author"]["kind"] == "customer"

        await console.send({"type": "typing", "conversation_id": conversation_id, "on": True})
        typing_line = widget.page.locator('[data-madoguchi-part="typing"]')
        await expect(typing_line).to_have_text(f"{agent['name']} is typing…")
        await console.send({"type": "typing", "conversation_id": conversation_id, "on": False})
        await expect(typing_line).to_have_text("")


async def test_read_marks_both_ways(
    shop: OpenShop, api: Api, agent: dict[str, Any], reply: Reply
) -> None:
    widget = await shop()
    await widget.open()
    await widget.send("is this in stock?")
    conversation_id = await widget.conversation_id()
    mark = widget.page.locator('[data-madoguchi-part="message"][data-author=customer] .mark')
    await expect(mark).to_have_text("Sent")
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/read",
        json={"seq": 1},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 204, r.text
    await expect(mark).to_have_text("Read")

    # The agent's answer, seen in the open panel, is marked read for agents.
    await reply(conversation_id, "yes")
    await widget.shows_history(conversation_id)

    async def read_by_customer() -> bool:
        r = await api.http.get(
            f"/api/v1/conversations/{conversation_id}", headers=api.auth(agent["token"])
        )
        return bool(r.json()["customer_last_read_seq"] == 2)

    await eventually(read_by_customer, "the customer's read mark")


async def test_a_dropped_socket_shows_reconnecting_until_it_is_back(
    context: BrowserContext, shop: OpenShop, reply: Reply
) -> None:
    outage = await Outage.on(context, WIDGET_SOCKET)
    widget = await shop()
    await widget.open()
    await widget.send("hello")
    connection = widget.page.locator('[data-madoguchi-part="connection"]')
    await expect(connection).to_be_hidden()
    await outage.cut()
    await expect(connection).to_have_text("Connection lost – reconnecting…")
    outage.restore()
    await expect(connection).to_be_hidden()


async def test_availability_says_when_we_reply(shop: OpenShop) -> None:
    widget = await shop()
    await widget.open()
    await expect(widget.page.locator('[data-madoguchi-part="availability"]')).to_have_text(
        re.compile(r"^We reply in about (a minute|\d+ minutes|\d+ hours)$")
    )
    await expect(widget.page.locator('[data-madoguchi-part="email-form"]')).to_be_hidden()


def next_monday_nine() -> datetime:
    now = datetime.now().astimezone()
    days = (7 - now.weekday()) % 7 or 7
    return (now + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)


async def test_away_says_when_we_are_back_and_takes_an_email(
    context: BrowserContext, api: Api, shop: OpenShop, agent: dict[str, Any]
) -> None:
    # Business hours are another branch's: the server's `availability` frame is
    # played here as the contract gives it.
    back = next_monday_nine().isoformat()

    async def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["type"] == "availability":
                frame = {"type": "availability", "open": False, "next_open_at": back}
            ws.send(json.dumps(frame))

        server.on_message(from_server)

    await context.route_web_socket(WIDGET_SOCKET, route)
    widget = await shop()
    await widget.open()
    page = widget.page
    await expect(page.locator('[data-madoguchi-part="availability"]')).to_have_text(
        re.compile(r"^We are away, back Monday 9:00\sAM$")
    )
    email_form = page.locator('[data-madoguchi-part="email-form"]')
    await expect(email_form).to_contain_text("We'll answer by email")
    await widget.send("please call me back")
    await email_form.get_by_role("textbox").fill("mika@example.com")
    await email_form.get_by_role("button", name="Save").click()
    await expect(email_form).to_contain_text("Thanks, we'll answer at mika@example.com")
    conversation_id = await widget.conversation_id()
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    customer = await api.http.get(
        f"/api/v1/customers/{r.json()['customer_id']}", headers=api.auth(api.admin_token)
    )
    assert customer.json()["claimed_email"] == "mika@example.com"
    await page.reload()
    await expect(widget.panel).to_be_visible()  # it was open: it opens again
    await expect(email_form).to_contain_text("Thanks, we'll answer at mika@example.com")


async def test_the_away_text_comes_from_the_session_answer_too(
    context: BrowserContext, api: Api, shop: OpenShop
) -> None:
    back = next_monday_nine().isoformat()

    async def sessions(route: Route) -> None:
        response = await route.fetch()
        body = await response.json()
        body["availability"] = {"open": False, "next_open_at": back, "expected_reply_seconds": 300}
        await route.fulfill(response=response, body=json.dumps(body))

    async def held(ws: WebSocketRoute) -> None:
        pass  # never connects: only the session answer speaks

    await context.route(f"{api.server.url}/api/v1/widget/sessions", sessions)
    await context.route_web_socket(WIDGET_SOCKET, held)
    widget = await shop()
    await widget.open()
    await expect(widget.page.locator('[data-madoguchi-part="availability"]')).to_have_text(
        re.compile(r"^We are away, back Monday 9:00\sAM$")
    )


async def test_pre_chat_form_names_the_customer(shop: OpenShop, api: Api) -> None:
    widget = await shop(prechat="1")
    await widget.open()
    page = widget.page
    form = page.locator('[data-madoguchi-part="prechat"]')
    await expect(form).to_be_visible()
    await expect(page.get_by_label("Message")).to_be_hidden()
    await form.get_by_label("Name").fill("Yuki")
    await form.get_by_label("Email").fill("yuki@example.com")
    await form.get_by_role("button", name="Start chat").click()
    await expect(form).to_be_hidden()
    await widget.send("hello from Yuki")
    conversation_id = await widget.conversation_id()
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    assert r.json()["customer"]["name"] == "Yuki"
    stored = await api.messages(conversation_id)
    assert stored[0]["author"]["name"] == "Yuki"
    await page.reload()
    await expect(widget.panel).to_be_visible()  # it was open: it opens again
    await expect(form).to_be_hidden()


async def test_a_resolved_conversation_asks_for_a_rating(
    shop: OpenShop, api: Api, agent: dict[str, Any], reply: Reply
) -> None:
    widget = await shop()
    await widget.open()
    await widget.send("thanks for the help")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "you're welcome")
    csat = widget.page.locator('[data-madoguchi-part="csat"]')
    await expect(csat).to_be_hidden()
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/resolve", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text
    await expect(csat).to_be_visible()
    await csat.get_by_role("radio", name="4 of 5 – Good").check()
    await csat.get_by_label("Comment (optional)").fill("quick and kind")
    await csat.get_by_role("button", name="Rate").click()
    await expect(widget.page.locator('[data-madoguchi-part="csat-thanks"]')).to_be_visible()
    await expect(csat).to_be_hidden()
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(agent["token"])
    )
    assert r.json()["csat"]["rating"] == 4
    assert r.json()["csat"]["comment"] == "quick and kind"
    await widget.page.reload()
    await expect(widget.panel).to_be_visible()  # it was open: it opens again
    await expect(csat).to_be_hidden()
