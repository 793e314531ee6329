"""An open socket makes an agent online; leaving without a return within the
grace period makes them offline."""

from __future__ import annotations

import asyncio

from tests.conftest import StartServer
from tests.harness import Api


async def _status(api: Api, agent_id: int) -> str:
    r = await api.http.get("/api/v1/agents", headers=api.auth(api.admin_token))
    return str(next(a["status"] for a in r.json()["items"] if a["id"] == agent_id))


async def test_offline_only_after_the_grace_period(start_server: StartServer) -> None:
    api = await start_server({"MADOGUCHI_PRESENCE_GRACE_SECONDS": "2"})
    agent = await api.create_agent()
    assert await _status(api, agent["id"]) == "offline"
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        assert await _status(api, agent["id"]) == "online"
    # A reload: back within the grace period, never seen offline.
    assert await _status(api, agent["id"]) == "online"
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await console.send({"type": "presence", "status": "away"})
        assert (await console.expect("presence"))["status"] == "away"
        assert await _status(api, agent["id"]) == "away"
        await console.send({"type": "presence", "status": "online"})
        await console.expect("presence")
    for _ in range(100):
        if await _status(api, agent["id"]) == "offline":
            break
        await asyncio.sleep(0.1)
    assert await _status(api, agent["id"]) == "offline"


async def test_away_agent_is_not_offered_new_conversations(api: Api) -> None:
    inbox = await api.create_inbox(teams=["presence-test"])
    agent = await api.create_agent(teams=["presence-test"])
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await console.send({"type": "presence", "status": "away"})
        await console.expect("presence")
        session = await api.new_session(inbox)
        async with api.widget(session["session_token"]) as widget:
            await widget.send({"type": "message", "client_id": "c-1", "body": "anyone?"})
            ack = await widget.expect("ack")
        # This chat's frames: an earlier test's chat waiting for anyone may
        # have been handed to the agent in the moment before "away".
        assert not [
            f
            for f in await console.quiet(0.5)
            if f["type"].startswith(("conversation", "message"))
            and ack["conversation_id"]
            in (f.get("conversation_id"), f.get("conversation", {}).get("id"))
        ]
