"""The widget on a shop's first day: a reply while the panel is closed is
noticed (badge, preview, title, sound) and never marked read before the
customer sees it; read marks belong to their own conversation."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import BrowserContext, Page, WebSocket, expect

from tests.browser.conftest import OpenShop, Reply, Widget, eventually
from tests.harness import Api

# A page whose tab the test can hide, and whose chimes it can count: the
# widget's WebAudio oscillators are counted, not played.
HIDEABLE = """
window.__chimes = 0;
window.AudioContext = class {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() {
    return {frequency: {value: 0}, connect() {}, start() { window.__chimes += 1; }, stop() {}};
  }
  createGain() {
    return {gain: {setValueAtTime() {}, exponentialRampToValueAtTime() {}}, connect() {}};
  }
};
window.__hide = (hidden) => {
  Object.defineProperty(document, "visibilityState",
    {configurable: true, get: () => (hidden ? "hidden" : "visible")});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
  document.dispatchEvent(new Event("visibilitychange"));
};
"""


async def _hideable_shop(shop: OpenShop, page: Page, **attributes: str) -> tuple[Widget, list[int]]:
    """The shop's page, with the seqs of every read frame the widget sends."""
    await page.add_init_script(HIDEABLE)
    reads: list[int] = []

    def on_socket(ws: WebSocket) -> None:
        def sent(payload: str | bytes) -> None:
            frame = json.loads(payload)
            if frame.get("type") == "read":
                reads.append(int(frame["seq"]))

        ws.on("framesent", sent)

    page.on("websocket", on_socket)
    return await shop(page, **attributes), reads


async def _customer_read_seq(api: Api, agent: dict[str, Any], conversation_id: int) -> int:
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text
    return int(r.json()["customer_last_read_seq"])


async def test_a_reply_to_a_closed_panel_is_noticed_and_not_marked_read(
    context: BrowserContext, shop: OpenShop, api: Api, agent: dict[str, Any], reply: Reply
) -> None:
    widget, reads = await _hideable_shop(shop, await context.new_page())
    page = widget.page
    await widget.open()
    await widget.send("Do you ship to Osaka?")
    conversation_id = await widget.conversation_id()
    await page.get_by_label("Message").press("Escape")
    await expect(widget.panel).to_be_hidden()

    # Replies arrive while the panel is closed and the tab is in the background.
    await page.evaluate("window.__hide(true)")
    answers = [f"Answer {n}:\n" + "\n".join(f"line {i}" for i in range(12)) for n in (1, 2)]
    for answer in answers:
        await reply(conversation_id, answer)
    badge = page.locator('[data-madoguchi-part="badge"]')
    await expect(badge).to_have_text("2")
    preview = page.locator('[data-madoguchi-part="preview"]')
    await expect(preview).to_be_visible()
    await expect(preview).to_contain_text(agent["name"])
    await expect(preview).to_contain_text("Answer 2:")
    await expect(widget.launcher).to_have_accessible_name("Chat 2 unread")
    await expect(page).to_have_title("(2) New message – A shop")
    assert await page.evaluate("window.__chimes") > 0

    # Nothing was seen: no read mark left the widget, none is stored.
    stored = await api.messages(conversation_id)
    first_answer = next(m["seq"] for m in stored if m["body"] == answers[0])
    assert all(seq < first_answer for seq in reads), reads
    assert await _customer_read_seq(api, agent, conversation_id) < first_answer

    # The tab comes to the front: the title is the page's again, the badge stays.
    await page.evaluate("window.__hide(false)")
    await expect(page).to_have_title("A shop")
    await expect(badge).to_have_text("2")
    assert await _customer_read_seq(api, agent, conversation_id) < first_answer

    # Opened: the first unread reply is in view, and now it is read.
    await preview.click()
    await expect(widget.panel).to_be_visible()
    first = page.locator('[data-madoguchi-part="message"]', has_text="Answer 1:")
    await expect(first.locator('[data-madoguchi-part="author"]')).to_be_in_viewport()
    await expect(badge).to_be_hidden()
    await expect(preview).to_be_hidden()
    last_seq = int(stored[-1]["seq"])

    async def read_all() -> bool:
        return await _customer_read_seq(api, agent, conversation_id) == last_seq

    await eventually(read_all, "the customer's read mark after opening")


async def test_sound_off_keeps_the_title_cue_but_no_chime(
    context: BrowserContext, shop: OpenShop, reply: Reply
) -> None:
    widget, _ = await _hideable_shop(shop, await context.new_page(), sound="off")
    page = widget.page
    await widget.open()
    await widget.send("Is it gift wrapped?")
    conversation_id = await widget.conversation_id()
    await widget.launcher.click()
    await page.evaluate("window.__hide(true)")
    await reply(conversation_id, "Yes, for free")
    await expect(page).to_have_title("(1) New message – A shop")
    assert await page.evaluate("window.__chimes") == 0


async def test_a_new_conversation_after_a_resolve_is_not_read_at_once(
    shop: OpenShop, api: Api, agent: dict[str, Any], reply: Reply
) -> None:
    widget = await shop()
    await widget.open()
    await widget.send("Where is my order?")
    first = await widget.conversation_id()
    await reply(first, "It left today")
    await reply(first, "Anything else?")
    stored = await api.messages(first)
    r = await api.http.post(
        f"/api/v1/conversations/{first}/read",
        json={"seq": stored[-1]["seq"]},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 204, r.text
    marks = widget.page.locator('[data-madoguchi-part="message"][data-author=customer] .mark')
    await expect(marks.first).to_have_text("Read")
    r = await api.http.post(
        f"/api/v1/conversations/{first}/resolve", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text
    await expect(widget.page.locator('[data-madoguchi-part="resolved"]')).to_be_visible()

    # The next question opens a new conversation: its seq 1 is not "read"
    # because the old conversation was read past 1.
    await widget.send("One more question")
    second = await widget.conversation_id()
    assert second != first
    await expect(marks.last).to_have_text("Sent")
    await expect(marks.first).to_have_text("Read")
    r = await api.http.post(
        f"/api/v1/conversations/{second}/read", json={"seq": 1}, headers=api.auth(agent["token"])
    )
    assert r.status_code == 204, r.text
    await expect(marks.last).to_have_text("Read")
