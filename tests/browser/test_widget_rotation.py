"""A rotated session token: the tab that rotated it, the page's other tabs and
their reconnects all move to the new one; the chat goes on as one customer."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import BrowserContext, WebSocketRoute

from tests.browser.conftest import WIDGET_SOCKET, OpenShop, eventually
from tests.conftest import StartServer
from tests.harness import Api


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.fixture(scope="module")
async def api(start_module_server: StartServer) -> Api:
    # Every token is older than this: each resume (each page load) rotates.
    return await start_module_server({"MADOGUCHI_WIDGET_SESSION_ROTATE_HOURS": "0.000000001"})


async def test_a_rotation_in_one_tab_reaches_the_other_tab_and_its_reconnect(
    context: BrowserContext, api: Api, shop: OpenShop
) -> None:
    first_tab: list[WebSocketRoute] = []

    async def route(ws: WebSocketRoute) -> None:
        first_tab.append(ws)
        ws.connect_to_server()

    page = await context.new_page()
    await page.route_web_socket(WIDGET_SOCKET, route)
    a = await shop(page)
    await a.open()
    await a.send("from the first tab")
    old = await a.token()
    assert old

    # The second tab's page load resumes with the stored token, which rotates.
    b = await shop()
    await b.panel.wait_for(state="visible")  # open already: the page remembers it
    await b.send("from the second tab")
    new = await b.token()
    assert new
    assert new != old
    conversation_id = await b.conversation_id()

    # The first tab's socket drops; it comes back with the new token, and the
    # chat is the same one.
    await first_tab[-1].close(code=1012)

    async def reconnected() -> bool:
        return len(first_tab) == 2

    await eventually(reconnected, "the first tab's reconnect")
    assert [token_of(ws.url) for ws in first_tab] == [old, new]
    await a.send("after the reconnect")
    history = await a.shows_history(conversation_id)
    assert history == ["from the first tab", "from the second tab", "after the reconnect"]
    assert await b.shows_history(conversation_id) == history
    assert await a.token() == new

    # Nothing of the first session was left behind: one customer, one chat.
    r = await api.http.get("/api/v1/widget/conversations", headers=api.auth(new))
    assert [c["id"] for c in r.json()["items"]] == [conversation_id]
