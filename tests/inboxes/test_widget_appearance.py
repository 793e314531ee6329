"""A shop owner sets how the widget looks (colour, corner and offset,
launcher text, greeting, hide on phones) in the web inbox's settings, without
code; the widget reads it from its session. What the API refuses it stores
nothing of."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Api

LOOK = {
    "color": "#0B6E4F",
    "position": "left",
    "offset": 32,
    "launcher_text": "Questions? Chat with us",
    "greeting": "こんにちは! How can we help?",
    "hide_on_mobile": True,
}
UNSET = {
    "color": None,
    "position": None,
    "offset": None,
    "launcher_text": None,
    "greeting": None,
    "hide_on_mobile": None,
}


async def _put(api: Api, inbox_id: int, body: Any, token: str | None = None) -> Any:
    return await api.http.put(
        f"/api/v1/inboxes/{inbox_id}/appearance",
        json=body,
        headers=api.auth(token or api.admin_token),
    )


async def test_an_inbox_without_appearance_gives_the_widget_null(api: Api) -> None:
    inbox = await api.create_inbox()
    assert "appearance" not in inbox["config"]
    session = await api.new_session(inbox)
    assert session["appearance"] is None


async def test_appearance_set_at_creation_reaches_the_widget_session(api: Api) -> None:
    inbox = await api.create_inbox({"appearance": {"color": "#FF8800", "position": "right"}})
    expected = {**UNSET, "color": "#ff8800", "position": "right"}
    assert inbox["config"]["appearance"] == expected
    session = await api.new_session(inbox)
    assert session["appearance"] == expected
    # Resuming the session reads it too.
    again = await api.new_session(inbox, session_token=session["session_token"])
    assert again["resumed"] is True
    assert again["appearance"] == expected


async def test_an_admin_updates_it_and_the_next_session_carries_it(api: Api) -> None:
    inbox = await api.create_inbox({"identity_namespace": "shop"})
    r = await _put(api, inbox["id"], LOOK)
    assert r.status_code == 200, r.text
    saved = {**LOOK, "color": "#0b6e4f"}
    assert r.json()["config"]["appearance"] == saved
    # The rest of the config is kept.
    assert r.json()["config"]["identity_namespace"] == "shop"
    r = await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    assert r.json()["config"]["appearance"] == saved
    session = await api.new_session(inbox)
    assert session["appearance"] == saved
    # Nothing secret rides along in the public session answer.
    assert "identity_secret" not in str(session)

    # A partial update replaces the whole: what is left out goes back to default.
    r = await _put(api, inbox["id"], {"position": "right", "offset": 0})
    assert r.status_code == 200, r.text
    assert (await api.new_session(inbox))["appearance"] == {
        **UNSET,
        "position": "right",
        "offset": 0,
    }
    # null removes it.
    r = await _put(api, inbox["id"], None)
    assert r.status_code == 200, r.text
    assert "appearance" not in r.json()["config"]
    assert (await api.new_session(inbox))["appearance"] is None


@pytest.mark.parametrize(
    "bad",
    [
        {"color": "red"},
        {"color": "#12345"},
        {"color": "#1234567"},
        {"position": "top"},
        {"offset": -1},
        {"offset": 201},
        {"offset": 1.5},
        {"offset": "10"},
        {"offset": True},
        {"hide_on_mobile": 1},
        {"hide_on_mobile": "yes"},
        {"launcher_text": "x" * 41},
        {"greeting": "x" * 301},
        {"colour": "#123456"},
        {"color": "#123456", "script": "alert(1)"},
    ],
)
async def test_what_breaks_a_rule_is_a_422_and_nothing_is_stored(api: Api, bad: Any) -> None:
    inbox = await api.create_inbox()
    r = await _put(api, inbox["id"], {**bad})
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "detail"}
    r = await api.http.post(
        "/api/v1/inboxes",
        json={"name": "Shop", "channel": "web", "config": {"appearance": bad}},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "detail"}
    assert "appearance" in r.json()["detail"]
    r = await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    assert "appearance" not in r.json()["config"]
    assert (await api.new_session(inbox))["appearance"] is None


async def test_nul_in_text_is_refused(api: Api) -> None:
    inbox = await api.create_inbox()
    r = await _put(api, inbox["id"], {"greeting": "hello\x00"})
    assert r.status_code in (400, 422), r.text
    assert (await api.new_session(inbox))["appearance"] is None


async def test_a_plain_agent_cannot_change_it(api: Api) -> None:
    inbox = await api.create_inbox({"appearance": {"color": "#123456"}})
    agent = await api.create_agent()
    r = await _put(api, inbox["id"], {"color": "#654321"}, token=agent["token"])
    assert r.status_code == 403, r.text
    assert (await api.new_session(inbox))["appearance"]["color"] == "#123456"


async def test_only_a_web_inbox_has_an_appearance(api: Api) -> None:
    r = await api.http.post(
        "/api/v1/inboxes",
        json={"name": "Mail", "channel": "email", "config": {"address": "look@example.com"}},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    r = await _put(api, r.json()["id"], {"color": "#123456"})
    assert r.status_code == 422, r.text
    r = await _put(api, 999999, {"color": "#123456"})
    assert r.status_code == 404, r.text
