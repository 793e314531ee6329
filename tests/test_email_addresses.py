"""Email addresses are checked by syntax only: intranet and special-use domains
are addresses like any other, for agents, the CLI and widget customers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from app.kit.email_address import normalise_email
from tests.harness import Api, Server, base_database_url


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("user@intranet", "user@intranet"),
        ("  Kenji.Sato@Support.TEST ", "Kenji.Sato@support.test"),
        ("a+tag@b.local", "a+tag@b.local"),
        ("taro..x.@docomo.ne.jp", "taro..x.@docomo.ne.jp"),
        ("ユーザー@例え.テスト", "ユーザー@例え.テスト"),
    ],
)
def test_syntax_is_all_that_is_checked(given: str, stored: str) -> None:
    assert normalise_email(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        "no-at-sign",
        "a@b@c",
        "x@",
        "@example.com",
        "two words@example.com",
        "tab\t@example.com",
        "x@example..com",
        "x@example.com.",
        "x@exa mple.com",
        "<x@example.com>",
        "x@" + "a" * 320,
    ],
)
def test_what_is_not_an_address_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="email address"):
        normalise_email(given)


@pytest.mark.skipif(base_database_url() is not None, reason="checks the embedded SQLite default")
def test_create_admin_on_a_special_use_domain(tmp_path: Path) -> None:
    server = Server(tmp_path, {}, None)
    password = ("--password", "long-enough")
    created = server.cli("create-admin", "--email", "Admin@Support.test", *password)
    assert created.returncode == 0, created.stderr
    assert "admin@support.test" in created.stdout
    refused = server.cli("create-admin", "--email", "not-an-address", *password)
    assert refused.returncode == 1
    assert "email address" in refused.stderr


async def new_agent(api: Api, email: str) -> Any:
    return await api.http.post(
        "/api/v1/agents",
        json={"email": email, "name": "Intranet", "password": "agent-password", "role": "agent"},
        headers=api.auth(api.admin_token),
    )


@pytest.mark.parametrize("domain", ["b.local", "intranet", "corp.internal"])
async def test_agents_on_intranet_domains(api: Api, domain: str) -> None:
    email = f"Agent-{uuid.uuid4().hex[:8]}@{domain.upper()}"
    r = await new_agent(api, email)
    assert r.status_code == 201, r.text
    # Agents' logins ignore case: the whole address is stored lowercased.
    assert r.json()["email"] == email.lower()
    assert await api.login(email, "agent-password")


@pytest.mark.parametrize("email", ["not-an-address", "a@b@c", "x@", "bad address@example.com"])
async def test_agent_with_a_malformed_address_is_422(api: Api, email: str) -> None:
    r = await new_agent(api, email)
    assert r.status_code == 422, r.text


async def test_widget_customer_email_is_checked_by_syntax(api: Api, inbox: dict[str, Any]) -> None:
    opened = await api.new_session(inbox, email="c@Shop.LAN")
    customer = await api.http.get(
        f"/api/v1/customers/{opened['customer_id']}", headers=api.auth(api.admin_token)
    )
    # Typed in without a verified identity: a claim, normalised like any address.
    assert customer.json()["claimed_email"] == "c@shop.lan"
    # An empty field on the page is no email, not a wrong one.
    assert await api.new_session(inbox, email="")

    r = await api.http.post(
        "/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"], "email": "bad address"}
    )
    assert r.status_code == 422, r.text
