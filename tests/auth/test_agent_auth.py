"""Agent login, tokens, roles, logout and password change."""

from __future__ import annotations

import re
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import StartServer
from tests.harness import ADMIN_EMAIL, Api


async def test_login_returns_token_and_agent(api: Api) -> None:
    agent = await api.create_agent(role="supervisor")
    r = await api.http.get("/api/v1/agents/me", headers=api.auth(agent["token"]))
    assert r.status_code == 200
    assert r.json()["role"] == "supervisor"
    # 256 bits of randomness in URL-safe base64: at least 43 characters.
    assert len(agent["token"]) >= 43


async def test_wrong_password_is_401(api: Api) -> None:
    r = await api.http.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": "nope"})
    assert r.status_code == 401
    assert r.json()["error"] == "not_authenticated"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic abc"])
async def test_missing_or_bad_token_is_401(api: Api, header: str | None) -> None:
    headers = {"authorization": header} if header else {}
    r = await api.http.get("/api/v1/conversations", headers=headers)
    assert r.status_code == 401


async def test_role_too_low_is_403(api: Api) -> None:
    agent = await api.create_agent(role="agent")
    r = await api.http.post(
        "/api/v1/agents",
        json={"email": "x@example.com", "name": "X", "password": "password1", "role": "admin"},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 403
    r = await api.http.post(
        "/api/v1/inboxes", json={"name": "n", "channel": "web"}, headers=api.auth(agent["token"])
    )
    assert r.status_code == 403


async def test_duplicate_agent_email_is_409(api: Api) -> None:
    r = await api.http.post(
        "/api/v1/agents",
        json={"email": ADMIN_EMAIL, "name": "Again", "password": "password1", "role": "agent"},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 409


async def test_widget_session_token_is_not_an_agent_token(api: Api, inbox: dict[str, Any]) -> None:
    session = await api.new_session(inbox)
    r = await api.http.get("/api/v1/conversations", headers=api.auth(session["session_token"]))
    assert r.status_code == 401


async def test_bad_token_refused_at_agent_socket_handshake(api: Api) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with api.agent_socket("not-a-token"):
            pass
    assert refused.value.response.status_code in (401, 403)


async def test_logout_kills_token_and_closes_its_sockets(api: Api) -> None:
    agent = await api.create_agent()
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        r = await api.http.post("/api/v1/auth/logout", headers=api.auth(agent["token"]))
        assert r.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await console.quiet(5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
    r = await api.http.get("/api/v1/agents/me", headers=api.auth(agent["token"]))
    assert r.status_code == 401


async def test_password_change_closes_every_socket_of_the_agent(api: Api) -> None:
    agent = await api.create_agent()
    other_token = await api.login(agent["email"], "agent-password")
    async with api.agent_socket(agent["token"]) as one, api.agent_socket(other_token) as two:
        await one.expect("hello")
        await two.expect("hello")
        r = await api.http.put(
            "/api/v1/agents/me/password",
            json={"current_password": "agent-password", "new_password": "a-new-password"},
            headers=api.auth(agent["token"]),
        )
        assert r.status_code == 200
        for socket in (one, two):
            with pytest.raises(ConnectionClosed):
                await socket.quiet(5)
    for token in (agent["token"], other_token):
        r = await api.http.get("/api/v1/agents/me", headers=api.auth(token))
        assert r.status_code == 401
    assert await api.login(agent["email"], "a-new-password")


async def test_status_update(api: Api) -> None:
    agent = await api.create_agent()
    r = await api.http.put(
        "/api/v1/agents/me/status", json={"status": "away"}, headers=api.auth(agent["token"])
    )
    assert r.status_code == 200
    async with api.agent_socket(agent["token"]) as console:
        hello = await console.expect("hello")
        # The socket does not override a chosen "away".
        assert hello["status"] == "away"
    r = await api.http.put(
        "/api/v1/agents/me/status", json={"status": "dancing"}, headers=api.auth(agent["token"])
    )
    assert r.status_code == 422


async def test_login_is_rate_limited_per_account(start_server: StartServer) -> None:
    api = await start_server({"MADOGUCHI_RATE_LOGIN": "3"})
    for _ in range(3):
        r = await api.http.post(
            "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": "bad"}
        )
        assert r.status_code == 401
    r = await api.http.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": "bad"})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # Even the right password waits: guessing further is pointless.
    r = await api.http.post(
        "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": "correct horse battery"}
    )
    assert r.status_code == 429


async def test_tokens_never_reach_the_log(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent()
    session = await api.new_session(inbox)
    async with (
        api.agent_socket(agent["token"]) as console,
        api.widget(session["session_token"]) as w,
    ):
        await console.expect("hello")
        await w.expect("status")
    log = api.server.log_text()
    assert re.search(r"/ws/widget\?token=\[redacted\]", log), (
        "the access log should show the socket"
    )
    for secret in (agent["token"], session["session_token"], api.admin_token, "agent-password"):
        assert secret not in log
