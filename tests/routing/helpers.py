"""Customers, agents and teams for the routing tests (see conftest.py: each
test keeps to a team of its own on the shared routing server)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from tests.harness import Api, Socket


class Team:
    """A team with its inbox: only its own agents serve its customers."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.name = f"team-{uuid.uuid4().hex[:8]}"

    async def inbox(self, *also: str, **routing: Any) -> dict[str, Any]:
        inbox = await self.api.create_inbox(teams=[self.name, *also])
        if routing:
            await set_routing(self.api, inbox["id"], **routing)
        return inbox

    async def agent(
        self, capacity: int = 1, *, role: str = "agent", **extra: Any
    ) -> dict[str, Any]:
        teams = extra.pop("teams", [self.name])
        return await self.api.create_agent(role, teams, capacity=capacity, **extra)


@dataclass
class Customer:
    session: dict[str, Any]
    widget: Socket
    conversation_id: int = 0


async def customer(
    api: Api,
    stack: contextlib.AsyncExitStack,
    inbox: dict[str, Any],
    body: str = "Hello",
    **session: Any,
) -> Customer:
    """A customer with the widget open who has written their first message."""
    opened = await api.new_session(inbox, **session)
    widget = await stack.enter_async_context(api.widget(opened["session_token"]))
    await widget.expect("status")
    await widget.send({"type": "message", "client_id": "first", "body": body})
    ack = await widget.expect("ack")
    return Customer(opened, widget, int(ack["conversation_id"]))


async def console(api: Api, stack: contextlib.AsyncExitStack, agent: dict[str, Any]) -> Socket:
    socket = await stack.enter_async_context(api.agent_socket(agent["token"]))
    await socket.expect("hello")
    return socket


async def assigned_to(socket: Socket, conversation_id: int, agent_id: int | None) -> dict[str, Any]:
    """The next `conversation.assigned` of this conversation naming this assignee."""
    while True:
        frame = await socket.expect_for("conversation.assigned", conversation_id)
        if frame["conversation"]["assignee_id"] == agent_id:
            return frame


async def served(chat: Customer) -> dict[str, Any]:
    """The next `status` telling this customer an agent has their chat."""
    while True:
        status = await chat.widget.expect_for("status", chat.conversation_id)
        if status.get("assignee") is not None:
            return status


async def conversation(api: Api, conversation_id: int) -> dict[str, Any]:
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def assignee_of(api: Api, conversation_id: int) -> int | None:
    found = (await conversation(api, conversation_id))["assignee_id"]
    return int(found) if found is not None else None


async def settled(api: Api, conversation_id: int, agent_id: int | None) -> None:
    """Waits until the conversation's assignee is `agent_id` (what a frame
    already said happened reaches REST in the same commit; this is for the
    cases no frame announces)."""
    for _ in range(100):
        if await assignee_of(api, conversation_id) == agent_id:
            return
        await asyncio.sleep(0.1)
    assert await assignee_of(api, conversation_id) == agent_id


async def queue(api: Api, inbox_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = await api.http.get(
            f"/api/v1/inboxes/{inbox_id}/queue", params=params, headers=api.auth(api.admin_token)
        )
        assert r.status_code == 200, r.text
        items.extend(r.json()["items"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items


async def set_routing(api: Api, inbox_id: int, **config: Any) -> dict[str, Any]:
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox_id}/routing", json=config, headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def resolve(api: Api, token: str, conversation_id: int) -> None:
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/resolve", headers=api.auth(token)
    )
    assert r.status_code == 200, r.text
