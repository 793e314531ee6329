"""Greeting, away and the availability of a web inbox, on a real server whose
clock is the real one: business hours are set around it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.harness import Api
from tests.responders.conftest import minute, now, one_slot, set_hours, set_responders


async def _system_messages(api: Api, conversation_id: int) -> list[dict[str, Any]]:
    return [m for m in await api.messages(conversation_id) if m["author"]["kind"] == "system"]


async def test_outside_hours_the_customer_hears_when_we_are_back(
    api: Api, inbox: dict[str, Any]
) -> None:
    opens = minute(now()) + timedelta(hours=2)
    await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=3), "Asia/Tokyo"))
    availability = (await api.http.get(f"/api/v1/inboxes/{inbox['id']}/availability")).json()
    assert availability["open"] is False
    assert datetime.fromisoformat(availability["next_open_at"]) == opens
    assert availability["next_open_at"].endswith("+09:00")  # shown in the inbox's zone
    # Closed: the reply comes after the opening, never before.
    assert availability["expected_reply_seconds"] >= (opens - now()).total_seconds()

    session = await api.new_session(inbox, name="Ada")
    assert session["availability"]["open"] is False
    async with api.widget(session["session_token"]) as widget:
        frame = await widget.expect("availability")
        assert frame["open"] is False
        await widget.send({"type": "message", "client_id": "c-1", "body": "anyone there?"})
        ack = await widget.expect("ack")
        away = await widget.expect("message")
        assert away["author"]["kind"] == "system"
        assert away["seq"] == ack["seq"] + 1
        tokyo = opens.astimezone(datetime.fromisoformat(availability["next_open_at"]).tzinfo)
        assert "We're away right now and back at" in away["body"]
        assert f"{tokyo:%H:%M} (JST)" in away["body"]
        assert "We'll reply by" in away["body"]
        # A second message while closed is not answered again.
        await widget.send({"type": "message", "client_id": "c-2", "body": "hello?"})
        await widget.expect("ack")
        assert [f for f in await widget.quiet(1.0) if f["type"] == "message"] == []
    conversation_id = ack["conversation_id"]
    (stored,) = await _system_messages(api, conversation_id)
    assert stored["body"] == away["body"]
    # The away message promised a reply time, after the opening.
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    promised = datetime.fromisoformat(r.json()["promised_reply_by"])
    assert promised > opens


async def test_the_away_message_speaks_the_customers_language(
    api: Api, inbox: dict[str, Any]
) -> None:
    opens = minute(now()) + timedelta(hours=5)
    await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=1), "Asia/Tokyo"))
    session = await api.new_session(inbox, language="ja-JP")
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "hello"})
        away = await widget.expect("message")
    local = datetime.fromisoformat(
        (await api.http.get(f"/api/v1/inboxes/{inbox['id']}/availability")).json()["next_open_at"]
    )
    assert "ただいま営業時間外です" in away["body"]
    assert f"{local.month}月{local.day}日" in away["body"]
    assert f"{local.hour}:{local.minute:02d} (JST)" in away["body"]


async def test_inside_hours_a_greeting_on_the_first_message_only(
    api: Api, inbox: dict[str, Any]
) -> None:
    start = minute(now()) - timedelta(hours=1)
    await set_hours(api, inbox, one_slot(start, start + timedelta(hours=3)))
    availability = (await api.http.get(f"/api/v1/inboxes/{inbox['id']}/availability")).json()
    assert availability["open"] is True
    assert availability["next_open_at"] is None
    session = await api.new_session(inbox, name="Ada")
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        greeting = await widget.expect("message")
        assert greeting["author"]["kind"] == "system"
        assert greeting["body"].startswith("Hi Ada! Thanks for getting in touch.")
        await widget.send({"type": "message", "client_id": "c-2", "body": "still there?"})
        await widget.expect("ack")
        assert [f for f in await widget.quiet(1.0) if f["type"] == "message"] == []
    kinds = [m["author"]["kind"] for m in await api.messages(ack["conversation_id"])]
    assert kinds == ["customer", "system", "customer"]


async def test_an_inbox_without_hours_greets_only_when_a_greeting_is_written(
    api: Api, inbox: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        assert [f for f in await widget.quiet(1.0) if f["type"] == "message"] == []
    assert await _system_messages(api, ack["conversation_id"]) == []

    written = await api.create_inbox()
    await set_responders(api, written, greeting="Welcome, {customer_name}! {unknown} stays.")
    session = await api.new_session(written, name="Grace")
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        greeting = await widget.expect("message")
    assert greeting["body"] == "Welcome, Grace! {unknown} stays."


async def test_a_responder_turned_off_says_nothing(api: Api, inbox: dict[str, Any]) -> None:
    opens = minute(now()) + timedelta(hours=2)
    await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=1)))
    await set_responders(api, inbox, away=None)
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        assert [f for f in await widget.quiet(1.0) if f["type"] == "message"] == []
    assert await _system_messages(api, ack["conversation_id"]) == []


async def test_no_automatic_reply_while_an_agent_is_talking(
    api: Api, inbox: dict[str, Any]
) -> None:
    await set_responders(api, inbox, greeting="Hello again")
    agent = await api.create_agent()
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        await widget.expect("message")  # the greeting
    conversation_id = ack["conversation_id"]
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "Hi, I'm here"},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 201, r.text
    # Closed now: the customer's next message would get the away message, but
    # an agent answered a moment ago.
    opens = minute(now()) + timedelta(hours=2)
    await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=1)))
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-2", "body": "thanks"})
        await widget.expect("ack")
        assert [f for f in await widget.quiet(1.0) if f["type"] == "message"] == []
    kinds = [m["author"]["kind"] for m in await api.messages(conversation_id)]
    assert kinds == ["customer", "system", "agent", "customer"]


async def test_widgets_hear_when_the_inbox_opens_and_closes(
    api: Api, inbox: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        assert (await widget.expect("availability"))["open"] is True
        # An admin's change is told at once.
        opens = minute(now()) + timedelta(minutes=1)
        if (opens - now()).total_seconds() < 3:
            opens += timedelta(minutes=1)
        await set_hours(api, inbox, one_slot(opens, opens + timedelta(minutes=1)))
        closed = await widget.expect("availability")
        assert closed["open"] is False
        assert datetime.fromisoformat(closed["next_open_at"]) == opens
        # The opening itself, with no one asking: within moments of the minute.
        wait = (opens - now()).total_seconds()
        opened = await widget.expect("availability", timeout=wait + 5)
        assert opened["open"] is True
        assert opened["next_open_at"] is None
        assert now() >= opens
        assert now() - opens < timedelta(seconds=4)
