"""The issue's acceptance scenario: two agents of capacity 1 and three customers."""

from __future__ import annotations

import contextlib

from tests.harness import Api
from tests.routing.helpers import (
    Team,
    assigned_to,
    assignee_of,
    console,
    customer,
    resolve,
    served,
)


async def test_third_customer_waits_first_in_line_and_is_served_when_a_chat_ends(
    api: Api,
) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1, name="Ann")
    ben = await team.agent(capacity=1, name="Ben")
    names = {ann["id"]: "Ann", ben["id"]: "Ben"}
    async with contextlib.AsyncExitStack() as stack:
        consoles = {a["id"]: await console(api, stack, a) for a in (ann, ben)}
        first = await customer(api, stack, inbox, "My order is late")
        second = await customer(api, stack, inbox, "I was charged twice")
        third = await customer(api, stack, inbox, "Can I change my address?")

        # Two are served, one by each agent, and each customer's widget says by whom.
        holder = {}
        for chat in (first, second):
            status = await served(chat)
            assert status["queue_position"] is None
            holder[chat.conversation_id] = await assignee_of(api, chat.conversation_id)
            assert status["assignee"] == {"name": names[holder[chat.conversation_id]]}
        assert sorted(holder.values()) == sorted(names)
        for conversation_id, agent_id in holder.items():
            await assigned_to(consoles[agent_id], conversation_id, agent_id)

        # The third waits: number 1 in the queue, about so many seconds.
        waiting = await third.widget.expect_for("status", third.conversation_id, queue_position=1)
        assert waiting["conversation_status"] == "open"
        assert isinstance(waiting["expected_wait_seconds"], int)
        assert waiting["expected_wait_seconds"] > 0
        assert await assignee_of(api, third.conversation_id) is None

        # Ann resolves her chat: the third is hers at once.
        anns = next(c for c, a in holder.items() if a == ann["id"])
        await resolve(api, ann["token"], anns)
        await assigned_to(consoles[ann["id"]], third.conversation_id, ann["id"])
        status = await served(third)
        assert status["queue_position"] is None
        assert status["assignee"] == {"name": "Ann"}
        assert await assignee_of(api, third.conversation_id) == ann["id"]


async def test_a_customer_who_reconnects_while_waiting_is_told_their_place(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    async with contextlib.AsyncExitStack() as stack:
        first = await customer(api, stack, inbox, "anyone there?")
        await first.widget.expect_for("status", first.conversation_id, queue_position=1)
    # Nobody serves the team yet; the customer reloads the page.
    async with api.widget(first.session["session_token"]) as widget:
        status = await widget.expect("status")
        assert status["conversation_id"] == first.conversation_id
        assert status["queue_position"] == 1
        assert status["expected_wait_seconds"] > 0


async def test_a_customer_assigned_by_hand_is_not_told_a_queue_place_on_reconnect(
    api: Api,
) -> None:
    """A supervisor assigns the chat the moment it arrives (before routing's
    next telling of the queue), and the customer reloads: no place in line."""
    team = Team(api)
    inbox = await team.inbox()
    agent = await team.agent()
    async with contextlib.AsyncExitStack() as stack:
        first = await customer(api, stack, inbox, "anyone there?")
        await first.widget.expect_for("status", first.conversation_id, queue_position=1)
        r = await api.http.post(
            f"/api/v1/conversations/{first.conversation_id}/assign",
            json={"agent_id": agent["id"]},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 200, r.text
    async with api.widget(first.session["session_token"]) as widget:
        status = await widget.expect("status")
        assert status["conversation_id"] == first.conversation_id
        assert "queue_position" not in status
