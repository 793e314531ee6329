"""Transfer and escalation carry a note the receiving agent reads first."""

from __future__ import annotations

import contextlib
from typing import Any

from tests.harness import Api, Socket
from tests.routing.helpers import Team, assigned_to, assignee_of, console, customer, settled


async def _note_then_assignment(
    api: Api, socket: Socket, agent: dict[str, Any], conversation_id: int, words: str
) -> None:
    """The agent's first frame about the conversation is the note; when the
    assignment comes, the note is already in the history."""
    first = await socket.expect_for("message.created", conversation_id)
    assert first["message"]["private"] is True
    assert first["message"]["author"]["kind"] == "system"
    assert words in first["message"]["body"]
    assert [f for f in socket.seen if _about(f) == conversation_id][0] == first
    await assigned_to(socket, conversation_id, agent["id"])
    history = await api.messages(conversation_id, agent["token"])
    assert words in history[-1]["body"]


def _about(frame: dict[str, Any]) -> int | None:
    found = frame.get("conversation_id") or (frame.get("conversation") or {}).get("id")
    return int(found) if found is not None else None


async def test_transfer_to_a_team_reaches_an_online_member_with_the_note_first(api: Api) -> None:
    front, billing = Team(api), Team(api)
    inbox = await front.inbox(billing.name)
    ann = await front.agent(capacity=2)
    bill = await billing.agent(capacity=2, teams=[billing.name])
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        chat = await customer(api, stack, inbox, "I was charged twice")
        await settled(api, chat.conversation_id, ann["id"])
        # Bill's team serves the inbox too, but Ann had room first... and now
        # Bill is online, with room.
        bill_console = await console(api, stack, bill)
        r = await api.http.post(
            f"/api/v1/conversations/{chat.conversation_id}/transfer",
            json={"team": billing.name, "note": "Refund order 42, card ending 4242"},
            headers=api.auth(ann["token"]),
        )
        assert r.status_code == 200, r.text
        await _note_then_assignment(
            api, bill_console, bill, chat.conversation_id, "Refund order 42, card ending 4242"
        )
        await assigned_to(ann_console, chat.conversation_id, None)


async def test_functional_escalation_goes_to_an_agent_with_the_skill(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(sticky_seconds=0)
    ann = await team.agent(capacity=1)
    expert = await team.agent(capacity=1, skills=["refunds"])
    async with contextlib.AsyncExitStack() as stack:
        await console(api, stack, ann)
        chat = await customer(api, stack, inbox, "I want my money back")
        await settled(api, chat.conversation_id, ann["id"])
        expert_console = await console(api, stack, expert)
        r = await api.http.post(
            f"/api/v1/conversations/{chat.conversation_id}/escalate",
            json={"to": "team", "skill": "refunds", "note": "Order 42, paid by card"},
            headers=api.auth(ann["token"]),
        )
        assert r.status_code == 200, r.text
        assert r.json()["assignee_id"] is None
        await _note_then_assignment(
            api, expert_console, expert, chat.conversation_id, "Order 42, paid by card"
        )


async def test_hierarchical_escalation_waits_for_a_supervisor(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(sticky_seconds=0)
    ann = await team.agent(capacity=2)
    ben = await team.agent(capacity=2)
    boss = await team.agent(capacity=1, role="supervisor")
    async with contextlib.AsyncExitStack() as stack:
        ann_console = await console(api, stack, ann)
        chat = await customer(api, stack, inbox, "I want to speak to a manager")
        await assigned_to(ann_console, chat.conversation_id, ann["id"])
        ben_console = await console(api, stack, ben)
        r = await api.http.post(
            f"/api/v1/conversations/{chat.conversation_id}/escalate",
            json={"to": "supervisor", "note": "Third late delivery this month"},
            headers=api.auth(ann["token"]),
        )
        assert r.status_code == 200, r.text
        # No supervisor online: it waits for one, though Ann and Ben have room.
        await chat.widget.expect_for("status", chat.conversation_id, queue_position=1)
        frames = await ann_console.quiet(0.3) + await ben_console.quiet(0.3)
        assert not [
            f
            for f in frames
            if f["type"] == "conversation.assigned" and f["conversation"]["assignee_id"]
        ]
        assert await assignee_of(api, chat.conversation_id) is None
        boss_console = await console(api, stack, boss)
        await assigned_to(boss_console, chat.conversation_id, boss["id"])
        history = await api.messages(chat.conversation_id, boss["token"])
        notes = [m["body"] for m in history if m["private"]]
        assert notes == [
            f"Escalated to a supervisor by {ann['name']}: Third late delivery this month"
        ]


async def test_escalation_follows_the_rules_of_transfer(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox()
    ann = await team.agent(capacity=1)
    ben = await team.agent(capacity=1)
    async with contextlib.AsyncExitStack() as stack:
        await console(api, stack, ann)
        chat = await customer(api, stack, inbox)
        await settled(api, chat.conversation_id, ann["id"])
    url = f"/api/v1/conversations/{chat.conversation_id}/escalate"
    # Only the assignee (or a supervisor) hands it on.
    r = await api.http.post(url, json={"to": "supervisor"}, headers=api.auth(ben["token"]))
    assert r.status_code == 403
    r = await api.http.post(url, json={"to": "team"}, headers=api.auth(api.admin_token))
    assert r.status_code == 422
    r = await api.http.post(
        url, json={"to": "team", "team": "no-such-team"}, headers=api.auth(api.admin_token)
    )
    assert r.status_code == 404
    r = await api.http.post(
        url, json={"to": "supervisor", "skill": "x"}, headers=api.auth(api.admin_token)
    )
    assert r.status_code == 422
