"""Canned responses: an agent's own, shared ones by admins, and who sees which."""

from __future__ import annotations

from typing import Any

from tests.harness import Api

PATH = "/api/v1/canned-responses"


async def _create(api: Api, token: str, **body: Any) -> Any:
    return await api.http.post(PATH, json=body, headers=api.auth(token))


async def _shortcuts(api: Api, token: str) -> list[tuple[str, bool, str]]:
    r = await api.http.get(PATH, headers=api.auth(token))
    assert r.status_code == 200, r.text
    return [(c["shortcut"], c["shared"], c["body"]) for c in r.json()["items"]]


async def test_own_and_shared_responses_and_who_sees_them(api: Api) -> None:
    alice = await api.create_agent()
    bob = await api.create_agent()
    r = await _create(api, alice["token"], shortcut="Thanks", body="Thank you, {customer_name}!")
    assert r.status_code == 201, r.text
    own = r.json()
    assert own["shortcut"] == "thanks"
    assert own["shared"] is False
    # An agent may not share; an admin may.
    r = await _create(api, bob["token"], shortcut="hours", body="9 to 5", shared=True)
    assert r.status_code == 403
    r = await _create(api, api.admin_token, shortcut="hours-ui2", body="9 to 5", shared=True)
    assert r.status_code == 201, r.text
    shared = r.json()

    assert ("thanks", False, "Thank you, {customer_name}!") in await _shortcuts(api, alice["token"])
    seen_by_bob = await _shortcuts(api, bob["token"])
    assert ("hours-ui2", True, "9 to 5") in seen_by_bob
    assert all(s != "thanks" for s, _, _ in seen_by_bob)

    # Bob can neither change nor delete Alice's, nor the shared one.
    r = await api.http.patch(
        f"{PATH}/{own['id']}", json={"body": "mine now"}, headers=api.auth(bob["token"])
    )
    assert r.status_code == 404
    r = await api.http.delete(f"{PATH}/{own['id']}", headers=api.auth(bob["token"]))
    assert r.status_code == 404
    r = await api.http.delete(f"{PATH}/{shared['id']}", headers=api.auth(bob["token"]))
    assert r.status_code == 403

    r = await api.http.patch(
        f"{PATH}/{own['id']}",
        json={"body": "Thanks a lot!", "title": "Thanks"},
        headers=api.auth(alice["token"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["body"] == "Thanks a lot!"
    assert r.json()["title"] == "Thanks"
    r = await api.http.delete(f"{PATH}/{own['id']}", headers=api.auth(alice["token"]))
    assert r.status_code == 204
    assert all(s != "thanks" for s, _, _ in await _shortcuts(api, alice["token"]))
    r = await api.http.delete(f"{PATH}/{shared['id']}", headers=api.auth(api.admin_token))
    assert r.status_code == 204


async def test_a_shortcut_is_unique_within_its_scope_and_checked(api: Api) -> None:
    agent = await api.create_agent()
    other = await api.create_agent()
    assert (await _create(api, agent["token"], shortcut="refund", body="a")).status_code == 201
    r = await _create(api, agent["token"], shortcut="REFUND", body="b")
    assert r.status_code == 409
    assert r.json()["error"] == "shortcut_taken"
    # Another agent's own of the same shortcut is theirs alone.
    assert (await _create(api, other["token"], shortcut="refund", body="c")).status_code == 201
    for bad in ({"shortcut": "has space", "body": "x"}, {"shortcut": "ok", "body": ""}, {}):
        r = await api.http.post(PATH, json=bad, headers=api.auth(agent["token"]))
        assert r.status_code == 422, bad
    second = await _create(api, agent["token"], shortcut="later", body="d")
    r = await api.http.patch(
        f"{PATH}/{second.json()['id']}",
        json={"shortcut": "refund"},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 409
    assert [s for s, _, _ in await _shortcuts(api, agent["token"])].count("refund") == 1
    assert (await api.http.get(PATH)).status_code == 401
