"""The agents' conversation API: lists, filters, paging, assign, transfer, resolve."""

from __future__ import annotations

from typing import Any

from tests.harness import Api


async def _open(api: Api, inbox: dict[str, Any], body: str = "hello") -> int:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": body})
        return int((await widget.expect("ack"))["conversation_id"])


async def test_list_filters_by_inbox_assignee_and_status(api: Api) -> None:
    inbox = await api.create_inbox()
    agent = await api.create_agent()
    a, b, c = [await _open(api, inbox) for _ in range(3)]
    h = api.auth(api.admin_token)
    r = await api.http.post(
        f"/api/v1/conversations/{a}/assign", json={"agent_id": agent["id"]}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["assignee"]["id"] == agent["id"]
    r = await api.http.post(f"/api/v1/conversations/{c}/resolve", headers=h)
    assert r.json()["status"] == "resolved"

    async def ids(**params: Any) -> list[int]:
        r = await api.http.get(
            "/api/v1/conversations", params={"inbox_id": inbox["id"], **params}, headers=h
        )
        assert r.status_code == 200, r.text
        return sorted(item["id"] for item in r.json()["items"])

    assert await ids() == sorted([a, b])  # without status: all but resolved
    assert await ids(status="resolved") == [c]
    assert await ids(assignee="none") == [b]
    assert await ids(assignee=str(agent["id"])) == [a]
    mine = await api.http.get(
        "/api/v1/conversations", params={"assignee": "me"}, headers=api.auth(agent["token"])
    )
    assert [i["id"] for i in mine.json()["items"]] == [a]
    r = await api.http.get("/api/v1/conversations", params={"assignee": "someone"}, headers=h)
    assert r.status_code == 422

    r = await api.http.post(f"/api/v1/conversations/{c}/reopen", headers=h)
    assert r.json()["status"] == "open"
    assert await ids() == sorted([a, b, c])


async def test_conversation_shape(api: Api, inbox: dict[str, Any]) -> None:
    conversation_id = await _open(api, inbox)
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    body = r.json()
    assert body["channel"] == "web"
    assert body["status"] == "open"
    assert body["customer"]["id"] == body["customer_id"]
    assert body["assignee"] is None
    assert body["assignee_id"] is None
    assert body["created_at"].endswith("+00:00")


async def test_list_pages_with_cursor(api: Api) -> None:
    inbox = await api.create_inbox()
    opened = {await _open(api, inbox) for _ in range(5)}
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"inbox_id": inbox["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (
            await api.http.get(
                "/api/v1/conversations", params=params, headers=api.auth(api.admin_token)
            )
        ).json()
        seen.extend(i["id"] for i in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(opened)
    assert len(seen) == len(set(seen))
    r = await api.http.get(
        "/api/v1/conversations", params={"limit": 500}, headers=api.auth(api.admin_token)
    )
    assert r.status_code == 422


async def test_messages_after_seq(api: Api, inbox: dict[str, Any]) -> None:
    conversation_id = await _open(api, inbox, "first")
    h = api.auth(api.admin_token)
    for body in ("second", "third"):
        await api.http.post(
            f"/api/v1/conversations/{conversation_id}/messages", json={"body": body}, headers=h
        )
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}/messages", params={"after_seq": 1}, headers=h
    )
    items = r.json()["items"]
    assert [m["body"] for m in items] == ["second", "third"]
    assert {m["channel"] for m in items} == {"web"}
    assert all(m["private"] is False for m in items)


async def test_rest_reply_is_idempotent_by_client_id(api: Api, inbox: dict[str, Any]) -> None:
    conversation_id = await _open(api, inbox)
    h = api.auth(api.admin_token)
    url = f"/api/v1/conversations/{conversation_id}/messages"
    first = (await api.http.post(url, json={"body": "once", "client_id": "k1"}, headers=h)).json()
    again = (await api.http.post(url, json={"body": "once", "client_id": "k1"}, headers=h)).json()
    assert first["id"] == again["id"]
    assert [m["body"] for m in await api.messages(conversation_id)].count("once") == 1


async def test_team_inbox_hidden_from_agents_outside_the_team(api: Api) -> None:
    inbox = await api.create_inbox(teams=["billing"])
    billing = await api.create_agent(teams=["billing"])
    outsider = await api.create_agent(teams=["sales"])
    conversation_id = await _open(api, inbox)
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(outsider["token"])
    )
    assert r.status_code == 404
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "hi"},
        headers=api.auth(outsider["token"]),
    )
    assert r.status_code == 404
    listed = await api.http.get("/api/v1/conversations", headers=api.auth(outsider["token"]))
    assert conversation_id not in [i["id"] for i in listed.json()["items"]]
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(billing["token"])
    )
    assert r.status_code == 200
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/assign",
        json={"agent_id": outsider["id"]},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 422


async def test_new_conversation_offered_only_to_online_agents_of_the_inbox(api: Api) -> None:
    inbox = await api.create_inbox(teams=["billing"])
    member = await api.create_agent(teams=["billing"])
    outsider = await api.create_agent(teams=["sales"])
    async with api.agent_socket(member["token"]) as m, api.agent_socket(outsider["token"]) as o:
        await m.expect("hello")
        await o.expect("hello")
        conversation_id = await _open(api, inbox, "invoice question")
        offer = await m.expect("conversation.updated")
        assert offer["conversation"]["id"] == conversation_id
        created = await m.expect("message.created")
        assert created["message"]["body"] == "invoice question"
        assert all(
            f.get("conversation", {}).get("id") != conversation_id for f in await o.quiet(0.5)
        )
        assert all(f.get("conversation_id") != conversation_id for f in o.seen)


async def test_transfer_to_agent_leaves_a_private_summary(api: Api, inbox: dict[str, Any]) -> None:
    first = await api.create_agent()
    second = await api.create_agent()
    conversation_id = await _open(api, inbox)
    url = f"/api/v1/conversations/{conversation_id}"
    await api.http.post(
        f"{url}/assign", json={"agent_id": first["id"]}, headers=api.auth(first["token"])
    )
    async with api.agent_socket(second["token"]) as console:
        await console.expect("hello")
        r = await api.http.post(
            f"{url}/transfer",
            json={"agent_id": second["id"], "note": "Wants a refund for order 42"},
            headers=api.auth(first["token"]),
        )
        assert r.status_code == 200, r.text
        assert r.json()["assignee"]["id"] == second["id"]
        # The note comes first: the receiving agent reads it before anything else.
        note = await console.expect_for("message.created", conversation_id)
        assert note["message"]["private"] is True
        assert "Wants a refund for order 42" in note["message"]["body"]
        assigned = await console.expect_for("conversation.assigned", conversation_id)
        assert assigned["conversation"]["assignee_id"] == second["id"]


async def test_agent_cannot_take_another_agents_conversation(
    api: Api, inbox: dict[str, Any]
) -> None:
    owner = await api.create_agent()
    other = await api.create_agent()
    conversation_id = await _open(api, inbox)
    url = f"/api/v1/conversations/{conversation_id}/assign"
    await api.http.post(url, json={"agent_id": owner["id"]}, headers=api.auth(api.admin_token))
    r = await api.http.post(url, json={"agent_id": other["id"]}, headers=api.auth(other["token"]))
    assert r.status_code == 403


async def test_bodies_take_numbers_and_flags_as_json_schema_means_them(
    api: Api, inbox: dict[str, Any]
) -> None:
    conversation_id = await _open(api, inbox)
    url = f"/api/v1/conversations/{conversation_id}"
    h = api.auth(api.admin_token)
    for refused in ({"seq": False}, {"seq": "1"}, {"seq": 1.5}):
        r = await api.http.post(f"{url}/read", json=refused, headers=h)
        assert r.status_code == 422, (refused, r.text)
        assert r.json()["error"] == "invalid_request"
    # 1.0 is an integer in JSON Schema.
    assert (await api.http.post(f"{url}/read", json={"seq": 1.0}, headers=h)).status_code == 204
    r = await api.http.post(f"{url}/messages", json={"body": "hi", "private": 0}, headers=h)
    assert r.status_code == 422, r.text
    r = await api.http.post(f"{url}/messages", json={"body": "a\u0000b"}, headers=h)
    assert r.status_code == 422, r.text


async def test_transfer_takes_an_agent_or_a_team_not_both(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent(teams=["billing"])
    conversation_id = await _open(api, inbox)
    h = api.auth(api.admin_token)
    for body in ({"agent_id": agent["id"], "team": "billing"}, {}, {"note": "x"}):
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/transfer", json=body, headers=h
        )
        assert r.status_code == 422, (body, r.text)
    detail = await api.http.get(f"/api/v1/conversations/{conversation_id}", headers=h)
    assert detail.json()["assignee"] is None


async def test_lists_and_details_answer_their_declared_shapes(
    api: Api, inbox: dict[str, Any]
) -> None:
    """Optional fields are left out, not sent as null: the typed answers keep
    the bodies clients already read."""
    conversation_id = await _open(api, inbox)
    h = api.auth(api.admin_token)
    r = await api.http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=h)
    assert r.status_code == 200, r.text
    first = r.json()["items"][0]
    assert first["client_id"] == "c-1"
    assert "delivery_status" not in first
    assert "attachments" not in first
    assert first["author"] == {"kind": "customer", "name": first["author"]["name"]}
    schema = (await api.http.get("/openapi.json")).json()
    answer = schema["paths"]["/api/v1/conversations/{conversation_id}"]["get"]["responses"]
    assert answer["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConversationDetail"
    }
    assert "404" in answer
