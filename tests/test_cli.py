"""The operator's commands."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import StartServer
from tests.harness import Api, Server, base_database_url
from tests.routing.helpers import Team, assigned_to, console, customer, settled


@pytest.mark.skipif(base_database_url() is not None, reason="checks the embedded SQLite default")
def test_migrate_and_create_admin_on_the_embedded_default(tmp_path: Path) -> None:
    server = Server(tmp_path, {}, None)
    migrated = server.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    db = sqlite3.connect(tmp_path / "madoguchi.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"agents", "conversations", "messages", "jobs", "identities"} <= tables

    created = server.cli("create-admin", "--email", "Boss@Example.com", "--password", "long-enough")
    assert created.returncode == 0, created.stderr
    again = server.cli("create-admin", "--email", "boss@example.com", "--password", "long-enough")
    assert again.returncode == 1
    assert "exists" in again.stderr
    short = server.cli("create-admin", "--email", "x@example.com", "--password", "short")
    assert short.returncode == 1
    assert db.execute("SELECT count(*) FROM agents").fetchone()[0] == 1


async def _me(api: Api, token: str) -> int:
    return (await api.http.get("/api/v1/agents/me", headers=api.auth(token))).status_code


async def test_deactivating_from_the_shell_locks_the_agent_out_of_a_running_server(
    start_server: StartServer,
) -> None:
    # A server of its own: on the shared one, a conversation another test
    # left waiting in an inbox without a team (everyone's) could take the
    # agent's one place before this test's chat does.
    api = await start_server()
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1)
    ben = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        chat = await customer(api, stack, inbox)
        await settled(api, chat.conversation_id, ann["id"])
        ben_console = await console(api, stack, ben)

        done = await asyncio.to_thread(api.server.cli, "agents", "deactivate", ann["email"])
        assert done.returncode == 0, done.stderr
        # Her open socket tries to answer before the server hears of it: refused.
        with contextlib.suppress(ConnectionClosed):
            await ann_console.send(
                {
                    "type": "message",
                    "conversation_id": chat.conversation_id,
                    "client_id": "from-the-old-socket",
                    "body": "one last word",
                }
            )
        # The server was not told, and still: her token is dead at once...
        assert await _me(api, ann["token"]) == 401
        # ...her socket closes within the check's bound (2 s)...
        with pytest.raises(ConnectionClosed) as closed:
            await ann_console.quiet(6)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "account deactivated")
        # ...and her chat goes on to Ben.
        await assigned_to(ben_console, chat.conversation_id, ben["id"])
    bodies = [m["body"] for m in await api.messages(chat.conversation_id)]
    assert "one last word" not in bodies
    r = await api.http.post(
        "/api/v1/auth/token", json={"email": ann["email"], "password": "agent-password"}
    )
    assert r.status_code == 401

    listed = await asyncio.to_thread(api.server.cli, "agents", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0] == ["id", "email", "name", "role", "active"]
    assert [str(ann["id"]), ann["email"], ann["name"], "agent", "false"] in rows
    assert [str(ben["id"]), ben["email"], ben["name"], "agent", "true"] in rows

    back = await asyncio.to_thread(api.server.cli, "agents", "activate", str(ann["id"]))
    assert back.returncode == 0, back.stderr
    assert await _me(api, await api.login(ann["email"], "agent-password")) == 200
    assert await _me(api, ann["token"]) == 401

    missing = await asyncio.to_thread(api.server.cli, "agents", "deactivate", "nobody@example.com")
    assert missing.returncode == 1
    assert "no agent" in missing.stderr


async def test_resetting_a_password_from_the_shell_ends_every_session(api: Api) -> None:
    agent = await api.create_agent()
    async with api.agent_socket(agent["token"]) as socket:
        await socket.expect("hello")
        done = await asyncio.to_thread(
            api.server.cli, "agents", "reset-password", agent["email"], "--password", "from-shell-1"
        )
        assert done.returncode == 0, done.stderr
        assert await _me(api, agent["token"]) == 401
        with pytest.raises(ConnectionClosed) as closed:
            await socket.quiet(6)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
    old = await api.http.post(
        "/api/v1/auth/token", json={"email": agent["email"], "password": "agent-password"}
    )
    assert old.status_code == 401
    assert await api.login(agent["email"], "from-shell-1")

    # From the environment, so it is not in the shell's history or `ps`.
    api.server.env["MADOGUCHI_NEW_PASSWORD"] = "from-shell-2"
    try:
        done = await asyncio.to_thread(api.server.cli, "agents", "reset-password", str(agent["id"]))
    finally:
        del api.server.env["MADOGUCHI_NEW_PASSWORD"]
    assert done.returncode == 0, done.stderr
    assert await api.login(agent["email"], "from-shell-2")

    # No password anywhere and no terminal to ask on; or one too short.
    for extra in ((), ("--password", "short")):
        refused = await asyncio.to_thread(
            api.server.cli, "agents", "reset-password", agent["email"], *extra
        )
        assert refused.returncode == 1
        assert "error" in refused.stderr
    assert await api.login(agent["email"], "from-shell-2")
