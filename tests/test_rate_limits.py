"""Past a limit: 429 with Retry-After, or an error frame; nothing acked is lost."""

from __future__ import annotations

from tests.conftest import StartServer


async def test_widget_sessions_and_messages_are_rate_limited(start_server: StartServer) -> None:
    api = await start_server(
        {"MADOGUCHI_RATE_WIDGET_SESSIONS": "3", "MADOGUCHI_RATE_WIDGET_MESSAGES": "5"}
    )
    inbox = await api.create_inbox()
    sessions = [await api.new_session(inbox) for _ in range(3)]
    r = await api.http.post("/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"]})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # Resuming an existing session is not a new session.
    resumed = await api.new_session(inbox, session_token=sessions[0]["session_token"])
    assert resumed["customer_id"] == sessions[0]["customer_id"]

    acked: list[str] = []
    limited: list[str] = []
    async with api.widget(sessions[0]["session_token"]) as widget:
        for i in range(8):
            await widget.send({"type": "message", "client_id": f"m-{i}", "body": f"message {i}"})
        for _ in range(8):
            frame = await widget.next()
            while frame["type"] not in ("ack", "error"):
                frame = await widget.next()
            if frame["type"] == "ack":
                acked.append(frame["client_id"])
                conversation_id = frame["conversation_id"]
            else:
                assert frame["code"] == "rate_limited"
                assert frame["retry_after"] > 0
                limited.append(frame["client_id"])
    assert sorted(acked) == [f"m-{i}" for i in range(5)]
    assert sorted(limited) == [f"m-{i}" for i in range(5, 8)]
    stored = await api.messages(conversation_id)
    assert sorted(m["client_id"] for m in stored) == sorted(acked)


async def test_typing_and_read_frames_are_rate_limited(start_server: StartServer) -> None:
    """Each typing or read frame costs a database round trip: they have a limit too."""
    api = await start_server({"MADOGUCHI_RATE_WIDGET_SIGNALS": "4"})
    inbox = await api.create_inbox()
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "m-1", "body": "hello"})
        ack = await widget.expect("ack")
        for _ in range(3):
            await widget.send({"type": "typing", "on": True})
        await widget.send({"type": "read", "seq": 1})
        assert not [f for f in await widget.quiet(0.5) if f["type"] == "error"]
        await widget.send({"type": "typing", "on": False})
        error = await widget.expect("error")
        assert error["code"] == "rate_limited"
        assert error["retry_after"] > 0
        await widget.send({"type": "read", "seq": 1})
        assert (await widget.expect("error"))["code"] == "rate_limited"
        # Messages have their own limit and still go through.
        await widget.send({"type": "message", "client_id": "m-2", "body": "still here"})
        assert (await widget.expect("ack"))["client_id"] == "m-2"
    assert len(await api.messages(ack["conversation_id"])) == 2
