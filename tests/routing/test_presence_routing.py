"""Presence drives routing: offline after the grace period gives chats back to
the queue at their old place; a reload gives nothing back; away takes nothing."""

from __future__ import annotations

import asyncio
import contextlib

from tests.harness import Api
from tests.routing.helpers import (
    Team,
    assigned_to,
    assignee_of,
    console,
    customer,
    queue,
    resolve,
    settled,
)


async def test_offline_agent_chats_go_back_to_their_old_place_in_the_queue(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1)
    ben = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        ben_console = await console(api, stack, ben)
        async with contextlib.AsyncExitStack() as ann_stack:
            await console(api, ann_stack, ann)
            first = await customer(api, stack, inbox, "first")
            second = await customer(api, stack, inbox, "second")
            await settled(api, first.conversation_id, ann["id"])
            await settled(api, second.conversation_id, ben["id"])
            third = await customer(api, stack, inbox, "third")
            fourth = await customer(api, stack, inbox, "fourth")
            await third.widget.expect_for("status", third.conversation_id, queue_position=1)
            await fourth.widget.expect_for("status", fourth.conversation_id, queue_position=2)
        # Ann closed the laptop. After the grace period her chat is back in the
        # queue ahead of those who came after it, and its customer is told.
        await first.widget.expect_for("status", first.conversation_id, queue_position=1)
        await third.widget.expect_for("status", third.conversation_id, queue_position=2)
        await fourth.widget.expect_for("status", fourth.conversation_id, queue_position=3)
        waiting = [item["conversation_id"] for item in await queue(api, inbox["id"])]
        assert waiting == [first.conversation_id, third.conversation_id, fourth.conversation_id]

        # Ben frees room: the oldest waiting, Ann's old chat, is his.
        await resolve(api, ben["token"], second.conversation_id)
        await assigned_to(ben_console, first.conversation_id, ben["id"])
        assert await assignee_of(api, third.conversation_id) is None


async def test_an_offline_agents_chat_moves_on_to_a_colleague_with_room(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1)
    ben = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        async with contextlib.AsyncExitStack() as ann_stack:
            await console(api, ann_stack, ann)
            chat = await customer(api, stack, inbox)
            await settled(api, chat.conversation_id, ann["id"])
            ben_console = await console(api, stack, ben)
        await assigned_to(ben_console, chat.conversation_id, ben["id"])


async def test_a_reload_within_the_grace_period_moves_nothing(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1)
    ben = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        async with contextlib.AsyncExitStack() as ann_stack:
            await console(api, ann_stack, ann)
            chat = await customer(api, stack, inbox)
            await settled(api, chat.conversation_id, ann["id"])
        # The page reloads: Ann is back at once; Ben, with room, is online too.
        ann_again = await console(api, stack, ann)
        ben_console = await console(api, stack, ben)
        await asyncio.sleep(2)  # past the grace period (1 s on this server)
        assert await assignee_of(api, chat.conversation_id) == ann["id"]
        assert all(
            (f.get("conversation") or {}).get("id") != chat.conversation_id
            for f in ben_console.seen + await ben_console.quiet(0.2)
        )
        assert all(f["type"] != "conversation.assigned" for f in await ann_again.quiet(0.2))


async def test_away_agents_get_no_new_chats_until_they_are_back(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=2)
    ben = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        await ann_console.send({"type": "presence", "status": "away"})
        assert (await ann_console.expect("presence"))["status"] == "away"
        await console(api, stack, ben)
        first = await customer(api, stack, inbox, "first")
        await settled(api, first.conversation_id, ben["id"])
        # Ann has room but is away: the second waits.
        second = await customer(api, stack, inbox, "second")
        await second.widget.expect_for("status", second.conversation_id, queue_position=1)
        assert await assignee_of(api, second.conversation_id) is None
        assert not [f for f in await ann_console.quiet(0.3) if f["type"] == "conversation.assigned"]
        # Back online: the waiting chat is hers at once.
        await ann_console.send({"type": "presence", "status": "online"})
        await assigned_to(ann_console, second.conversation_id, ann["id"])
