"""An erasure on one process ends the customer's widget sockets on another."""

from __future__ import annotations

from tests.contacts.test_erasure import POLICY_VIOLATION, closed_by_server
from tests.scale.conftest import Cluster


async def test_erasing_on_b_closes_the_widget_socket_on_a(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    inbox = await a.create_inbox()
    session = await a.new_session(inbox, name="Alice")
    async with a.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "Hello from A"})
        ack = await widget.expect("ack")
        r = await b.http.post(
            f"/api/v1/customers/{session['customer_id']}/erase", headers=b.auth(b.admin_token)
        )
        assert r.status_code == 200, r.text
        # Closed by A, which heard of the erasure over the shared bus.
        assert await closed_by_server(widget) == POLICY_VIOLATION
    messages = await a.messages(ack["conversation_id"])
    assert [m["body"] for m in messages if m["author"]["kind"] == "customer"] == [""]
