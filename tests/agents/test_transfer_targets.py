"""What a plain agent's transfer form needs: the colleagues to hand a chat to
(without anything private) and the known teams, matched whatever the case."""

from __future__ import annotations

import uuid

from tests.harness import Api


async def test_a_plain_agent_lists_whom_to_transfer_to(api: Api) -> None:
    team = f"Billing-{uuid.uuid4().hex[:6]}"
    colleague = await api.create_agent(teams=[team], name="Hana Sato")
    me = await api.create_agent(teams=[team])
    gone = await api.create_agent(teams=[team], name="Left Us")
    r = await api.http.patch(
        f"/api/v1/agents/{gone['id']}", json={"active": False}, headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200, r.text
    # The full agents list stays a supervisor's.
    assert (await api.http.get("/api/v1/agents", headers=api.auth(me["token"]))).status_code == 403
    r = await api.http.get("/api/v1/agents/transfer-targets", headers=api.auth(me["token"]))
    assert r.status_code == 200, r.text
    targets = {t["id"]: t for t in r.json()["items"]}
    assert targets[colleague["id"]] == {
        "id": colleague["id"],
        "name": "Hana Sato",
        "role": "agent",
        "status": "offline",
        "teams": [team],
    }
    assert gone["id"] not in targets
    assert all("email" not in t for t in targets.values())
    assert (await api.http.get("/api/v1/agents/transfer-targets")).status_code == 401


async def test_teams_are_one_whatever_the_case(api: Api) -> None:
    name = f"Support-{uuid.uuid4().hex[:6]}"
    first = await api.create_agent(teams=[name])
    second = await api.create_agent(teams=[name.upper(), name.lower()])
    # The second agent joined the team the first made, under its first name.
    assert second["teams"] == [name]
    r = await api.http.get("/api/v1/agents/teams", headers=api.auth(first["token"]))
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()["items"] if t["name"].lower() == name.lower()] == [name]
