"""A customer chats through the widget socket and an agent answers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.harness import Api


async def test_customer_and_agent_chat_both_ways(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent()
    session = await api.new_session(inbox, name="Alice")
    async with (
        api.agent_socket(agent["token"]) as console,
        api.widget(session["session_token"]) as widget,
    ):
        await console.expect("hello")
        availability = await widget.expect("availability")
        assert availability["open"] is True
        assert (await widget.expect("status"))["conversation_status"] is None

        await widget.send({"type": "message", "client_id": "c-1", "body": "Where is my order?"})
        ack = await widget.expect("ack")
        assert ack["client_id"] == "c-1"
        assert ack["seq"] == 1

        # Announced to the agent, who serves the inbox; routing also hands it to
        # them when they have room (on this shared server other tests' waiting
        # conversations may fill that room first: then replying takes it).
        offered = await console.expect_for("conversation.updated", ack["conversation_id"])
        conversation_id = offered["conversation"]["id"]
        assert offered["conversation"]["assignee"] is None
        created = await console.expect_for("message.created", conversation_id)
        assert created["message"]["body"] == "Where is my order?"
        assert created["message"]["author"]["kind"] == "customer"
        assert created["message"]["id"] == ack["id"]

        await console.send(
            {
                "type": "message",
                "conversation_id": conversation_id,
                "client_id": "a-1",
                "body": "On its way",
            }
        )
        agent_ack = await console.expect("ack")
        assert agent_ack["seq"] == 2
        reply = await widget.expect("message")
        assert reply["body"] == "On its way"
        assert reply["seq"] == 2
        assert reply["author"] == {"kind": "agent", "name": agent["name"], "id": agent["id"]}

        # Asked while the agent is still online: one who leaves has their chats
        # moved on (routing), and this server's grace period is 0.
        conversation = (
            await api.http.get(
                f"/api/v1/conversations/{conversation_id}", headers=api.auth(agent["token"])
            )
        ).json()
        # Replying to an unassigned conversation takes it, if routing had not
        # given it to them already.
        assert conversation["assignee"]["id"] == agent["id"]
        assert conversation["customer"]["name"] == "Alice"

    stored = await api.messages(conversation_id)
    assert [(m["seq"], m["body"]) for m in stored] == [(1, "Where is my order?"), (2, "On its way")]


async def test_acked_message_is_already_stored(api: Api, inbox: dict[str, Any]) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "one"})
        ack = await widget.expect("ack")
        # Read straight after the ack, from another connection: it is there.
        stored = await api.messages(ack["conversation_id"])
        assert [m["id"] for m in stored] == [ack["id"]]


async def test_same_client_id_twice_stores_one_message(api: Api, inbox: dict[str, Any]) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "dup", "body": "hello"})
        first = await widget.expect("ack")
        await widget.send({"type": "message", "client_id": "dup", "body": "hello"})
        second = await widget.expect("ack")
    assert second["id"] == first["id"]
    assert second["seq"] == first["seq"]
    # A retry after a reconnect is a duplicate too.
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "dup", "body": "hello"})
        third = await widget.expect("ack")
    assert third["id"] == first["id"]
    assert len(await api.messages(first["conversation_id"])) == 1


async def test_burst_gets_gap_free_seq_in_send_order(api: Api, inbox: dict[str, Any]) -> None:
    session = await api.new_session(inbox)
    count = 200
    async with api.widget(session["session_token"]) as widget:
        for i in range(count):
            await widget.send({"type": "message", "client_id": f"b-{i}", "body": f"m{i}"})
        acks = [await widget.expect("ack") for _ in range(count)]
    assert sorted(a["seq"] for a in acks) == list(range(1, count + 1))
    stored = await api.messages(acks[0]["conversation_id"])
    assert [m["seq"] for m in stored] == list(range(1, count + 1))
    assert [m["body"] for m in stored] == [f"m{i}" for i in range(count)]


async def test_resume_replays_missed_messages_in_order(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent()
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
    conversation_id = ack["conversation_id"]
    # The customer is away while the agent writes three replies and a note.
    for body, private in (("one", False), ("note", True), ("two", False), ("three", False)):
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"body": body, "private": private},
            headers=api.auth(agent["token"]),
        )
        assert r.status_code == 201, r.text
    async with api.widget(session["session_token"]) as widget:
        status = await widget.expect("status")
        assert status["conversation_id"] == conversation_id
        assert status["conversation_status"] == "open"
        await widget.send({"type": "resume", "after_seq": ack["seq"]})
        replayed = [await widget.expect("message") for _ in range(3)]
        assert [m["body"] for m in replayed] == ["one", "two", "three"]
        assert [m["seq"] for m in replayed] == [2, 4, 5]
        # The private note (seq 3) never reaches the customer.
        assert all(frame.get("body") != "note" for frame in await widget.quiet(0.3))


async def test_other_tab_gets_the_message_the_sender_gets_the_ack(
    api: Api, inbox: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    token = session["session_token"]
    async with api.widget(token) as tab1, api.widget(token) as tab2:
        await tab1.expect("status")
        await tab2.expect("status")
        await tab1.send({"type": "message", "client_id": "t-1", "body": "from tab one"})
        await tab1.expect("ack")
        echoed = await tab2.expect("message")
        assert echoed["body"] == "from tab one"
        assert echoed["client_id"] == "t-1"
        assert not [f for f in await tab1.quiet(0.3) if f["type"] == "message"]


async def test_private_note_reaches_agents_not_customer(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent()
    session = await api.new_session(inbox)
    async with (
        api.widget(session["session_token"]) as widget,
        api.agent_socket(agent["token"]) as console,
    ):
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        await console.expect("message.created")
        await console.send(
            {
                "type": "message",
                "conversation_id": ack["conversation_id"],
                "client_id": "n-1",
                "body": "VIP customer",
                "private": True,
            }
        )
        note = await console.expect("message.created")
        assert note["message"]["private"] is True
        await console.send(
            {
                "type": "message",
                "conversation_id": ack["conversation_id"],
                "client_id": "r-1",
                "body": "Hello!",
            }
        )
        frame = await widget.expect("message")
        assert frame["body"] == "Hello!"
        assert all(f.get("body") != "VIP customer" for f in widget.seen)


async def test_two_tabs_opening_at_once_share_one_conversation(
    api: Api, inbox: dict[str, Any]
) -> None:
    for _ in range(5):
        session = await api.new_session(inbox)
        token = session["session_token"]
        async with api.widget(token) as tab1, api.widget(token) as tab2:
            await asyncio.gather(tab1.expect("status"), tab2.expect("status"))
            await asyncio.gather(
                tab1.send({"type": "message", "client_id": str(uuid.uuid4()), "body": "a"}),
                tab2.send({"type": "message", "client_id": str(uuid.uuid4()), "body": "b"}),
            )
            acks = await asyncio.gather(tab1.expect("ack"), tab2.expect("ack"))
        assert acks[0]["conversation_id"] == acks[1]["conversation_id"]
        assert {acks[0]["seq"], acks[1]["seq"]} == {1, 2}


async def test_resolved_conversation_then_new_message_opens_a_new_one(
    api: Api, inbox: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "first"})
        first = await widget.expect("ack")
        r = await api.http.post(
            f"/api/v1/conversations/{first['conversation_id']}/resolve",
            headers=api.auth(api.admin_token),
        )
        assert r.json()["status"] == "resolved"
        # (The conversation's opening was announced with a status frame too.)
        status = await widget.expect("status", conversation_status="resolved")
        assert status["conversation_id"] == first["conversation_id"]
        await widget.send({"type": "message", "client_id": "c-2", "body": "second"})
        second = await widget.expect("ack")
    assert second["conversation_id"] != first["conversation_id"]
    assert second["seq"] == 1
