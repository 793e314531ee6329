"""The end of a chat as the customer sees it: the last answer stays in view,
the panel says the chat was resolved, the rating is one choice of five, and
the resolved chat is still there after a reload."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import OpenShop, Reply
from tests.harness import Api


async def test_the_end_of_a_chat(
    shop: OpenShop, api: Api, agent: dict[str, Any], reply: Reply
) -> None:
    widget = await shop()
    page = widget.page
    await widget.open()
    await widget.send("Can I change my delivery address?")
    conversation_id = await widget.conversation_id()
    await reply(conversation_id, "Done: " + "\n".join(f"step {i}" for i in range(10)))
    last_answer = "Your parcel now goes to Kyoto. Have a good day!"
    await reply(conversation_id, last_answer)
    await widget.shows_history(conversation_id)
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/resolve", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text

    resolved = page.locator('[data-madoguchi-part="resolved"]')
    await expect(resolved).to_have_text("This chat was resolved.")
    csat = page.locator('[data-madoguchi-part="csat"]')
    await expect(csat).to_be_visible()
    # The prompt comes below the history: the agent's last words stay readable.
    last = page.locator('[data-madoguchi-part="message"]', has_text=last_answer)
    await expect(last.locator('[data-madoguchi-part="author"]')).to_be_in_viewport()
    # One button says Send: the composer's.
    await expect(page.get_by_role("button", name="Send", exact=True)).to_have_count(1)

    # A radio group of five labelled choices, one at a time, by keyboard too.
    group = csat.get_by_role("radiogroup", name="How did we do?")
    await expect(group.get_by_role("radio")).to_have_count(5)
    await expect(group.get_by_role("radio", name="1 of 5 – Very poor")).to_be_attached()
    await expect(group.get_by_role("radio", name="5 of 5 – Excellent")).to_be_attached()
    faces = group.locator("label")
    await group.get_by_role("radio", name="2 of 5 – Poor").check()
    await expect(group.get_by_role("radio", name="2 of 5 – Poor")).to_be_checked()
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    await expect(group.get_by_role("radio", name="4 of 5 – Good")).to_be_checked()
    await expect(group.locator("input:checked")).to_have_count(1)
    for i in range(5):
        box = await faces.nth(i).bounding_box()
        assert box is not None
        assert box["width"] >= 24, box
        assert box["height"] >= 24, box
    await csat.get_by_label("Comment (optional)").fill("fast")
    await csat.get_by_role("button", name="Rate").click()
    thanks = page.locator('[data-madoguchi-part="csat-thanks"]')
    await expect(thanks).to_have_text("Thank you for your rating")
    await expect(csat).to_be_hidden()
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(agent["token"])
    )
    assert r.json()["csat"]["rating"] == 4

    # Reopened: the chat goes on, no thanks and no "resolved" left over.
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/reopen", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text
    await expect(thanks).to_be_hidden()
    await expect(resolved).to_be_hidden()
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/resolve", headers=api.auth(agent["token"])
    )
    assert r.status_code == 200, r.text
    await expect(resolved).to_be_visible()

    # After a reload the resolved chat is still shown, as history.
    await page.reload()
    await expect(widget.panel).to_be_visible()
    await widget.shows_history(conversation_id)
    await expect(resolved).to_be_visible()
