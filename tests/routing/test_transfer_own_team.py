"""Handing a chat to one's own team hands it on: it goes to a colleague of
that team, never straight back to whoever transferred it (while their
console shows it unassigned). The team is matched whatever the case."""

from __future__ import annotations

import contextlib

from tests.harness import Api
from tests.routing.helpers import Team, assigned_to, assignee_of, console, customer


async def test_a_transfer_to_ones_own_team_goes_to_a_colleague(api: Api) -> None:
    team = Team(api)
    inbox = await team.inbox(sticky_seconds=0)
    ann = await team.agent(capacity=2, name="Ann")
    bob = await team.agent(capacity=2, name="Bob")
    async with contextlib.AsyncExitStack() as stack:
        ann_desk = await console(api, stack, ann)
        chat = await customer(api, stack, inbox, "Can someone from billing help?")
        await assigned_to(ann_desk, chat.conversation_id, ann["id"])
        r = await api.http.post(
            f"/api/v1/conversations/{chat.conversation_id}/transfer",
            json={"team": team.name.upper(), "note": "Billing question"},
            headers=api.auth(ann["token"]),
        )
        assert r.status_code == 200, r.text
        assert r.json()["assignee_id"] is None
        await assigned_to(ann_desk, chat.conversation_id, None)
        # Ann is the only one of the team here: it waits for a colleague.
        bob_desk = await console(api, stack, bob)
        await assigned_to(bob_desk, chat.conversation_id, bob["id"])
        assert await assignee_of(api, chat.conversation_id) == bob["id"]
