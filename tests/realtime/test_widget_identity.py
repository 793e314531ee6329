"""Verified widget identities: one customer across devices; a wrong hash is refused."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from tests.harness import Api


def identity_hash(secret: str, external_id: str) -> str:
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


async def test_verified_external_id_is_one_customer_across_devices(
    api: Api, inbox: dict[str, Any]
) -> None:
    secret = inbox["config"]["identity_secret"]
    laptop = await api.new_session(
        inbox,
        external_id="user-77",
        identity_hash=identity_hash(secret, "user-77"),
        name="Kenji",
        email="kenji@example.com",
    )
    phone = await api.new_session(
        inbox, external_id="user-77", identity_hash=identity_hash(secret, "user-77")
    )
    assert phone["customer_id"] == laptop["customer_id"]
    assert phone["session_token"] != laptop["session_token"]
    customer = (
        await api.http.get(
            f"/api/v1/customers/{laptop['customer_id']}", headers=api.auth(api.admin_token)
        )
    ).json()
    assert {"channel": "web", "external_id": "user-77", "verified": True} in customer["identities"]
    # The hash vouched for the email too.
    assert {"channel": "email", "external_id": "kenji@example.com", "verified": True} in customer[
        "identities"
    ]

    # Both devices see the same conversation.
    async with api.widget(laptop["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "l-1", "body": "from the laptop"})
        ack = await widget.expect("ack")
    async with api.widget(phone["session_token"]) as widget:
        status = await widget.expect("status")
        assert status["conversation_id"] == ack["conversation_id"]
        await widget.send({"type": "resume", "after_seq": 0})
        assert (await widget.expect("message"))["body"] == "from the laptop"


async def test_wrong_identity_hash_is_refused(api: Api, inbox: dict[str, Any]) -> None:
    r = await api.http.post(
        "/api/v1/widget/sessions",
        json={
            "widget_key": inbox["widget_key"],
            "external_id": "user-77",
            "identity_hash": "0" * 64,
        },
    )
    assert r.status_code == 403


async def test_unverified_claims_never_join_a_history(api: Api, inbox: dict[str, Any]) -> None:
    secret = inbox["config"]["identity_secret"]
    owner = await api.new_session(
        inbox,
        external_id="user-88",
        identity_hash=identity_hash(secret, "user-88"),
        email="owner@example.com",
    )
    # Someone types the owner's email and id without a hash: a new, separate customer.
    claimant = await api.new_session(inbox, external_id="user-88", email="owner@example.com")
    assert claimant["customer_id"] != owner["customer_id"]


async def test_identity_secret_is_shown_to_admins_only(api: Api, inbox: dict[str, Any]) -> None:
    agent = await api.create_agent(role="supervisor")
    seen_by_agent = (
        await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(agent["token"]))
    ).json()
    assert "identity_secret" not in seen_by_agent["config"]
    seen_by_admin = (
        await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    ).json()
    assert len(seen_by_admin["config"]["identity_secret"]) >= 32
