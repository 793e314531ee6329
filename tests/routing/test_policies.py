"""Per-inbox policies: least-loaded, round-robin, skills with a fallback,
sticky returning customers, the answer timeout, priority, and capacity."""

from __future__ import annotations

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
    served,
    set_routing,
    settled,
)


async def test_least_loaded_gives_to_the_agent_with_most_room(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(policy="least_loaded", sticky_seconds=0)
    small = await team.agent(capacity=1)
    large = await team.agent(capacity=3)
    async with contextlib.AsyncExitStack() as stack:
        await console(api, stack, small)
        await console(api, stack, large)
        chats = [await customer(api, stack, inbox, f"chat {n}") for n in range(4)]
        # Room 1 vs 3: the large one takes until both have one left, then each one.
        for chat in chats:
            await served(chat)
        holders = [await assignee_of(api, c.conversation_id) for c in chats]
        assert holders.count(large["id"]) == 3
        assert holders.count(small["id"]) == 1


async def test_round_robin_takes_turns(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(policy="round_robin", sticky_seconds=0)
    agents = [await team.agent(capacity=5) for _ in range(3)]
    async with contextlib.AsyncExitStack() as stack:
        for agent in agents:
            await console(api, stack, agent)
        chats = []
        for n in range(6):
            chat = await customer(api, stack, inbox, f"chat {n}")
            for _ in range(50):
                if await assignee_of(api, chat.conversation_id) is not None:
                    break
                await chat.widget.quiet(0.05)
            chats.append(chat)
        holders = [await assignee_of(api, c.conversation_id) for c in chats]
    # Each agent once per round, in the same order both rounds.
    assert sorted(holders[:3]) == sorted(a["id"] for a in agents)
    assert holders[3:] == holders[:3]


async def test_a_japanese_customer_goes_to_the_agent_with_ja(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(policy="skills", skill_wait_seconds=60, sticky_seconds=0)
    english = await team.agent(capacity=3, skills=["en"])
    japanese = await team.agent(capacity=1, skills=["ja"])
    async with contextlib.AsyncExitStack() as stack:
        await console(api, stack, english)
        ja_console = await console(api, stack, japanese)
        chat = await customer(api, stack, inbox, "こんにちは、注文について質問があります")
        await assigned_to(ja_console, chat.conversation_id, japanese["id"])
        # The widget may say so too: a customer whose page reports the language.
        said = await customer(api, stack, inbox, "Hello", language="ja-JP")
        # The ja agent is full and the wait is long: it waits for a speaker,
        # though the English agent has room.
        await said.widget.expect_for("status", said.conversation_id, queue_position=1)
        assert await assignee_of(api, said.conversation_id) is None
        plain = await customer(api, stack, inbox, "Hi, a question about my order")
        await settled(api, plain.conversation_id, english["id"])
        # The speaker frees room: the waiting Japanese customer is theirs.
        await resolve(api, japanese["token"], chat.conversation_id)
        await assigned_to(ja_console, said.conversation_id, japanese["id"])


async def test_without_a_free_speaker_anyone_takes_it_after_the_wait(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(policy="skills", skill_wait_seconds=1, sticky_seconds=0)
    english = await team.agent(capacity=3)
    japanese = await team.agent(capacity=1, skills=["ja"])
    async with contextlib.AsyncExitStack() as stack:
        ja_console = await console(api, stack, japanese)
        busy = await customer(api, stack, inbox, "こんにちは")
        await assigned_to(ja_console, busy.conversation_id, japanese["id"])
        en_console = await console(api, stack, english)
        chat = await customer(api, stack, inbox, "すみません、返品したいです")
        await chat.widget.expect_for("status", chat.conversation_id, queue_position=1)
        # The only speaker is busy: after the inbox's wait, the English agent takes it.
        await assigned_to(en_console, chat.conversation_id, english["id"])


async def test_with_no_speaker_online_nobody_is_kept_waiting(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(policy="skills", skill_wait_seconds=600, sticky_seconds=0)
    english = await team.agent(capacity=3)
    async with contextlib.AsyncExitStack() as stack:
        en_console = await console(api, stack, english)
        # The page says "ja" but nobody here lists it: no wait for a speaker.
        chat = await customer(api, stack, inbox, "Hello", language="ja")
        await assigned_to(en_console, chat.conversation_id, english["id"])


async def test_a_returning_customer_goes_back_to_their_agent(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(policy="least_loaded")
    ann = await team.agent(capacity=2)
    ben = await team.agent(capacity=5)
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        first = await customer(api, stack, inbox, "Where is my parcel?")
        await assigned_to(ann_console, first.conversation_id, ann["id"])
        await resolve(api, ann["token"], first.conversation_id)
        ben_console = await console(api, stack, ben)
        # The same customer writes again: a new conversation, back to Ann,
        # though Ben has more room.
        await first.widget.send({"type": "message", "client_id": "again", "body": "Me again"})
        again = (await first.widget.expect("ack"))["conversation_id"]
        assert again != first.conversation_id
        await assigned_to(ann_console, again, ann["id"])
        # Someone new goes by the policy: to Ben, who has the most room.
        stranger = await customer(api, stack, inbox, "Hello")
        await assigned_to(ben_console, stranger.conversation_id, ben["id"])


async def test_an_unanswered_chat_moves_to_the_next_agent_with_a_note(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(answer_timeout_seconds=1, sticky_seconds=0)
    slow = await team.agent(capacity=1, name="Slow Sam")
    quick = await team.agent(capacity=1, name="Quick Kim")
    supervisor = await team.agent(capacity=0, role="supervisor")
    async with contextlib.AsyncExitStack() as stack:
        slow_console = await console(api, stack, slow)
        chat = await customer(api, stack, inbox, "Hello?")
        await assigned_to(slow_console, chat.conversation_id, slow["id"])
        quick_console = await console(api, stack, quick)
        watcher = await console(api, stack, supervisor)
        await watcher.send({"type": "watch", "conversation_id": chat.conversation_id})
        await watcher.expect("watch")
        # Sam says nothing for the inbox's answer time: Kim gets it, Sam is told.
        await assigned_to(quick_console, chat.conversation_id, quick["id"])
        await assigned_to(slow_console, chat.conversation_id, None)
        # The supervisor sees that it happened, live and in the history.
        note = await watcher.expect_for("message.created", chat.conversation_id)
        assert note["message"]["private"] is True
        assert note["message"]["body"] == "Reassigned: Slow Sam did not answer within 1 s"
        history = await api.messages(chat.conversation_id, supervisor["token"])
        assert [m["body"] for m in history if m["author"]["kind"] == "system"] == [
            "Reassigned: Slow Sam did not answer within 1 s"
        ]
        # Kim answers in time and keeps it.
        await quick_console.send(
            {
                "type": "message",
                "conversation_id": chat.conversation_id,
                "client_id": "hi",
                "body": "Hi, I'm here",
            }
        )
        await quick_console.expect("ack")
        await quick_console.quiet(1.5)
        assert await assignee_of(api, chat.conversation_id) == quick["id"]


async def test_priority_goes_first_and_manual_assignment_may_exceed_capacity(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(sticky_seconds=0)
    ann = await team.agent(capacity=1)
    supervisor = await team.agent(capacity=0, role="supervisor")
    async with contextlib.AsyncExitStack() as stack:
        chats = [await customer(api, stack, inbox, f"chat {n}") for n in range(3)]
        ids = [c.conversation_id for c in chats]
        assert [i["conversation_id"] for i in await queue(api, inbox["id"])] == ids
        r = await api.http.put(
            f"/api/v1/conversations/{ids[2]}/priority",
            json={"priority": 10},
            headers=api.auth(supervisor["token"]),
        )
        assert r.status_code == 200, r.text
        await chats[2].widget.expect_for("status", ids[2], queue_position=1)
        assert [i["conversation_id"] for i in await queue(api, inbox["id"])] == [
            ids[2],
            ids[0],
            ids[1],
        ]
        ann_console = await console(api, stack, ann)
        await assigned_to(ann_console, ids[2], ann["id"])
        # Automatic routing stops at Ann's capacity; a supervisor may go past it.
        assert await assignee_of(api, ids[0]) is None
        r = await api.http.post(
            f"/api/v1/conversations/{ids[0]}/assign",
            json={"agent_id": ann["id"]},
            headers=api.auth(supervisor["token"]),
        )
        assert r.status_code == 200, r.text
        assert r.json()["assignee_id"] == ann["id"]
        # A plain agent may not change priorities.
        r = await api.http.put(
            f"/api/v1/conversations/{ids[1]}/priority",
            json={"priority": 5},
            headers=api.auth(ann["token"]),
        )
        assert r.status_code == 403


async def test_routing_settings_are_checked_and_shown_with_the_inbox(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    assert inbox["routing"]["policy"] == "least_loaded"
    stored = await set_routing(api, inbox["id"], policy="skills", skill_wait_seconds=30)
    assert stored["policy"] == "skills"
    assert stored["sticky_seconds"] == 24 * 3600
    r = await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    assert r.json()["routing"] == stored
    bad = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/routing",
        json={"policy": "random"},
        headers=api.auth(api.admin_token),
    )
    assert bad.status_code == 422
    agent = await team.agent()
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/routing",
        json={"policy": "round_robin"},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 403


async def test_more_capacity_takes_the_next_waiting_at_once(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(sticky_seconds=0)
    ann = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        first = await customer(api, stack, inbox, "first")
        await assigned_to(ann_console, first.conversation_id, ann["id"])
        second = await customer(api, stack, inbox, "second")
        await second.widget.expect_for("status", second.conversation_id, queue_position=1)
        r = await api.http.patch(
            f"/api/v1/agents/{ann['id']}",
            json={"capacity": 2, "skills": ["ja"]},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 200, r.text
        assert (r.json()["capacity"], r.json()["skills"]) == (2, ["ja"])
        await assigned_to(ann_console, second.conversation_id, ann["id"])
        r = await api.http.patch(
            f"/api/v1/agents/{ann['id']}", json={"capacity": 9}, headers=api.auth(ann["token"])
        )
        assert r.status_code == 403
