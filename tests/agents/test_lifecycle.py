"""Offboarding: an admin deactivates an agent, changes a role or teams, or
resets a password, and it counts at once: on the next request, on the next
frame of a socket already open, and for the conversations the agent held."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import StartServer
from tests.harness import ADMIN_EMAIL, ADMIN_PASSWORD, Api, Socket
from tests.routing.helpers import Team, assigned_to, console, customer, settled


@pytest.fixture(scope="module")
async def api(start_module_server: StartServer) -> Api:
    """A long presence grace period: an agent whose socket closes stays online
    for it, so what a deactivation takes back is not presence's doing."""
    return await start_module_server({"MADOGUCHI_PRESENCE_GRACE_SECONDS": "60"})


async def patch(api: Api, agent_id: int, body: Any, token: str | None = None) -> Any:
    return await api.http.patch(
        f"/api/v1/agents/{agent_id}", json=body, headers=api.auth(token or api.admin_token)
    )


async def me(api: Api, token: str) -> int:
    return (await api.http.get("/api/v1/agents/me", headers=api.auth(token))).status_code


async def closed_by_server(socket: Socket) -> tuple[int, str]:
    """Waits for the server to close the socket: its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        await socket.quiet(10)
    assert closed.value.rcvd is not None, "the client closed, not the server"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_deactivated_agent_is_out_at_once_and_their_chat_moves_on(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1)
    ben = await team.agent(capacity=1)
    spare_token = await api.login(ann["email"], "agent-password")
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        chat = await customer(api, stack, inbox)
        await settled(api, chat.conversation_id, ann["id"])
        ben_console = await console(api, stack, ben)

        r = await patch(api, ann["id"], {"active": False})
        assert r.status_code == 200, r.text
        assert r.json()["active"] is False

        # Every token of hers, not only the one the console used, at once.
        assert await me(api, ann["token"]) == 401
        assert await me(api, spare_token) == 401
        assert await closed_by_server(ann_console) == (1008, "account deactivated")
        # Her chat goes to Ben now, not when the 60 s grace period ends.
        await assigned_to(ben_console, chat.conversation_id, ben["id"])
        while True:  # the customer hears of it (after any status of before)
            status = await chat.widget.expect_for("status", chat.conversation_id)
            if (status.get("assignee") or {}).get("name") == ben["name"]:
                break

    login = await api.http.post(
        "/api/v1/auth/token", json={"email": ann["email"], "password": "agent-password"}
    )
    assert login.status_code == 401
    listed = await api.http.get("/api/v1/agents", headers=api.auth(api.admin_token))
    assert next(a for a in listed.json()["items"] if a["id"] == ann["id"])["active"] is False

    # Back again: she signs in; the tokens of before stay dead.
    r = await patch(api, ann["id"], {"active": True})
    assert r.status_code == 200
    assert r.json()["active"] is True
    token = await api.login(ann["email"], "agent-password")
    assert await me(api, token) == 200
    assert await me(api, ann["token"]) == 401


async def test_an_open_socket_cannot_act_for_a_deactivated_agent(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        chat = await customer(api, stack, inbox)
        await settled(api, chat.conversation_id, ann["id"])
        r = await patch(api, ann["id"], {"active": False})
        assert r.status_code == 200
        # Whatever she manages to send before the close lands is not stored.
        with contextlib.suppress(ConnectionClosed):
            await ann_console.send(
                {
                    "type": "message",
                    "conversation_id": chat.conversation_id,
                    "client_id": "after-deactivation",
                    "body": "still here?",
                }
            )
            frames = await ann_console.quiet(2)
            assert not [f for f in frames if f["type"] == "ack"]
    bodies = [m["body"] for m in await api.messages(chat.conversation_id)]
    assert "still here?" not in bodies


async def test_a_demoted_supervisor_stops_seeing_other_teams_at_once(api: Api) -> None:
    own, other = Team(api), Team(api)
    other_inbox = await other.inbox()
    sue = await own.agent(role="supervisor")
    async with contextlib.AsyncExitStack() as stack:
        sue_console = await console(api, stack, sue)
        # Nobody of the other team is online: the chat waits, unassigned.
        chat = await customer(api, stack, other_inbox, "first")
        await sue_console.send({"type": "watch", "conversation_id": chat.conversation_id})
        await sue_console.expect("watch", conversation_id=chat.conversation_id)
        await chat.widget.send({"type": "message", "client_id": "second", "body": "second"})
        created = await sue_console.expect_for("message.created", chat.conversation_id)
        assert created["message"]["body"] == "second"

        r = await patch(api, sue["id"], {"role": "agent"})
        assert r.status_code == 200
        assert r.json()["role"] == "agent"

        # The socket she opened as a supervisor carries nothing more of it...
        await chat.widget.send({"type": "message", "client_id": "third", "body": "third"})
        await chat.widget.expect("ack")
        leaked = [
            f
            for f in await sue_console.quiet(1.5)
            if chat.conversation_id
            in (f.get("conversation_id"), (f.get("conversation") or {}).get("id"))
        ]
        assert leaked == []
        # ...cannot watch it again, and the next request says the same.
        await sue_console.send({"type": "watch", "conversation_id": chat.conversation_id})
        refused = await sue_console.expect("error")
        assert refused["code"] == "not_found"
        r = await api.http.get(
            f"/api/v1/conversations/{chat.conversation_id}", headers=api.auth(sue["token"])
        )
        assert r.status_code == 404

        # Moved into the other team, she serves it again, on the same socket.
        r = await patch(api, sue["id"], {"teams": [other.name]})
        assert r.status_code == 200
        assert r.json()["teams"] == [other.name]
        await sue_console.send({"type": "watch", "conversation_id": chat.conversation_id})
        await sue_console.expect("watch", conversation_id=chat.conversation_id)


async def test_a_password_reset_ends_every_session(api: Api) -> None:
    agent = await api.create_agent()
    other_token = await api.login(agent["email"], "agent-password")
    async with api.agent_socket(agent["token"]) as socket:
        await socket.expect("hello")
        r = await api.http.post(
            f"/api/v1/agents/{agent['id']}/password",
            json={"password": "a-brand-new-one"},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 204, r.text
        assert (await closed_by_server(socket))[0] == 1008
    assert await me(api, agent["token"]) == 401
    assert await me(api, other_token) == 401
    old = await api.http.post(
        "/api/v1/auth/token", json={"email": agent["email"], "password": "agent-password"}
    )
    assert old.status_code == 401
    assert await me(api, await api.login(agent["email"], "a-brand-new-one")) == 200

    r = await api.http.post(
        "/api/v1/agents/999999/password",
        json={"password": "a-brand-new-one"},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 404
    r = await api.http.post(
        f"/api/v1/agents/{agent['id']}/password",
        json={"password": "short"},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 422


async def test_only_admins_change_agents(api: Api) -> None:
    target = await api.create_agent(capacity=3)
    plain = await api.create_agent()
    supervisor = await api.create_agent("supervisor")
    for token in (plain["token"], supervisor["token"]):
        assert (await patch(api, target["id"], {"active": False}, token)).status_code == 403
        assert (await patch(api, plain["id"], {"role": "admin"}, token)).status_code == 403
        r = await api.http.post(
            f"/api/v1/agents/{target['id']}/password",
            json={"password": "taken-over-now"},
            headers=api.auth(token),
        )
        assert r.status_code == 403
    assert await me(api, target["token"]) == 200
    assert await me(api, await api.login(target["email"], "agent-password")) == 200
    # Supervisors list agents (with `active`); plain agents do not.
    listed = await api.http.get("/api/v1/agents", headers=api.auth(supervisor["token"]))
    assert listed.status_code == 200
    assert all(isinstance(a["active"], bool) for a in listed.json()["items"])
    r = await api.http.get("/api/v1/agents", headers=api.auth(plain["token"]))
    assert r.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"activ": False},
        {"active": False, "password": "sneaked-in"},
        {"capacity": False},
        {"capacity": "3"},
        {"active": 0},
        {"active": "false"},
        {"role": "owner"},
        {"role": None},
        {"active": None},
        {"teams": "support"},
        {"name": ""},
    ],
)
async def test_a_bad_change_is_refused_whole(api: Api, body: dict[str, Any]) -> None:
    agent = await api.create_agent(capacity=3)
    r = await patch(api, agent["id"], body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    stored = await api.http.get("/api/v1/agents/me", headers=api.auth(agent["token"]))
    assert stored.status_code == 200
    assert stored.json()["capacity"] == 3
    assert stored.json()["active"] is True


async def test_a_change_of_name_capacity_and_skills_is_kept(api: Api) -> None:
    agent = await api.create_agent(capacity=3)
    r = await patch(
        api, agent["id"], {"name": "Ann Other", "capacity": 0, "skills": ["ja", "ja", "billing"]}
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["name"], got["capacity"], got["skills"]) == ("Ann Other", 0, ["ja", "billing"])
    assert (await patch(api, 999999, {"capacity": 1})).status_code == 404


async def test_the_last_active_admin_stays(start_server: StartServer) -> None:
    api = await start_server()
    first = (await api.http.get("/api/v1/agents/me", headers=api.auth(api.admin_token))).json()
    for change in ({"role": "supervisor"}, {"active": False}, {"role": "agent", "active": False}):
        r = await patch(api, first["id"], change)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "last_admin"
    second = await api.create_agent("admin")
    # A deactivated admin is no admin to fall back on.
    assert (await patch(api, second["id"], {"active": False})).status_code == 200
    assert (await patch(api, first["id"], {"role": "agent"})).status_code == 409
    assert (await patch(api, second["id"], {"active": True})).status_code == 200
    second_token = await api.login(second["email"], "agent-password")
    r = await patch(api, first["id"], {"role": "agent"}, second_token)
    assert r.status_code == 200, r.text
    # The first is an agent from this request on, with the token of before.
    assert (await patch(api, second["id"], {"capacity": 1})).status_code == 403
    r = await patch(api, second["id"], {"active": False}, second_token)
    assert r.status_code == 409
    assert r.json()["error"] == "last_admin"
    assert await me(api, second_token) == 200
    # Changing anything else of the last admin is fine.
    assert (await patch(api, second["id"], {"capacity": 2}, second_token)).status_code == 200
    assert await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
