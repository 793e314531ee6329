"""A customer's session token never reads or writes another customer's conversation."""

from __future__ import annotations

from typing import Any

from tests.harness import Api


async def _conversation_of(api: Api, token: str, body: str) -> int:
    async with api.widget(token) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": body})
        return int((await widget.expect("ack"))["conversation_id"])


async def test_resume_of_someone_elses_conversation_is_refused(
    api: Api, inbox: dict[str, Any]
) -> None:
    alice = await api.new_session(inbox, name="Alice")
    mallory = await api.new_session(inbox, name="Mallory")
    alices = await _conversation_of(api, alice["session_token"], "my address is secret")
    async with api.widget(mallory["session_token"]) as widget:
        await widget.send({"type": "resume", "after_seq": 0, "conversation_id": alices})
        error = await widget.expect("error")
        assert error["code"] == "not_found"
        assert all("secret" not in str(f) for f in widget.seen)
        # Mallory's own messages go to Mallory's own conversation.
        await widget.send({"type": "message", "client_id": "m-1", "body": "hi"})
        ack = await widget.expect("ack")
        assert ack["conversation_id"] != alices
    assert [m["body"] for m in await api.messages(alices)] == ["my address is secret"]


async def test_widget_rest_sees_only_own_conversations(api: Api, inbox: dict[str, Any]) -> None:
    alice = await api.new_session(inbox)
    mallory = await api.new_session(inbox)
    alices = await _conversation_of(api, alice["session_token"], "private")
    mine = await api.http.get(
        "/api/v1/widget/conversations", headers=api.auth(alice["session_token"])
    )
    assert [c["id"] for c in mine.json()["items"]] == [alices]
    theirs = await api.http.get(
        "/api/v1/widget/conversations", headers=api.auth(mallory["session_token"])
    )
    assert theirs.json()["items"] == []
    r = await api.http.get(
        f"/api/v1/widget/conversations/{alices}/messages",
        headers=api.auth(mallory["session_token"]),
    )
    assert r.status_code == 404
    r = await api.http.get(
        f"/api/v1/widget/conversations/{alices}/messages", headers=api.auth(alice["session_token"])
    )
    assert [m["body"] for m in r.json()["items"]] == ["private"]


async def test_agent_message_reaches_only_that_customer(api: Api, inbox: dict[str, Any]) -> None:
    alice = await api.new_session(inbox)
    bob = await api.new_session(inbox)
    alices = await _conversation_of(api, alice["session_token"], "hello")
    async with api.widget(bob["session_token"]) as bobs_widget:
        await bobs_widget.expect("status")
        r = await api.http.post(
            f"/api/v1/conversations/{alices}/messages",
            json={"body": "for Alice only"},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 201
        assert all(f.get("body") != "for Alice only" for f in await bobs_widget.quiet(0.5))


async def test_resumed_session_is_the_same_customer(api: Api, inbox: dict[str, Any]) -> None:
    first = await api.new_session(inbox, name="Alice")
    again = await api.new_session(inbox, session_token=first["session_token"])
    assert again["customer_id"] == first["customer_id"]
    stranger = await api.new_session(inbox, session_token="made-up")
    assert stranger["customer_id"] != first["customer_id"]
