"""The admin sees on the inboxes page what an inbox cannot do as the server
is set up: with no outbound mail relay, the email inbox's card says replies
and acknowledgements by email cannot be sent, and which setting mends it."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import BrowserContext, expect

from tests.browser.test_console_inboxes import card, inboxes_page
from tests.conftest import StartServer
from tests.harness import Api


@pytest.fixture(scope="module")
async def relayless_api(start_module_server: StartServer) -> Api:
    """A server with no MADOGUCHI_SMTP_RELAY (the test servers' default)."""
    return await start_module_server()


async def test_the_admin_sees_that_email_cannot_be_sent(
    context: BrowserContext, relayless_api: Api
) -> None:
    api = relayless_api
    suffix = uuid.uuid4().hex[:6]
    r = await api.http.post(
        "/api/v1/inboxes",
        json={
            "name": f"Mail {suffix}",
            "channel": "email",
            "config": {"address": f"help-{suffix}@example.com"},
        },
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    mail = r.json()
    web = await api.create_inbox()
    admin = await api.create_agent(role="admin")

    page = await inboxes_page(context, api, admin)
    warning = card(page, mail).get_by_role("list", name="Warnings").get_by_role("listitem")
    await expect(warning).to_have_count(1)
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text("Warning:")
    await expect(warning).to_contain_text("Replies and acknowledgements by email cannot be sent")
    await expect(warning).to_contain_text("MADOGUCHI_SMTP_RELAY")
    # A web inbox sends through its widget: nothing to warn about.
    await expect(card(page, web).get_by_role("list", name="Warnings")).to_have_count(0)
