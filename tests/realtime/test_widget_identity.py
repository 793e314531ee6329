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


async def test_a_sites_user_ids_are_its_own(api: Api) -> None:
    """The same user id verified on two sites is two customers, and one site's
    live chat never reaches the other site's widget."""
    shop = await api.create_inbox()
    blog = await api.create_inbox()
    on_shop = await api.new_session(
        shop,
        external_id="42",
        identity_hash=identity_hash(shop["config"]["identity_secret"], "42"),
    )
    on_blog = await api.new_session(
        blog,
        external_id="42",
        identity_hash=identity_hash(blog["config"]["identity_secret"], "42"),
    )
    assert on_shop["customer_id"] != on_blog["customer_id"]
    async with (
        api.widget(on_shop["session_token"]) as shop_widget,
        api.widget(on_blog["session_token"]) as blog_widget,
    ):
        await shop_widget.expect("status")
        await blog_widget.expect("status")
        await shop_widget.send({"type": "message", "client_id": "s-1", "body": "shop order 17"})
        ack = await shop_widget.expect("ack")
        r = await api.http.post(
            f"/api/v1/conversations/{ack['conversation_id']}/messages",
            json={"body": "shipped to 1-2-3 Shibuya"},
            headers=api.auth(api.admin_token),
        )
        assert r.status_code == 201
        assert (await shop_widget.expect("message"))["body"] == "shipped to 1-2-3 Shibuya"
        assert all("Shibuya" not in str(f) for f in await blog_widget.quiet(0.5))


async def test_an_admin_may_share_a_namespace_between_inboxes(api: Api) -> None:
    first = await api.create_inbox({"identity_namespace": "acme-accounts"})
    second = await api.create_inbox({"identity_namespace": "acme-accounts"})
    one = await api.new_session(
        first,
        external_id="u-5",
        identity_hash=identity_hash(first["config"]["identity_secret"], "u-5"),
    )
    two = await api.new_session(
        second,
        external_id="u-5",
        identity_hash=identity_hash(second["config"]["identity_secret"], "u-5"),
    )
    assert one["customer_id"] == two["customer_id"]


async def test_a_stored_session_never_carries_over_to_another_verified_user(
    api: Api, inbox: dict[str, Any]
) -> None:
    secret = inbox["config"]["identity_secret"]
    alice = await api.new_session(
        inbox, external_id="alice", identity_hash=identity_hash(secret, "alice")
    )
    async with api.widget(alice["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "a-1", "body": "alice's secret"})
        await widget.expect("ack")
    # Bob signs in on the same browser, which still holds Alice's session token.
    bob = await api.new_session(
        inbox,
        external_id="bob",
        identity_hash=identity_hash(secret, "bob"),
        session_token=alice["session_token"],
    )
    assert bob["session_token"] != alice["session_token"]
    assert bob["customer_id"] != alice["customer_id"]
    # Alice signed out: the page gives no identity, and her session does not resume.
    anonymous = await api.new_session(inbox, session_token=alice["session_token"])
    assert anonymous["customer_id"] != alice["customer_id"]
    for session in (bob, anonymous):
        async with api.widget(session["session_token"]) as widget:
            status = await widget.expect("status")
            assert status["conversation_id"] is None
            await widget.send({"type": "resume", "after_seq": 0})
            await widget.expect("resumed")
            assert all("secret" not in str(f) for f in widget.seen)
    # Alice herself resumes as before.
    again = await api.new_session(
        inbox,
        external_id="alice",
        identity_hash=identity_hash(secret, "alice"),
        session_token=alice["session_token"],
    )
    assert again["session_token"] == alice["session_token"]


async def test_a_typed_in_email_is_a_claim_not_an_identity(api: Api, inbox: dict[str, Any]) -> None:
    claimant = await api.new_session(inbox, name="Eve", email="ceo@example.com")
    customer = (
        await api.http.get(
            f"/api/v1/customers/{claimant['customer_id']}", headers=api.auth(api.admin_token)
        )
    ).json()
    assert customer["claimed_email"] == "ceo@example.com"
    assert customer["email"] is None
    assert customer["emails"] == []
    assert customer["identities"] == []
    # The real owner, vouched for by the site, is someone else, with the address.
    secret = inbox["config"]["identity_secret"]
    owner = await api.new_session(
        inbox,
        external_id="ceo",
        identity_hash=identity_hash(secret, "ceo"),
        email="ceo@example.com",
    )
    assert owner["customer_id"] != claimant["customer_id"]
    owners = (
        await api.http.get(
            f"/api/v1/customers/{owner['customer_id']}", headers=api.auth(api.admin_token)
        )
    ).json()
    assert owners["email"] == "ceo@example.com"
    assert {"channel": "email", "external_id": "ceo@example.com", "verified": True} in owners[
        "identities"
    ]
