"""Bad frames, oversized frames, bad tokens and foreign origins."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.harness import Api


async def test_bad_session_token_is_refused_before_any_data(api: Api) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with api.widget("forged-token"):
            pass
    assert refused.value.response.status_code in (401, 403)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this is not json", "invalid_json"),
        ("[1, 2, 3]", "invalid_frame"),
        (json.dumps({"type": "teleport"}), "unknown_type"),
        (json.dumps({"type": "message", "body": "no client id"}), "invalid_frame"),
        (json.dumps({"type": "message", "client_id": "x"}), "invalid_frame"),
        (json.dumps({"type": "message", "client_id": "x", "body": 42}), "invalid_frame"),
        (json.dumps({"type": "resume", "after_seq": "zero"}), "invalid_frame"),
        (json.dumps({"type": "csat", "rating": 9}), "invalid_frame"),
    ],
)
async def test_bad_frame_gets_error_and_socket_stays_usable(
    api: Api, inbox: dict[str, Any], frame: str, code: str
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.expect("status")
        await widget.send(frame)
        error = await widget.expect("error")
        assert error["code"] == code
        await widget.send({"type": "message", "client_id": "after", "body": "still here"})
        ack = await widget.expect("ack")
    assert [m["body"] for m in await api.messages(ack["conversation_id"])] == ["still here"]


async def test_binary_frame_gets_error(api: Api, inbox: dict[str, Any]) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.ws.send(b"\x00\x01")
        assert (await widget.expect("error"))["code"] == "invalid_frame"


async def test_agent_socket_bad_frames(api: Api) -> None:
    agent = await api.create_agent()
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await console.send("{oops")
        assert (await console.expect("error"))["code"] == "invalid_json"
        await console.send(
            {"type": "message", "conversation_id": 999999, "client_id": "x", "body": "?"}
        )
        error = await console.expect("error")
        assert error["code"] == "not_found"
        assert error["client_id"] == "x"
        await console.send({"type": "ping"})
        await console.expect("pong")


async def test_oversized_frame_closes_with_1009_and_loses_nothing(
    api: Api, inbox: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"], max_size=None) as widget:
        await widget.send({"type": "message", "client_id": "small", "body": "fits"})
        ack = await widget.expect("ack")
        await widget.send({"type": "message", "client_id": "big", "body": "x" * (65 * 1024)})
        with pytest.raises(ConnectionClosed) as closed:
            await widget.quiet(5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    assert [m["client_id"] for m in await api.messages(ack["conversation_id"])] == ["small"]


async def test_widget_origin_is_checked(api: Api) -> None:
    inbox = await api.create_inbox({"allowed_origins": ["https://shop.example"]})
    r = await api.http.post(
        "/api/v1/widget/sessions",
        json={"widget_key": inbox["widget_key"]},
        headers={"origin": "https://evil.example"},
    )
    assert r.status_code == 403
    r = await api.http.post(
        "/api/v1/widget/sessions",
        json={"widget_key": inbox["widget_key"]},
        headers={"origin": "https://shop.example"},
    )
    assert r.status_code == 200
    token = r.json()["session_token"]
    with pytest.raises(InvalidStatus):
        async with api.widget(token, origin="https://evil.example"):
            pass
    async with api.widget(token, origin="https://shop.example") as widget:
        await widget.expect("status")


async def test_the_servers_own_pages_may_always_use_the_widget(api: Api) -> None:
    """The hosted chat page and /demo are the server's own (contract): an
    inbox that names its shop's origin still works there, and only there
    besides the shop."""
    inbox = await api.create_inbox({"allowed_origins": ["https://shop.example"]})
    own = api.server.url  # http://127.0.0.1:PORT, the Host the browser sends
    r = await api.http.post(
        "/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"]}, headers={"origin": own}
    )
    assert r.status_code == 200, r.text
    token = r.json()["session_token"]
    async with api.widget(token, origin=own) as widget:
        await widget.send({"type": "message", "client_id": "own-1", "body": "from /chat"})
        ack = await widget.expect("ack")
    assert [m["client_id"] for m in await api.messages(ack["conversation_id"])] == ["own-1"]
    r = await api.http.post(
        "/api/v1/widget/attachments",
        params={"filename": "note.txt", "client_id": "own-2"},
        content=b"hello",
        headers={**api.auth(token), "origin": own, "content-type": "text/plain"},
    )
    assert r.status_code == 201, r.text
    # Another port of the same host is another origin: still refused.
    r = await api.http.post(
        "/api/v1/widget/sessions",
        json={"widget_key": inbox["widget_key"]},
        headers={"origin": "http://127.0.0.1:1"},
    )
    assert r.status_code == 403


async def test_agent_socket_refuses_foreign_origin(api: Api) -> None:
    agent = await api.create_agent()
    with pytest.raises(InvalidStatus):
        async with api.agent_socket(agent["token"], origin="https://evil.example"):
            pass
    async with api.agent_socket(agent["token"], origin=api.server.url) as console:
        await console.expect("hello")


async def test_unknown_widget_key_is_404(api: Api) -> None:
    r = await api.http.post("/api/v1/widget/sessions", json={"widget_key": "nope"})
    assert r.status_code == 404
