"""Real-browser tests of the widget: Playwright driving Debian's Chromium.

Only the system browser is used (MADOGUCHI_TEST_CHROMIUM, default
/usr/bin/chromium); Playwright's own browser download is never attempted.
These tests run once, on the SQLite run: the widget does not care which
database the server has.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    WebSocketRoute,
    async_playwright,
    expect,
)

from tests.harness import Api

CHROMIUM = os.environ.get("MADOGUCHI_TEST_CHROMIUM", "/usr/bin/chromium")
# Flags for a closed network: without the background-networking ones Chromium
# keeps trying to reach Google's hosts at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT = 15.0
# Assertions on the page wait as long as actions do: a loaded CI machine is slow,
# not wrong, and 5 s (Playwright's default) failed there.
expect.set_options(timeout=WAIT * 1000)
HERE = Path(__file__).resolve().parent

T = TypeVar("T")
log = logging.getLogger(__name__)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("MADOGUCHI_TEST_DATABASE_URL"):
        return
    skip = pytest.mark.skip(reason="browser tests run once, on the SQLite run")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(FAILED, False)
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


def _no_browser(reason: str) -> None:
    # CI installs Chromium (scripts/test): there a missing browser is a failure,
    # never a silent skip.
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        _no_browser(
            f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
        )
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as exc:  # any launch failure means no browser
            _no_browser(f"{CHROMIUM} did not start: {exc}")
            raise
        yield launched
        await launched.close()


@pytest.fixture
async def context(
    browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context()
    ctx.set_default_timeout(WAIT * 1000)
    try:
        yield ctx
    finally:
        if request.node.stash.get(FAILED, False):
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            for i, page in enumerate(ctx.pages):
                try:
                    await page.screenshot(path=str(ARTIFACTS / f"{name}-{i}.png"), full_page=True)
                except Exception as exc:  # a screenshot must not hide the failure
                    log.warning("no screenshot of %s: %s", name, exc)
        await ctx.close()


class _ShopPage(BaseHTTPRequestHandler):
    """GET /?server=URL&key=WIDGET_KEY: a shop's page that embeds the widget."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        server = html.escape(query.get("server", [""])[0], quote=True)
        key = html.escape(query.get("key", [""])[0], quote=True)
        # Any other parameter becomes a data- attribute of the script tag.
        extra = "".join(
            f' data-{html.escape(name, quote=True)}="{html.escape(values[0], quote=True)}"'
            for name, values in query.items()
            if name not in ("server", "key") and name.isalpha()
        )
        body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>A shop</title></head>
<body><h1>A shop</h1>
<script src="{server}/widget.js" data-key="{key}"{extra} async></script>
</body></html>""".encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def shop_url() -> Generator[str, None, None]:
    """The customer's web site, on its own port: the widget runs cross-origin, as
    when a shop embeds it. It is on loopback, like the server: Chromium refuses a
    page from a public origin any request to a loopback address."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ShopPage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


WIDGET_SOCKET = re.compile(r"/ws/widget\?")
AGENT_SOCKET = re.compile(r"/ws/agent\?")


class Outage:
    """The page's socket to the server, cut and restored by the test: while
    `down`, each new connection is closed at once, as when the network or the
    server is gone; `cut()` also closes the open one."""

    def __init__(self) -> None:
        self.down = False
        self.sockets: list[WebSocketRoute] = []

    @classmethod
    async def on(cls, context: BrowserContext, url: re.Pattern[str]) -> Outage:
        outage = cls()
        await context.route_web_socket(url, outage._route)
        return outage

    async def _route(self, ws: WebSocketRoute) -> None:
        if self.down:
            await ws.close()
            return
        ws.connect_to_server()
        self.sockets.append(ws)

    async def cut(self) -> None:
        self.down = True
        await self.sockets[-1].close()

    def restore(self) -> None:
        self.down = False


class Widget:
    """The widget on one page of the shop, read the way a customer sees it."""

    def __init__(self, page: Page, api: Api, widget_key: str) -> None:
        self.page = page
        self.api = api
        self.key = widget_key
        self.dialogs: list[str] = []
        page.on("dialog", self._on_dialog)

    async def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    @property
    def launcher(self) -> Any:
        return self.page.locator('[data-madoguchi-part="launcher"]')

    @property
    def panel(self) -> Any:
        return self.page.locator('[data-madoguchi-part="panel"]')

    @property
    def status(self) -> Any:
        return self.page.locator('[data-madoguchi-part="status"]')

    async def open(self) -> None:
        await self.launcher.click()
        await self.panel.wait_for(state="visible")

    async def lines(self) -> list[str]:
        """The message texts shown, top to bottom."""
        texts: list[str] = await self.page.locator(
            '[data-madoguchi-part="message"] [data-madoguchi-part="body"]'
        ).all_text_contents()
        return texts

    async def token(self) -> str | None:
        saved = await self.page.evaluate(
            "key => JSON.parse(localStorage.getItem('madoguchi:' + key) || '{}')", self.key
        )
        token = saved.get("token")
        return str(token) if token else None

    async def send(self, body: str) -> None:
        """Types a message and waits until the server acked it."""
        await self.page.get_by_label("Message").fill(body)
        await self.page.get_by_label("Message").press("Enter")
        await eventually(self._acked, f"{body!r} acked")

    async def _acked(self) -> bool:
        # The line says "Sending…" until its ack arrives.
        sending: int = await self.page.locator(
            '[data-madoguchi-part="message"][data-state="sending"]'
        ).count()
        return sending == 0

    async def conversation_id(self) -> int:
        token = await self.token()
        assert token
        r = await self.api.http.get("/api/v1/widget/conversations", headers=self.api.auth(token))
        assert r.status_code == 200, r.text
        return int(r.json()["items"][0]["id"])

    async def shows_history(self, conversation_id: int) -> list[str]:
        """Waits until the widget shows exactly the stored, public messages, in order."""
        expected: list[str] = []

        async def same() -> bool:
            nonlocal expected
            stored = await self.api.messages(conversation_id)
            expected = [m["body"] for m in stored if not m["private"]]
            return await self.lines() == expected

        try:
            await eventually(same, "the history")
        except AssertionError:
            raise AssertionError(f"widget shows {await self.lines()}, stored {expected}") from None
        return expected


async def eventually(check: Callable[[], Awaitable[T]], what: str, timeout: float = WAIT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


OpenShop = Callable[..., Awaitable[Widget]]


@pytest.fixture
async def shop(context: BrowserContext, api: Api, inbox: dict[str, Any], shop_url: str) -> OpenShop:
    """Opens the shop's page (with the widget) in a new tab of the test's browser."""
    key = inbox["widget_key"]
    url = f"{shop_url}/?{urlencode({'server': api.server.url, 'key': key})}"

    async def open_shop(page: Page | None = None, **attributes: str) -> Widget:
        page = page or await context.new_page()
        widget = Widget(page, api, key)
        await page.goto(f"{url}&{urlencode(attributes)}" if attributes else url)
        return widget

    return open_shop


@pytest.fixture
async def agent(api: Api) -> dict[str, Any]:
    return await api.create_agent()


Reply = Callable[[int, str], Awaitable[None]]


@pytest.fixture
def reply(api: Api, agent: dict[str, Any]) -> Reply:
    """An agent's answer through the REST API."""

    async def send(conversation_id: int, body: str) -> None:
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"body": body},
            headers=api.auth(agent["token"]),
        )
        assert r.status_code == 201, r.text

    return send


# -- the console ------------------------------------------------------------------


@pytest.fixture(scope="session")
async def console_api(start_session_server: Callable[..., Awaitable[Api]]) -> Api:
    """A server of its own for the console's tests, where an agent whose console
    closed is offline at once: routing never hands one test's chat to the agent
    of a test before it."""
    return await start_session_server({"MADOGUCHI_PRESENCE_GRACE_SECONDS": "0"})


class Console:
    """The console in one tab, read the way an agent sees it."""

    def __init__(self, page: Page, api: Api, agent: dict[str, Any]) -> None:
        self.page = page
        self.api = api
        self.agent = agent

    async def sign_in(self) -> None:
        await self.page.goto(f"{self.api.server.url}/console")
        await self.page.get_by_label("Email", exact=True).fill(self.agent["email"])
        await self.page.get_by_label("Password", exact=True).fill("agent-password")
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.locator("#app").wait_for(state="visible")
        await self.connected()

    async def connected(self) -> None:
        """Waits until the socket is up (the presence select shows the server's word)."""
        await eventually(self._connected, "the console's socket")

    async def _connected(self) -> bool:
        text = await self.page.locator("#connection").text_content()
        ready: bool = await self.page.evaluate(
            "() => document.querySelector('#app') && !document.querySelector('#app').hidden"
        )
        return ready and not text

    def row(self, text: str) -> Any:
        return self.page.locator("#list li", has_text=text)

    async def open(self, text: str) -> None:
        await self.row(text).click()
        await self.page.locator("#conversation").wait_for(state="visible")

    def messages(self) -> Any:
        return self.page.locator("#log li .text")

    async def reply(self, body: str, *, private: bool = False) -> None:
        if private:
            await self.page.get_by_label("Private note").check()
        await self.page.get_by_label("Reply").fill(body)
        await self.page.get_by_role("button", name="Send").click()


OpenConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
async def open_console(context: BrowserContext, console_api: Api) -> OpenConsole:
    """Signs an agent (a new one unless given) in to the console in a new tab."""

    async def open_console(agent: dict[str, Any] | None = None, role: str = "agent") -> Console:
        agent = agent or await console_api.create_agent(role=role)
        console = Console(await context.new_page(), console_api, agent)
        await console.sign_in()
        return console

    return open_console


async def customer_says(
    api: Api, inbox: dict[str, Any], body: str, *, name: str | None = None
) -> tuple[str, int]:
    """A customer writes in the web inbox (over a plain socket): (session token,
    conversation id)."""
    session = await api.new_session(inbox, **({"name": name} if name else {}))
    token = str(session["session_token"])
    return token, await customer_again(api, token, body)


async def customer_again(api: Api, token: str, body: str) -> int:
    async with api.widget(token) as widget:
        await widget.send(
            {"type": "message", "client_id": f"c-{time.monotonic_ns()}", "body": body}
        )
        ack = await widget.expect("ack")
    return int(ack["conversation_id"])
