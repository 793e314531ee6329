"""The console never sends the agent's token to a file address it did not
make: a message's meta (a channel's payload, a plug-in, a mail) is not ours
to trust, so only our own download route is fetched with the token."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Generator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Route, expect

from tests.browser.conftest import WAIT, Console, customer_says
from tests.browser.test_console import away_agent
from tests.harness import Api


class _Recorder(BaseHTTPRequestHandler):
    """Another origin: answers every GET with a file and notes what it was sent."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("authorization")))
        body = b"not your file"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("access-control-allow-origin", "*")
        self.send_header("access-control-allow-headers", "authorization")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        # A preflight asks leave to send Authorization: granted, so only the
        # console's own rule can keep the token home.
        self.seen.append((self.path, self.headers.get("authorization")))
        self.send_response(204)
        self.send_header("access-control-allow-origin", "*")
        self.send_header("access-control-allow-headers", "authorization")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def foreign_host() -> Generator[tuple[str, list[tuple[str, str | None]]], None, None]:
    """(its origin, the requests it got as (path, Authorization))."""
    seen: list[tuple[str, str | None]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


async def test_a_file_url_on_another_host_never_gets_the_token(
    browser: Browser,
    console_api: Api,
    foreign_host: tuple[str, list[tuple[str, str | None]]],
    tmp_path: Path,
) -> None:
    foreign, seen = foreign_host
    inbox = await console_api.create_inbox()
    name = f"Mallory {uuid.uuid4().hex[:6]}"
    _, conversation_id = await customer_says(console_api, inbox, "see my files", name=name)
    agent = await away_agent(console_api)

    # A genuine file, stored with us through the agents' upload route.
    r = await console_api.http.post(
        f"/api/v1/conversations/{conversation_id}/attachments",
        params={"filename": "receipt.txt"},
        content="領収書 no. 42\n".encode(),
        headers={**console_api.auth(agent["token"]), "content-type": "text/plain"},
    )
    assert r.status_code == 201, r.text

    # The crafted meta: what a plug-in channel or a tampered row could store.
    crafted = [
        {"filename": "steal.txt", "size": 5, "url": f"{foreign}/steal"},
        {"filename": "protocol.txt", "url": foreign.replace("http:", "") + "/relative"},
        {"filename": "api.txt", "url": "/api/v1/attachments/../agents/me"},
        {"filename": "query.txt", "url": "/api/v1/attachments/abc?x=1"},
        {"filename": "script.txt", "url": "javascript:alert(1)"},
        {"filename": "photo.jpg", "url": "https://cdn.example.test/photo.jpg"},
    ]

    async def add_crafted(route: Route) -> None:
        response = await route.fetch()
        page = await response.json()
        for message in page["items"]:
            if message["body"] == "see my files":
                message["attachments"] = crafted
        await route.fulfill(response=response, json=page)

    # Without the page's CSP (connect-src 'self'), so that the console's own
    # rule is what is tested: a looser policy one day must not leak the token.
    context = await browser.new_context(bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(WAIT * 1000)
    try:
        await context.route("**/api/v1/conversations/*/messages?*", add_crafted)
        console = Console(await context.new_page(), console_api, agent)
        await console.sign_in()
        await console.open(name)
        page = console.page
        files = page.locator("#log .files").first

        # Nothing crafted is a button the console would fetch with the token.
        for unsafe in ("steal.txt", "protocol.txt", "api.txt", "query.txt", "script.txt"):
            shown = files.locator(".unavailable", has_text=unsafe)
            await expect(shown).to_be_visible()
            await shown.click()
        await expect(files.locator("button")).to_have_count(0)
        # A platform's https media is a plain link: opened by the agent, never
        # fetched by the console, and without a referrer.
        link = files.locator("a.external")
        await expect(link).to_have_attribute("href", "https://cdn.example.test/photo.jpg")
        await expect(link).to_have_attribute("rel", "noopener noreferrer")

        # The genuine file still downloads, with the token, to the same bytes.
        button = page.get_by_role("button", name="Download receipt.txt")
        async with page.expect_download() as got:
            await button.click()
        download = await got.value
        assert Path(await download.path()).read_text() == "領収書 no. 42\n"
    finally:
        await context.close()
    assert seen == []
