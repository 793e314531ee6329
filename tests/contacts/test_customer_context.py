"""The customer's context (page, browser, language, time zone) from the widget's
`context` frame: checked, kept on the customer, coalesced, and shown live to
the agents who may see the conversation, and to no one else."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import select

from app.config import Settings
from app.contacts.context import browser_name
from app.db import Database
from app.events.bus import MemoryBus
from app.kit.clock import clock
from app.migrate import alembic_config
from app.models import Customer
from tests.harness import Api, Socket, migrated_database

MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
# The slow path of the coalescing waits this long at most (CONTEXT_STORE_SECONDS, and more).
STORE_WAIT = 20.0


async def _opened(widget: Socket) -> int:
    await widget.send({"type": "message", "client_id": "c-1", "body": "Is this in stock?"})
    return int((await widget.expect("ack"))["conversation_id"])


async def _watch(console: Socket, conversation_id: int) -> None:
    await console.expect("hello")
    await console.send({"type": "watch", "conversation_id": conversation_id})
    await console.expect("watch", conversation_id=conversation_id)


async def _context_update(
    console: Socket, conversation_id: int, since: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The customer's next context in the conversation's `conversation.updated`
    frames (frames for other changes carry the one before, `since`)."""
    while True:
        frame = await console.expect_for("conversation.updated", conversation_id, STORE_WAIT)
        context = frame["conversation"]["customer"]["context"]
        if context is not None and context != since:
            return dict(context)


async def test_agents_who_may_see_the_conversation_see_where_the_customer_is(api: Api) -> None:
    inbox = await api.create_inbox(teams=["vip"])
    member = await api.create_agent(teams=["vip"])
    outsider = await api.create_agent(teams=["retail"])
    session = await api.new_session(inbox, name="Aiko")
    async with api.widget(session["session_token"], user_agent_header=MAC_CHROME) as widget:
        conversation_id = await _opened(widget)
        before = await _get(api, conversation_id, member["token"])
        assert before.json()["customer"]["context"] is None
        async with api.agent_socket(member["token"]) as console:
            await _watch(console, conversation_id)
            await widget.send(
                {
                    "type": "context",
                    "page_url": "https://shop.example/items/42?colour=red",
                    "page_title": "Red kettle – Shop",
                    "language": "ja-JP",
                    "time_zone": "Asia/Tokyo",
                }
            )
            live = await _context_update(console, conversation_id)
    assert live["page_url"] == "https://shop.example/items/42?colour=red"
    assert live["page_title"] == "Red kettle – Shop"
    assert live["language"] == "ja-JP"
    assert live["time_zone"] == "Asia/Tokyo"
    assert live["browser"] == "Chrome 131 on macOS"
    assert live["seen_at"]

    r = await _get(api, conversation_id, member["token"])
    assert r.status_code == 200
    assert r.json()["customer"]["context"] == live
    listed = await api.http.get(
        "/api/v1/conversations", params={"status": "open"}, headers=api.auth(member["token"])
    )
    rows = {c["id"]: c for c in listed.json()["items"]}
    assert rows[conversation_id]["customer"]["context"] == live
    # The one visibility rule: an agent outside the inbox's teams sees none of it.
    assert (await _get(api, conversation_id, outsider["token"])).status_code == 404
    listed = await api.http.get("/api/v1/conversations", headers=api.auth(outsider["token"]))
    assert conversation_id not in {c["id"] for c in listed.json()["items"]}


async def test_unusable_fields_are_dropped_and_bad_text_refused(
    api: Api, inbox: dict[str, Any]
) -> None:
    agent = await api.create_agent(role="supervisor")
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"], user_agent_header=IPHONE_SAFARI) as widget:
        conversation_id = await _opened(widget)
        async with api.agent_socket(agent["token"]) as console:
            await _watch(console, conversation_id)
            await widget.send({"type": "context", "page_title": "a\u0000b"})
            assert (await widget.expect("error"))["code"] == "invalid_frame"
            await widget.send({"type": "context", "page_url": ["https://shop.example/"]})
            assert (await widget.expect("error"))["code"] == "invalid_frame"
            await widget.send(
                {
                    "type": "context",
                    "page_url": "javascript:alert(document.cookie)",
                    "page_title": "x" * 400,
                    "language": "not a language",
                    "time_zone": "Mars/Olympus_Mons",
                }
            )
            context = await _context_update(console, conversation_id)
    assert context["page_url"] is None
    assert context["page_title"] == "x" * 300
    assert context["language"] is None
    assert context["time_zone"] is None
    assert context["browser"] == "Safari 17 on iOS"


async def test_a_burst_of_pages_is_stored_once_with_the_latest(
    api: Api, inbox: dict[str, Any]
) -> None:
    agent = await api.create_agent(role="supervisor")
    session = await api.new_session(inbox)
    page = "https://shop.example/page/"
    async with (
        api.widget(session["session_token"]) as widget,
        api.agent_socket(agent["token"]) as console,
    ):
        conversation_id = await _opened(widget)
        await _watch(console, conversation_id)
        await widget.send({"type": "context", "page_url": page + "1"})
        first = await _context_update(console, conversation_id)
        assert first["page_url"] == page + "1"
        # The same page again, then two more within the store interval.
        for n in (1, 2, 3):
            await widget.send({"type": "context", "page_url": page + str(n)})
        await widget.send({"type": "ping"})
        await widget.expect("pong")
        # Handled, not stored yet: the agent still sees the first page.
        held = (await _get(api, conversation_id, agent["token"])).json()
        assert held["customer"]["context"]["page_url"] == page + "1"
        # Then the latest one only: page 2 was passed over.
        latest = await _context_update(console, conversation_id, first)
        assert latest["page_url"] == page + "3"
        assert latest["seen_at"] > first["seen_at"]
    stored = (await _get(api, conversation_id, agent["token"])).json()
    assert stored["customer"]["context"] == latest


async def _get(api: Api, conversation_id: int, token: str) -> Any:
    return await api.http.get(f"/api/v1/conversations/{conversation_id}", headers=api.auth(token))


def test_browser_names_read_at_a_glance() -> None:
    assert browser_name(MAC_CHROME) == "Chrome 131 on macOS"
    assert browser_name(IPHONE_SAFARI) == "Safari 17 on iOS"
    assert (
        browser_name(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
        )
        == "Edge 131 on Windows"
    )
    assert (
        browser_name("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
        == "Firefox 133 on Linux"
    )
    assert (
        browser_name(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.6778.135 Mobile Safari/537.36"
        )
        == "Chrome 131 on Android"
    )
    assert browser_name("curl/8.5.0") is None
    assert browser_name(None) is None


async def test_migration_0014_keeps_customers_and_adds_their_context(tmp_path: Path) -> None:
    db = await migrated_database(tmp_path)
    async with db.write() as session:
        session.add(Customer(name="Aiko", created_at=clock.now()))
    await db.dispose()
    settings = Settings(data_dir=tmp_path, database_url=db.url)
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "0013")
    await asyncio.to_thread(command.upgrade, alembic_config(settings), "head")
    db = Database(settings, MemoryBus())
    try:
        async with db.write() as session:
            customer = (await session.execute(select(Customer))).scalar_one()
            assert customer.name == "Aiko"
            assert customer.last_context is None
            customer.last_context = {"time_zone": "Asia/Tokyo", "page_title": "ポット"}
        async with db.read() as session:
            customer = (await session.execute(select(Customer))).scalar_one()
            assert customer.last_context == {"time_zone": "Asia/Tokyo", "page_title": "ポット"}
    finally:
        await db.dispose()


async def test_the_context_is_exported_and_erased_with_the_customer(
    api: Api, inbox: dict[str, Any]
) -> None:
    admin = api.auth(api.admin_token)
    session = await api.new_session(inbox)
    async with (
        api.widget(session["session_token"], user_agent_header=MAC_CHROME) as widget,
        api.agent_socket(api.admin_token) as console,
    ):
        conversation_id = await _opened(widget)
        await _watch(console, conversation_id)
        await widget.send(
            {"type": "context", "page_url": "https://shop.example/me", "time_zone": "UTC"}
        )
        context = await _context_update(console, conversation_id)
    customer_id = session["customer_id"]
    exported = await api.http.get(f"/api/v1/customers/{customer_id}/export", headers=admin)
    assert exported.json()["customer"]["last_context"] == context
    r = await api.http.post(f"/api/v1/customers/{customer_id}/erase", headers=admin)
    assert r.status_code == 200, r.text
    erased = await _get(api, conversation_id, api.admin_token)
    assert erased.json()["customer"]["context"] is None
