"""What a widget socket knows when it (re)connects: the agents' read mark, and
the customer it belongs to after a merge."""

from __future__ import annotations

from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.harness import Api, Socket


async def _chat(api: Api, token: str, client_id: str, body: str) -> dict[str, Any]:
    async with api.widget(token) as widget:
        await widget.send({"type": "message", "client_id": client_id, "body": body})
        return await widget.expect("ack")


async def _close_code(widget: Socket) -> int | None:
    """Reads frames until the server closes the socket: its close code."""
    try:
        while True:
            await widget.next()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_status_on_connect_carries_the_agents_read_mark(
    api: Api, inbox: dict[str, Any]
) -> None:
    agent = await api.create_agent()
    token = (await api.new_session(inbox))["session_token"]
    await _chat(api, token, "c-1", "first")
    ack = await _chat(api, token, "c-2", "second")
    conversation_id = ack["conversation_id"]
    async with api.widget(token) as widget:
        status = await widget.expect("status")
        assert status["conversation_id"] == conversation_id
        assert status["agent_read_seq"] == 0
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/read",
        json={"seq": 1},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 204, r.text
    # A reload: the new socket's first status says how far agents read.
    async with api.widget(token) as widget:
        status = await widget.expect("status")
        assert status["agent_read_seq"] == 1


async def test_a_merged_customers_socket_is_closed_and_reconnects_as_the_kept_one(
    api: Api, inbox: dict[str, Any]
) -> None:
    agent = await api.create_agent()
    kept = await api.new_session(inbox, name="Kept")
    other = await api.new_session(inbox, name="Other")
    await _chat(api, kept["session_token"], "k-1", "from the kept customer")
    async with api.widget(other["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "o-1", "body": "from the other one"})
        ack = await widget.expect("ack")
        r = await api.http.post(
            f"/api/v1/customers/{kept['customer_id']}/merge",
            json={"other_customer_id": other["customer_id"]},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 200, r.text
        code = await _close_code(widget)
        # The widget reconnects on anything but 1008 (refused).
        assert code == 4001

    # The same session token now speaks for the kept customer, live.
    async with api.widget(other["session_token"]) as widget:
        status = await widget.expect("status")
        assert status["conversation_id"] is not None
        r = await api.http.post(
            f"/api/v1/conversations/{ack['conversation_id']}/messages",
            json={"body": "an answer after the merge"},
            headers=api.auth(agent["token"]),
        )
        assert r.status_code == 201, r.text
        message = await widget.expect("message", body="an answer after the merge")
        assert message["conversation_id"] == ack["conversation_id"]
    r = await api.http.get(
        f"/api/v1/conversations/{ack['conversation_id']}", headers=api.auth(api.admin_token)
    )
    assert r.json()["customer_id"] == kept["customer_id"]


async def test_an_undone_merge_closes_the_kept_customers_sockets_too(
    api: Api, inbox: dict[str, Any]
) -> None:
    kept = await api.new_session(inbox)
    other = await api.new_session(inbox)
    await _chat(api, kept["session_token"], "k-1", "kept")
    await _chat(api, other["session_token"], "o-1", "other")
    r = await api.http.post(
        f"/api/v1/customers/{kept['customer_id']}/merge",
        json={"other_customer_id": other["customer_id"]},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    merge_id = r.json()["merge"]["id"]
    # After the merge, the other session's socket runs as the kept customer.
    async with api.widget(other["session_token"]) as widget:
        await widget.expect("status")
        r = await api.http.post(
            f"/api/v1/customers/{kept['customer_id']}/merges/{merge_id}/undo",
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 200, r.text
        code = await _close_code(widget)
        assert code == 4001
