"""Typing, read receipts and CSAT over the sockets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from tests.harness import Api


async def test_typing_flows_both_ways(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent()
    session = await api.new_session(inbox, name="Aiko")
    async with (
        api.agent_socket(agent["token"]) as console,
        api.widget(session["session_token"]) as widget,
    ):
        await console.expect("hello")
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        await widget.send({"type": "typing", "on": True})
        typing = await console.expect("typing")
        assert typing["conversation_id"] == ack["conversation_id"]
        assert typing["author"] == {"kind": "customer", "name": "Aiko"}
        await console.send(
            {"type": "typing", "conversation_id": ack["conversation_id"], "on": True}
        )
        agent_typing = await widget.expect("typing")
        assert agent_typing["author"]["kind"] == "agent"


async def test_read_receipt_reaches_agent_and_is_stored(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent()
    session = await api.new_session(inbox)
    async with (
        api.agent_socket(agent["token"]) as console,
        api.widget(session["session_token"]) as widget,
    ):
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        conversation_id = ack["conversation_id"]
        await console.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "a", "body": "yo"}
        )
        reply = await widget.expect("message")
        await widget.send({"type": "read", "seq": reply["seq"]})
        read = await console.expect("conversation.read")
        assert read["seq"] == reply["seq"]
    conversation = (
        await api.http.get(
            f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
        )
    ).json()
    assert conversation["customer_last_read_seq"] == reply["seq"]


async def test_csat_rating_is_recorded_once_per_conversation(
    api: Api, inbox: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "csat", "rating": 5})
        assert (await widget.expect("error"))["code"] == "not_found"  # nothing to rate yet
        await widget.send({"type": "message", "client_id": "c-1", "body": "hi"})
        ack = await widget.expect("ack")
        # Rated once it is resolved, not while it is still being worked.
        await widget.send({"type": "csat", "rating": 5})
        assert (await widget.expect("error"))["code"] == "not_resolved"
        await api.http.post(
            f"/api/v1/conversations/{ack['conversation_id']}/resolve",
            headers=api.auth(api.admin_token),
        )
        await widget.send({"type": "csat", "rating": 2, "comment": "slow"})
        await widget.expect("csat")
        await widget.send({"type": "csat", "rating": 4, "comment": "fine after all"})
        recorded = await widget.expect("csat")
    assert recorded["conversation_id"] == ack["conversation_id"]
    assert recorded["rating"] == 4
    # Agents see it in the conversation's answer.
    conversation = (
        await api.http.get(
            f"/api/v1/conversations/{ack['conversation_id']}", headers=api.auth(api.admin_token)
        )
    ).json()
    assert conversation["csat"]["rating"] == 4
    assert conversation["csat"]["comment"] == "fine after all"
    url = api.server.env.get("MADOGUCHI_DATABASE_URL")
    if url is None:
        engine = create_engine(f"sqlite:///{api.server.data_dir / 'madoguchi.db'}")
        with engine.connect() as db:
            rows = db.execute(
                text("SELECT rating, comment FROM csat_responses WHERE conversation_id = :c"),
                {"c": ack["conversation_id"]},
            ).all()
        engine.dispose()
        assert [tuple(r) for r in rows] == [(4, "fine after all")]


async def test_an_agents_read_reaches_the_customer_and_clears_unread(
    api: Api, inbox: dict[str, Any]
) -> None:
    agent = await api.create_agent()
    other = await api.create_agent()
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "one"})
        await widget.expect("ack")
        await widget.send({"type": "message", "client_id": "c-2", "body": "two"})
        ack = await widget.expect("ack")
        conversation_id = ack["conversation_id"]
        listed = (
            await api.http.get(
                "/api/v1/conversations",
                params={"inbox_id": inbox["id"]},
                headers=api.auth(agent["token"]),
            )
        ).json()["items"]
        assert listed[0]["last_message"]["body"] == "two"
        assert listed[0]["last_message"]["author"]["kind"] == "customer"
        assert listed[0]["agent_last_read_seq"] == 0

        async with api.agent_socket(agent["token"]) as console:
            await console.expect("hello")
            await console.send({"type": "read", "conversation_id": conversation_id, "seq": 1})
            assert await widget.expect("read") == {
                "type": "read",
                "conversation_id": conversation_id,
                "seq": 1,
            }
        # REST too; never backwards, never past the last message.
        for seq, status in ((2, 204), (1, 204), (99, 204)):
            r = await api.http.post(
                f"/api/v1/conversations/{conversation_id}/read",
                json={"seq": seq},
                headers=api.auth(other["token"]),
            )
            assert r.status_code == status, r.text
        assert (await widget.expect("read"))["seq"] == 2
        assert [f for f in await widget.quiet(0.3) if f["type"] == "read"] == []
    conversation = (
        await api.http.get(
            f"/api/v1/conversations/{conversation_id}", headers=api.auth(agent["token"])
        )
    ).json()
    assert conversation["agent_last_read_seq"] == 2


async def test_reads_of_a_conversation_one_may_not_see_are_refused(
    api: Api, inbox: dict[str, Any]
) -> None:
    hidden_inbox = await api.create_inbox(teams=["vault"])
    outsider = await api.create_agent()
    session = await api.new_session(hidden_inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "secret"})
        conversation_id = (await widget.expect("ack"))["conversation_id"]
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/read",
        json={"seq": 1},
        headers=api.auth(outsider["token"]),
    )
    assert r.status_code == 404
