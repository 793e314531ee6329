"""What one widget session may ask of the server over its sockets: resume
and rating frames are throttled, and a session opens a bounded number of
sockets. Past a limit the client is told so; nothing legitimate is lost."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.conftest import StartServer
from tests.harness import Api, Socket

TRY_AGAIN_LATER = 1013


async def _close_code(widget: Socket) -> int | None:
    """Reads frames until the server closes the socket: its close code."""
    try:
        while True:
            await widget.next()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def _answers(widget: Socket, count: int, kind: str) -> list[dict[str, Any]]:
    """The next `count` frames of `kind` or `error`, in order."""
    answers = []
    while len(answers) < count:
        frame = await widget.next()
        if frame["type"] in (kind, "error"):
            answers.append(frame)
    return answers


async def test_a_burst_of_resume_frames_is_throttled(start_server: StartServer) -> None:
    api = await start_server({"MADOGUCHI_RATE_WIDGET_RESUMES": "3"})
    inbox = await api.create_inbox()
    token = (await api.new_session(inbox))["session_token"]
    async with api.widget(token) as widget:
        await widget.send({"type": "message", "client_id": "m-1", "body": "hello"})
        ack = await widget.expect("ack")
        for _ in range(6):
            await widget.send(
                {"type": "resume", "conversation_id": ack["conversation_id"], "after_seq": 0}
            )
        answers = await _answers(widget, 6, "resumed")
        assert [a["type"] for a in answers] == ["resumed"] * 3 + ["error"] * 3
        for answer in answers[:3]:
            assert answer["last_seq"] == 1
        for refusal in answers[3:]:
            assert refusal["code"] == "rate_limited"
            assert refusal["retry_after"] > 0
        # The socket stays open: messages and their acks go on.
        await widget.send({"type": "message", "client_id": "m-2", "body": "still here"})
        assert (await widget.expect("ack"))["client_id"] == "m-2"
    stored = await api.messages(ack["conversation_id"])
    assert [m["body"] for m in stored] == ["hello", "still here"]


async def test_a_burst_of_rating_frames_is_throttled(start_server: StartServer) -> None:
    api = await start_server({"MADOGUCHI_RATE_WIDGET_SIGNALS": "3"})
    inbox = await api.create_inbox()
    token = (await api.new_session(inbox))["session_token"]
    async with api.widget(token) as widget:
        await widget.send({"type": "message", "client_id": "m-1", "body": "thanks"})
        conversation_id = (await widget.expect("ack"))["conversation_id"]
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/resolve",
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 200, r.text
        await widget.expect("status", conversation_status="resolved")
        for rating in range(1, 6):
            await widget.send(
                {"type": "csat", "conversation_id": conversation_id, "rating": rating}
            )
        answers = await _answers(widget, 5, "csat")
        assert [a.get("rating") for a in answers[:3]] == [1, 2, 3]
        for refusal in answers[3:]:
            assert refusal["type"] == "error"
            assert refusal["code"] == "rate_limited"
            assert refusal["retry_after"] > 0
        await widget.send({"type": "message", "client_id": "m-2", "body": "one more thing"})
        assert (await widget.expect("ack"))["client_id"] == "m-2"
    # The last rating let through is the one kept.
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    assert r.json()["csat"]["rating"] == 3


async def test_a_session_opens_a_bounded_number_of_sockets(start_server: StartServer) -> None:
    cap = 3
    api = await start_server({"MADOGUCHI_WIDGET_MAX_SOCKETS_PER_SESSION": str(cap)})
    inbox = await api.create_inbox()
    session = await api.new_session(inbox)
    token = session["session_token"]
    async with AsyncExitStack() as stack:
        tabs = [await stack.enter_async_context(api.widget(token)) for _ in range(cap)]
        for tab in tabs:
            await tab.expect("status")
        # One more with the same token is refused: 1013, try again later.
        async with api.widget(token) as extra:
            assert await _close_code(extra) == TRY_AGAIN_LATER
        # Another session counts on its own.
        another = await api.new_session(inbox)
        async with api.widget(another["session_token"]) as elsewhere:
            await elsewhere.expect("status")

        # The open tabs are untouched: a message from one, an answer to all.
        await tabs[0].send({"type": "message", "client_id": "m-1", "body": "hello"})
        ack = await tabs[0].expect("ack")
        r = await api.http.post(
            f"/api/v1/conversations/{ack['conversation_id']}/messages",
            json={"body": "hi there"},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 201, r.text
        for tab in tabs:
            assert (await tab.expect("message", body="hi there"))["seq"] == 2

        # A closed tab frees its place for a new one.
        await tabs.pop().ws.close()
        await _reopen(api, token)


async def _reopen(api: Api, token: str) -> None:
    """Opens a socket once the server has let the closed one go (its
    receive loop ends a moment after the close handshake)."""
    for _ in range(50):
        async with api.widget(token) as widget:
            frame, code = await _first_frame_or_close(widget)
        if frame is not None:
            assert frame["type"] == "availability"
            return
        assert code == TRY_AGAIN_LATER
        await asyncio.sleep(0.05)
    raise AssertionError("the closed socket's place was never freed")


async def _first_frame_or_close(widget: Socket) -> tuple[dict[str, Any] | None, int | None]:
    try:
        return await widget.next(), None
    except ConnectionClosed as closed:
        return None, closed.rcvd.code if closed.rcvd is not None else None
