"""What the OpenAPI schema promises and the server keeps: one error body from
every layer, a 405 that names every method of the path, statuses and
security declared per operation, and input that refuses what it states."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.harness import Api


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    app = create_app(Settings()).app
    assert isinstance(app, FastAPI)
    return app.openapi()


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_layer_answers_the_one_error_body(api: Api) -> None:
    unknown = await api.http.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "detail": "Not Found"}
    unreadable = await api.http.post(
        "/api/v1/auth/token",
        content=b'{"email": \xff',
        headers={"content-type": "application/json"},
    )
    assert unreadable.status_code == 400
    assert unreadable.json()["error"] == "bad_request"
    wrong_method = await api.http.delete("/api/v1/auth/token")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        # Two routes share each of these paths: Starlette named the first's only.
        ("DELETE", "/api/v1/inboxes", {"GET", "POST"}),
        ("DELETE", "/api/v1/agents", {"GET", "POST"}),
        ("PUT", "/api/v1/canned-responses/1", {"PATCH", "DELETE"}),
        ("POST", "/api/v1/inboxes/1/routing", {"GET", "PUT"}),
        # `me` is no agent id: not the PATCH of /agents/{agent_id}.
        ("PATCH", "/api/v1/agents/me", {"GET"}),
        ("POST", "/api/v1/agents/me/password", {"PUT"}),
    ],
)
async def test_a_wrong_method_names_every_method_of_the_path(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    r = await api.http.request(method, path, headers=api.auth(api.admin_token), json={})
    assert r.status_code == 405, r.text
    assert set(r.headers["allow"].split(", ")) == allowed
    assert r.json()["error"] == "method_not_allowed"


async def test_a_wrong_current_password_does_not_end_the_session(api: Api) -> None:
    agent = await api.create_agent()
    r = await api.http.put(
        "/api/v1/agents/me/password",
        json={"current_password": "not-it-at-all", "new_password": "a-new-password"},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "wrong_password"
    assert (await api.http.get("/api/v1/agents/me", headers=api.auth(agent["token"]))).is_success


@pytest.mark.parametrize(
    ("path_of", "body"),
    [
        (lambda ids: f"/api/v1/agents/{ids['agent']}", {"capacity": False}),
        (lambda ids: f"/api/v1/inboxes/{ids['inbox']}/routing", {"answer_timeout_seconds": False}),
        (lambda ids: f"/api/v1/inboxes/{ids['inbox']}/routing", {"sticky_seconds": "60"}),
    ],
)
async def test_false_is_not_a_number(api: Api, path_of: Any, body: dict[str, Any]) -> None:
    inbox = await api.create_inbox()
    agent = await api.create_agent()
    path = path_of({"agent": agent["id"], "inbox": inbox["id"]})
    method = "PATCH" if "/agents/" in path else "PUT"
    r = await api.http.request(method, path, json=body, headers=api.auth(api.admin_token))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"


async def test_integral_numbers_are_integers(api: Api) -> None:
    inbox = await api.create_inbox()
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/routing",
        json={"answer_timeout_seconds": 120.0},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["answer_timeout_seconds"] == 120


async def test_a_number_is_not_a_shared_flag(api: Api) -> None:
    r = await api.http.post(
        "/api/v1/canned-responses",
        json={"shortcut": "flagged", "body": "hi", "shared": 0},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 422, r.text


def test_every_error_the_schema_declares_is_the_error_body(schema: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for method, path, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                content = response["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)


def test_operations_declare_what_their_kind_answers(schema: dict[str, Any]) -> None:
    operations = {f"{method} {path}": op for method, path, op in _operations(schema)}
    create_inbox = operations["POST /api/v1/inboxes"]["responses"]
    assert {"400", "401", "403", "413", "415", "422"} <= set(create_inbox)
    assert "404" in operations["GET /api/v1/inboxes/{inbox_id}"]["responses"]
    login = operations["POST /api/v1/auth/token"]
    assert {"401", "429", "503"} <= set(login["responses"])
    assert "security" not in login
    availability = operations["GET /api/v1/inboxes/{inbox_id}/availability"]
    assert "401" not in availability["responses"]


def test_security_schemes_say_how_each_operation_authenticates(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert {name: s["scheme"] for name, s in schemes.items()} == {
        "agentToken": "bearer",
        "widgetSession": "bearer",
    }
    operations = {f"{method} {path}": op for method, path, op in _operations(schema)}
    assert operations["GET /api/v1/agents/me"]["security"] == [{"agentToken": []}]
    assert operations["GET /api/v1/widget/conversations"]["security"] == [{"widgetSession": []}]
    assert "security" not in operations["POST /api/v1/widget/sessions"]


def test_typed_answers_in_agents_inboxes_and_routing(schema: dict[str, Any]) -> None:
    def answer(path: str, method: str, status: str = "200") -> dict[str, Any]:
        content = schema["paths"][path][method]["responses"][status]["content"]
        return dict(content["application/json"]["schema"])

    assert answer("/api/v1/agents/me", "get") == {"$ref": "#/components/schemas/AgentOut"}
    assert answer("/api/v1/inboxes", "post", "201") == {"$ref": "#/components/schemas/InboxOut"}
    assert answer("/api/v1/inboxes/{inbox_id}/routing", "get") == {
        "$ref": "#/components/schemas/RoutingConfig"
    }
