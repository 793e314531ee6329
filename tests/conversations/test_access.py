"""Who may see what: one rule for REST, lists, live fan-out and customers."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.roles import Role
from app.conversations.access import ConversationScope, Viewer, may_see, serves, visible_filter
from app.kit.clock import clock
from app.models import Agent, Conversation, Customer, Inbox, InboxTeam, Team
from tests.harness import Api, migrated_database


async def _open(api: Api, inbox: dict[str, Any], body: str = "hello") -> dict[str, Any]:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": body})
        ack = await widget.expect("ack")
    return {"id": ack["conversation_id"], "session": session}


async def _visible_over_rest(api: Api, token: str, conversation_id: int) -> bool:
    one = await api.http.get(f"/api/v1/conversations/{conversation_id}", headers=api.auth(token))
    listed = await api.http.get(
        "/api/v1/conversations", params={"limit": 200}, headers=api.auth(token)
    )
    in_list = conversation_id in [c["id"] for c in listed.json()["items"]]
    assert (one.status_code == 200) == in_list, "the list and the item disagree"
    assert one.status_code in (200, 404)
    return in_list


async def test_after_a_transfer_to_a_team_live_and_rest_agree(api: Api) -> None:
    inbox = await api.create_inbox(teams=["front", "billing"])
    front = await api.create_agent(teams=["front"])
    billing = await api.create_agent(teams=["billing"])
    conversation = await _open(api, inbox)
    conversation_id = conversation["id"]
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        json={"team": "billing", "note": "invoice question"},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    async with (
        api.agent_socket(billing["token"]) as billing_socket,
        api.agent_socket(front["token"]) as front_socket,
        api.widget(conversation["session"]["session_token"]) as widget,
    ):
        await billing_socket.expect("hello")
        await front_socket.expect("hello")
        await widget.send({"type": "message", "client_id": "c-2", "body": "card number 4111"})
        live = await billing_socket.expect("message.created")
        assert live["message"]["body"] == "card number 4111"
        assert all(
            f.get("conversation_id") != conversation_id for f in await front_socket.quiet(0.5)
        )
    # The team that gets it live sees it over REST, and the other team does not.
    assert await _visible_over_rest(api, billing["token"], conversation_id)
    assert not await _visible_over_rest(api, front["token"], conversation_id)


async def test_transfer_only_to_a_team_that_serves_the_inbox(api: Api) -> None:
    inbox = await api.create_inbox(teams=["front"])
    await api.create_agent(teams=["outsiders"])
    conversation_id = (await _open(api, inbox))["id"]
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/transfer",
        json={"team": "outsiders"},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 422


async def test_transfer_checks_what_assign_checks(api: Api, inbox: dict[str, Any]) -> None:
    owner = await api.create_agent()
    other = await api.create_agent()
    conversation_id = (await _open(api, inbox))["id"]
    url = f"/api/v1/conversations/{conversation_id}"
    r = await api.http.post(
        f"{url}/assign", json={"agent_id": owner["id"]}, headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200
    # A plain agent cannot take a colleague's conversation by transferring it to themselves.
    r = await api.http.post(
        f"{url}/transfer", json={"agent_id": other["id"]}, headers=api.auth(other["token"])
    )
    assert r.status_code == 403
    r = await api.http.post(f"{url}/transfer", json={"team": "x"}, headers=api.auth(other["token"]))
    assert r.status_code == 403
    got = await api.http.get(url, headers=api.auth(api.admin_token))
    assert got.json()["assignee_id"] == owner["id"]
    # The owner may hand it on; a supervisor may move anyone's.
    r = await api.http.post(
        f"{url}/transfer", json={"agent_id": other["id"]}, headers=api.auth(owner["token"])
    )
    assert r.status_code == 200


async def test_customers_are_seen_only_through_conversations_one_may_see(api: Api) -> None:
    inbox = await api.create_inbox(teams=["vip"])
    member = await api.create_agent(teams=["vip"])
    outsider = await api.create_agent(teams=["retail"])
    supervisor = await api.create_agent(role="supervisor")
    conversation = await _open(api, inbox)
    customer_id = conversation["session"]["customer_id"]
    for who, status in ((member, 200), (outsider, 404), (supervisor, 200)):
        r = await api.http.get(f"/api/v1/customers/{customer_id}", headers=api.auth(who["token"]))
        assert r.status_code == status, who["role"]
        r = await api.http.get(
            f"/api/v1/customers/{customer_id}/timeline", headers=api.auth(who["token"])
        )
        assert r.status_code == status
    # A customer with no conversation at all is a supervisor's business only.
    lonely = await api.new_session(inbox)
    r = await api.http.get(
        f"/api/v1/customers/{lonely['customer_id']}", headers=api.auth(member["token"])
    )
    assert r.status_code == 404


def _scopes() -> list[ConversationScope]:
    scopes = []
    for inbox_teams, team_id, assignee in itertools.product(
        [(), (1,), (1, 2)], [None, 1, 2, 3], [None, 7, 8]
    ):
        scopes.append(
            ConversationScope(
                conversation_id=len(scopes) + 1,
                inbox_id=1,
                customer_id=1,
                assignee_id=assignee,
                team_id=team_id,
                inbox_team_ids=inbox_teams,
                status="open",
            )
        )
    return scopes


@pytest.mark.parametrize(
    "viewer",
    [
        Viewer(7, Role.AGENT, frozenset()),
        Viewer(7, Role.AGENT, frozenset({1})),
        Viewer(9, Role.AGENT, frozenset({2})),
        Viewer(9, Role.AGENT, frozenset({2, 3})),
        Viewer(9, Role.SUPERVISOR, frozenset()),
    ],
)
async def test_the_sql_filter_is_the_same_rule(viewer: Viewer, tmp_path: Path) -> None:
    """`visible_filter` (lists) and `may_see` (items, sockets) decide alike for
    every shape of conversation: with and without teams, handed to a team,
    assigned or not."""
    db = await migrated_database(tmp_path)
    scopes = _scopes()
    async with db.write() as session:
        now = clock.now()
        session.add_all(Team(id=t, name=f"team-{t}") for t in (1, 2, 3))
        session.add(Customer(id=1, created_at=now))
        session.add_all(
            Agent(
                id=a,
                email=f"{a}@x.test",
                name=str(a),
                password_hash="-",
                role="agent",
                created_at=now,
            )
            for a in (7, 8)
        )
        for n, inbox_teams in enumerate([(), (1,), (1, 2)], start=1):
            session.add(Inbox(id=n, name=str(n), channel="web", config={}, created_at=now))
            await session.flush()
            session.add_all(InboxTeam(inbox_id=n, team_id=t) for t in inbox_teams)
        inbox_of = {(): 1, (1,): 2, (1, 2): 3}
        for scope in scopes:
            session.add(
                Conversation(
                    id=scope.conversation_id,
                    inbox_id=inbox_of[scope.inbox_team_ids],
                    customer_id=1,
                    thread_key=str(scope.conversation_id),
                    status="open",
                    assignee_id=scope.assignee_id,
                    team_id=scope.team_id,
                    last_seq=0,
                    customer_last_read_seq=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    async with db.read() as session:
        stmt = select(Conversation.id)
        where = visible_filter(viewer)
        if where is not None:
            stmt = stmt.where(where)
        listed = set((await session.execute(stmt)).scalars())
    await db.dispose()
    assert listed == {s.conversation_id for s in scopes if may_see(viewer, s)}
    # Serving is what routing will ask: never wider than seeing.
    assert all(may_see(viewer, s) for s in scopes if serves(viewer.agent_id, viewer.team_ids, s))
