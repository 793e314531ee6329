"""Out of hours nobody is handed a chat: the inbox is closed (the same answer
the away message and the widget's availability give), so its conversations
wait in the queue until it opens, and an agent may still take one by hand."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from tests.harness import Api
from tests.responders.conftest import minute, now, one_slot, set_hours
from tests.routing.helpers import Team, assigned_to, assignee_of, console, customer, queue


async def test_a_closed_inbox_waits_for_its_opening(api: Api) -> None:
    team = Team(api)
    closed = await team.inbox(sticky_seconds=0)
    open_inbox = await team.inbox(sticky_seconds=0)
    hana = await team.agent(capacity=3, name="Hana Sato")
    opens = minute(now()) + timedelta(hours=2)
    await set_hours(api, closed, one_slot(opens, opens + timedelta(hours=1), "Asia/Tokyo"))
    async with contextlib.AsyncExitStack() as stack:
        desk = await console(api, stack, hana)
        night = await customer(api, stack, closed, "Anyone there?")
        # Written after, to an open inbox: the pass that gives it to Hana
        # walked the queue past the closed inbox's chat, first in line.
        day = await customer(api, stack, open_inbox, "Hello")
        await assigned_to(desk, day.conversation_id, hana["id"])
        assert await assignee_of(api, night.conversation_id) is None
        waiting = [q["conversation_id"] for q in await queue(api, closed["id"])]
        assert waiting == [night.conversation_id]
        # The inbox opens (its hours now include this moment): Hana gets it.
        start = minute(now()) - timedelta(hours=1)
        await set_hours(api, closed, one_slot(start, start + timedelta(hours=3), "Asia/Tokyo"))
        await assigned_to(desk, night.conversation_id, hana["id"])


async def test_out_of_hours_an_agent_takes_a_chat_by_hand(api: Api) -> None:
    team = Team(api)
    closed = await team.inbox(sticky_seconds=0)
    hana = await team.agent(capacity=3, name="Hana Sato")
    opens = minute(now()) + timedelta(hours=2)
    await set_hours(api, closed, one_slot(opens, opens + timedelta(hours=1)))
    async with contextlib.AsyncExitStack() as stack:
        await console(api, stack, hana)
        chat = await customer(api, stack, closed, "Anyone there?")
        r = await api.http.post(
            f"/api/v1/conversations/{chat.conversation_id}/messages",
            json={"body": "I'm still here, how can I help?"},
            headers=api.auth(hana["token"]),
        )
        assert r.status_code == 201, r.text
        assert await assignee_of(api, chat.conversation_id) == hana["id"]
