"""The issue's acceptance scenario: two agents of capacity 1 and three customers."""

from __future__ import annotations

import contextlib

from tests.conftest import StartServer
from tests.routing.helpers import assignee_of, console, customer, resolve


async def test_third_customer_waits_first_in_line_and_is_served_when_a_chat_ends(
    start_server: StartServer,
) -> None:
    api = await start_server()
    inbox = await api.create_inbox()
    ann = await api.create_agent(capacity=1, name="Ann")
    ben = await api.create_agent(capacity=1, name="Ben")
    async with contextlib.AsyncExitStack() as stack:
        consoles = {
            ann["id"]: await console(api, stack, ann),
            ben["id"]: await console(api, stack, ben),
        }
        first = await customer(api, stack, inbox, "My order is late")
        second = await customer(api, stack, inbox, "I was charged twice")
        third = await customer(api, stack, inbox, "Can I change my address?")

        # Two are served: one each, and each customer's widget says so.
        served = {}
        for chat in (first, second):
            status = await chat.widget.expect_for("status", chat.conversation_id)
            while status.get("assignee") is None:
                status = await chat.widget.expect_for("status", chat.conversation_id)
            assert status["queue_position"] is None
            served[chat.conversation_id] = await assignee_of(api, chat.conversation_id)
            assert status["assignee"]["name"] == (
                "Ann" if served[chat.conversation_id] == ann["id"] else "Ben"
            )
        assert sorted(served.values()) == sorted([ann["id"], ben["id"]])
        for agent_id, socket in consoles.items():
            mine = [cid for cid, a in served.items() if a == agent_id]
            frame = await socket.expect_for("conversation.assigned", mine[0])
            assert frame["conversation"]["assignee_id"] == agent_id

        # The third waits: number 1 in the queue, with a wait in seconds.
        waiting = await third.widget.expect_for("status", third.conversation_id, queue_position=1)
        assert waiting["conversation_status"] == "open"
        assert isinstance(waiting["expected_wait_seconds"], int)
        assert waiting["expected_wait_seconds"] > 0
        assert await assignee_of(api, third.conversation_id) is None

        # Ann resolves her chat: the third is hers at once.
        anns = next(cid for cid, a in served.items() if a == ann["id"])
        await resolve(api, ann["token"], anns)
        assigned = await consoles[ann["id"]].expect_for(
            "conversation.assigned", third.conversation_id
        )
        assert assigned["conversation"]["assignee_id"] == ann["id"]
        status = await third.widget.expect_for("status", third.conversation_id)
        while status.get("assignee") is None:
            status = await third.widget.expect_for("status", third.conversation_id)
        assert status["queue_position"] is None
        assert status["assignee"] == {"name": "Ann"}
        assert await assignee_of(api, third.conversation_id) == ann["id"]
