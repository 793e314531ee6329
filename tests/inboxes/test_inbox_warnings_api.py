"""An email inbox says in the API when the server cannot send its mail (no
outbound relay), so the console can show the admin the missing setting."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import StartServer
from tests.harness import Api


async def _email_inbox(api: Api) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:6]
    r = await api.http.post(
        "/api/v1/inboxes",
        json={
            "name": f"Mail {suffix}",
            "channel": "email",
            "config": {"address": f"help-{suffix}@example.com"},
        },
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_without_a_relay_an_email_inbox_carries_the_warning(api: Api) -> None:
    mail = await _email_inbox(api)
    expected = [
        {
            "code": "no_outbound_relay",
            "message": "Replies and acknowledgements by email cannot be sent:"
            " set MADOGUCHI_SMTP_RELAY",
        }
    ]
    assert mail["warnings"] == expected
    r = await api.http.get(f"/api/v1/inboxes/{mail['id']}", headers=api.auth(api.admin_token))
    assert r.json()["warnings"] == expected
    r = await api.http.get("/api/v1/inboxes", headers=api.auth(api.admin_token))
    listed = {i["id"]: i["warnings"] for i in r.json()["items"]}
    assert listed[mail["id"]] == expected
    web = await api.create_inbox()
    assert web["warnings"] == []


async def test_with_a_relay_there_is_nothing_to_warn_about(start_server: StartServer) -> None:
    api = await start_server({"MADOGUCHI_SMTP_RELAY": "smtp://127.0.0.1:2525"})
    mail = await _email_inbox(api)
    assert mail["warnings"] == []
