"""The OpenAPI schema, told whole: the errors every operation of a kind can
answer and how each one authenticates, read from the routes themselves.

A route declares the errors of its own logic (`responses=errors(404, 409)`,
app/kit/api_schema.py). What every route of a kind answers is added here, in
one place: 401 and its security scheme where a dependency reads a token, 403
where a role gate is among its dependencies, 400/413/415/422 for a body, 422
for parameters, 404 for a path with parameters. FastAPI's own 422
(`HTTPValidationError`, a list of errors) is replaced: the server never sends
it; every error is an `ErrorBody`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.auth.dependencies import (
    Admin,
    Supervisor,
    bearer_token,
    current_agent,
    current_widget_session,
)
from app.errors import leaf_routes
from app.kit.api_schema import ERROR_DESCRIPTIONS, ErrorBody

AGENT_SCHEME = "agentToken"
WIDGET_SCHEME = "widgetSession"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    AGENT_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "an agent's access token, from `POST /api/v1/auth/token`",
    },
    WIDGET_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "a customer's widget session token, from `POST /api/v1/widget/sessions`",
    },
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
# FastAPI's validation error shapes: the server sends neither.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_BODY_ERRORS = (400, 413, 415, 422)


def _role_gates() -> set[Callable[..., Any]]:
    return {get_args(Admin)[1].dependency, get_args(Supervisor)[1].dependency}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _has_parameters(dependant: Dependant) -> bool:
    return bool(
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or any(_has_parameters(sub) for sub in dependant.dependencies)
    )


def _security(calls: set[Callable[..., Any] | None]) -> list[dict[str, list[str]]]:
    schemes: list[dict[str, list[str]]] = []
    if current_agent in calls:
        schemes.append({AGENT_SCHEME: []})
    if current_widget_session in calls:
        schemes.append({WIDGET_SCHEME: []})
    if not schemes and bearer_token in calls:
        schemes.append({AGENT_SCHEME: []})
    return schemes


def operation_errors(route: APIRoute) -> tuple[set[int], list[dict[str, list[str]]]]:
    """The statuses every route of `route`'s kind may answer, and its security."""
    calls = set(_calls(route.dependant))
    security = _security(calls)
    statuses: set[int] = set()
    if security:
        statuses.add(401)
    if calls & _role_gates():
        statuses.add(403)
    if route.body_field is not None:
        statuses.update(_BODY_ERRORS)
    if _has_parameters(route.dependant):
        statuses.add(422)
    if "{" in route.path_format:
        statuses.add(404)
    return statuses, security


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def build_schema(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    components["securitySchemes"] = SECURITY_SCHEMES
    for route in leaf_routes(app.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        statuses, security = operation_errors(route)
        for method in route.methods or ():
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(str(status), _error_response(status))
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    # Whatever a route or FastAPI wrote, every error is an ErrorBody.
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
                    if response.get("description") == "Validation Error":
                        response["description"] = ERROR_DESCRIPTIONS[422]
            if security:
                operation["security"] = security
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
