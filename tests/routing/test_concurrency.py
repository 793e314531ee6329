"""200 customers at once, 10 agents of capacity 3, agents coming and going:
no conversation assigned twice, no agent above capacity, the rest waiting in
arrival order."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.harness import Api, Socket
from tests.routing.helpers import Team, console, queue

CUSTOMERS = 200
AGENTS = 10
CAPACITY = 3


async def _listen(socket: Socket, frames: list[dict[str, Any]], closed: list[int | None]) -> None:
    with contextlib.suppress(Exception):
        while True:
            frames.append(await socket.next(timeout=120))
    # Closed by the server (not by the test leaving): its code, for the assertion.
    closed.append(socket.ws.close_code)


async def _open_conversations(api: Api, inbox_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"inbox_id": inbox_id, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = await api.http.get(
            "/api/v1/conversations", params=params, headers=api.auth(api.admin_token)
        )
        assert r.status_code == 200, r.text
        items.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


def _holders_told(
    frames: dict[int, list[dict[str, Any]]], conversations: list[dict[str, Any]], leaver_id: int
) -> bool:
    """Whether each assigned conversation's holder got a frame assigning it to
    them (the leaver's may have come while they were away: see below)."""
    told = {
        (frame["conversation"]["id"], agent_id)
        for agent_id, seen in frames.items()
        for frame in seen
        if frame["type"] == "conversation.assigned"
        and frame["conversation"]["assignee_id"] == agent_id
    }
    return all(
        (c["id"], c["assignee_id"]) in told
        for c in conversations
        if c["assignee_id"] not in (None, leaver_id)
    )


async def test_a_rush_of_customers_with_agents_coming_and_going(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(sticky_seconds=0, answer_timeout_seconds=0)
    agents = [await team.agent(capacity=CAPACITY) for _ in range(AGENTS)]
    sessions = [await api.new_session(inbox) for _ in range(CUSTOMERS)]
    # Frames each agent received, on every socket they had.
    frames: dict[int, list[dict[str, Any]]] = {a["id"]: [] for a in agents}
    # Close codes of sockets that ended while the test still read them.
    closes: dict[int, list[int | None]] = {a["id"]: [] for a in agents}

    async def write(session: dict[str, Any]) -> None:
        async with api.widget(session["session_token"]) as widget:
            await widget.expect("status")
            await widget.send({"type": "message", "client_id": "rush", "body": "help!"})
            await widget.expect("ack", timeout=60)

    async def wave(start: int, end: int) -> None:
        await asyncio.gather(*(write(s) for s in sessions[start:end]))

    async with contextlib.AsyncExitStack() as stack:
        readers = []

        async def connect(agent: dict[str, Any], where: contextlib.AsyncExitStack) -> Socket:
            socket = await console(api, where, agent)
            readers.append(
                asyncio.create_task(_listen(socket, frames[agent["id"]], closes[agent["id"]]))
            )
            return socket

        leaver, away = agents[0], agents[1]
        leaving = contextlib.AsyncExitStack()
        await connect(leaver, leaving)
        away_socket = await connect(away, stack)
        await away_socket.send({"type": "presence", "status": "away"})
        for agent in agents[2:]:
            await connect(agent, stack)
        # Waves of customers arriving at once, agents coming and going between.
        await wave(0, 20)
        await leaving.aclose()  # offline after the grace period: its chats move on
        await wave(20, 80)
        await away_socket.send({"type": "presence", "status": "online"})
        await wave(80, 140)
        await connect(leaver, stack)
        await wave(140, CUSTOMERS)

        # Everyone is online again: 30 assigned, 170 waiting, once it settles.
        for _ in range(300):
            conversations = await _open_conversations(api, inbox["id"])
            assigned = [c for c in conversations if c["assignee_id"] is not None]
            if len(assigned) == AGENTS * CAPACITY:
                break
            await asyncio.sleep(0.1)
        conversations = await _open_conversations(api, inbox["id"])
        # The last assignments' frames leave after their commit: on a loaded
        # machine they may trail the database by more than a moment.
        for _ in range(300):
            if _holders_told(frames, conversations, leaver["id"]):
                break
            await asyncio.sleep(0.1)
        for reader in readers:
            reader.cancel()
    leaver_closes = closes.pop(agents[0]["id"])
    assert leaver_closes in ([], [1000]), leaver_closes  # its first socket, closed by the test
    assert all(not codes for codes in closes.values()), closes

    assert len(conversations) == CUSTOMERS
    holder = {c["id"]: c["assignee_id"] for c in conversations}
    load: dict[int, int] = {}
    for agent_id in holder.values():
        if agent_id is not None:
            load[agent_id] = load.get(agent_id, 0) + 1
    # No agent above capacity; every seat taken.
    assert load == {a["id"]: CAPACITY for a in agents}
    # First come, first served: the 30 who came first are served, and the
    # others wait in the order they came.
    by_arrival = sorted(holder)
    served = sorted(c for c, a in holder.items() if a is not None)
    assert served == by_arrival[: AGENTS * CAPACITY]
    waiting = [item["conversation_id"] for item in await queue(api, inbox["id"])]
    assert waiting == by_arrival[AGENTS * CAPACITY :]
    assert [item["position"] for item in await queue(api, inbox["id"])] == list(
        range(1, CUSTOMERS - AGENTS * CAPACITY + 1)
    )
    # Never assigned twice: a conversation reached a second agent only after
    # the agent who had it went offline (and it came back to the queue).
    receivers: dict[int, list[int]] = {}
    for agent_id, seen in frames.items():
        for frame in seen:
            if frame["type"] == "conversation.assigned":
                conversation = frame["conversation"]
                if conversation["assignee_id"] == agent_id:
                    receivers.setdefault(conversation["id"], []).append(agent_id)
    for conversation_id, got in receivers.items():
        if leaver["id"] not in got:
            assert len(got) == 1, (conversation_id, got)
        if holder[conversation_id] is not None:
            assert got[-1] == holder[conversation_id]
    # An agent within the grace period is still online for routing: the
    # leaver may be handed conversations while no socket of theirs is open.
    # Their console learns of those from the list it fetches on reconnecting.
    r = await api.http.get(
        "/api/v1/conversations",
        params={"assignee": "me", "limit": 200},
        headers=api.auth(leaver["token"]),
    )
    assert r.status_code == 200, r.text
    for item in r.json()["items"]:
        receivers.setdefault(item["id"], []).append(leaver["id"])
    assert set(served) <= set(receivers)
    # Agents who stayed never lost a conversation, so never holding more than
    # their capacity means never having been given more.
    for agent in agents[1:]:
        given = {c for c, got in receivers.items() if agent["id"] in got}
        assert len(given) == CAPACITY, agent
