"""The widget through an outage and a reload: a banner while the connection
is lost, a quick reconnect, what was written offline sent once; the agent's
name and the end of the list back after a reload or an upload."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, expect

from tests.browser.conftest import WIDGET_SOCKET, OpenShop, Outage, Reply
from tests.harness import Api


def png(width: int, height: int) -> bytes:
    """A small, valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x2b\x6c\xb0" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_an_outage_shows_a_banner_and_the_message_goes_once_after(
    context: BrowserContext, shop: OpenShop, api: Api
) -> None:
    outage = await Outage.on(context, WIDGET_SOCKET)
    widget = await shop()
    page = widget.page
    await widget.open()
    await widget.send("hello")
    conversation_id = await widget.conversation_id()
    banner = page.get_by_role("status").filter(has_text="Connection lost")
    await expect(banner).to_have_count(0)

    await outage.cut()
    await expect(banner).to_have_text("Connection lost – reconnecting…")
    await page.get_by_label("Message").fill("are you still there?")
    await page.get_by_label("Message").press("Enter")
    offline = page.locator('[data-madoguchi-part="message"]', has_text="are you still there?")
    await expect(offline.locator(".mark")).to_have_text("Sending…")

    # The network is back: the widget does not sit out its wait.
    outage.restore()
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(banner).to_have_count(0)
    await expect(offline.locator(".mark")).to_have_text("Sent")
    bodies = [m["body"] for m in await api.messages(conversation_id)]
    assert bodies.count("are you still there?") == 1
    assert bodies.count("hello") == 1


async def test_the_agent_is_named_after_a_reload_and_an_upload_scrolls_to_the_end(
    shop: OpenShop, api: Api, agent: dict[str, Any], reply: Reply, tmp_path: Path
) -> None:
    widget = await shop()
    page = widget.page
    await widget.open()
    await widget.send("Is the blue one back in stock?")
    conversation_id = await widget.conversation_id()
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/assign",
        json={"agent_id": agent["id"]},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    helping = f"{agent['name']} is here to help"
    await expect(widget.status).to_have_text(helping)
    await page.reload()
    await expect(widget.panel).to_be_visible()
    await expect(widget.status).to_have_text(helping)

    # A long answer, then the customer's photo: the list ends at the photo.
    await reply(conversation_id, "\n".join(f"Shop {i}: in stock" for i in range(30)))
    await widget.shows_history(conversation_id)
    photo = tmp_path / "scratch.png"
    photo.write_bytes(png(160, 120))
    await page.locator('[data-madoguchi-part="file-input"]').set_input_files(photo)
    mine = page.locator('[data-madoguchi-part="message"][data-author=customer]').last
    await expect(mine.locator(".mark")).to_have_text(re.compile("^(Sent|Read)$"))
    thumb = mine.get_by_role("img", name="scratch.png")
    await expect(thumb).to_be_visible()
    await expect(mine.locator('[data-madoguchi-part="file"]')).to_be_in_viewport()
    scroller = page.locator('[data-madoguchi-part="scroll"]')
    gap = await scroller.evaluate("e => e.scrollHeight - e.scrollTop - e.clientHeight")
    assert gap < 2
