"""docs/reference/, written from the code: `python -m app.reference_doc`.

The HTTP reference is the app's own OpenAPI schema, with who may call each
operation read from the routes' dependencies; the WebSocket reference and its
AsyncAPI document are the sockets' frame table (app/realtime/frames_spec.py,
rendered by app/reference_frames.py).
`--check` writes nothing and exits 1 when a committed file is out of date
(tests/test_reference_doc.py does the same).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from app.auth.dependencies import Admin, Supervisor, current_agent, current_widget_session
from app.channels.registry import builtin_adapters
from app.config import Settings
from app.errors import leaf_routes
from app.realtime.frames_spec import Schema
from app.reference_frames import (
    HEADER,
    REGENERATE,
    cell,
    field_table,
    render_asyncapi,
    render_websocket,
    rules_of,
    type_of,
)

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "docs" / "reference"

# What each caller may present, highest first: a route's strongest gate names it.
_CALLERS = (
    ("admin", "admin", "`Authorization: Bearer <access_token>`"),
    ("supervisor", "supervisor or admin", "`Authorization: Bearer <access_token>`"),
    ("agent", "any agent", "`Authorization: Bearer <access_token>`"),
    ("widget", "widget session", "`Authorization: Bearer <session_token>`"),
)
_PUBLIC = ("anyone", "no token")
# The routes FastAPI adds for its own schema pages, which carry no docstring.
_BUILTIN_PAGES = {
    "/openapi.json": "This reference's source: the OpenAPI 3.1 schema of the HTTP API.",
    "/docs": "Swagger UI: the OpenAPI schema as a page where each operation can be tried.",
    "/docs/oauth2-redirect": "Swagger UI's OAuth2 redirect page (unused: tokens are bearer).",
    "/redoc": "ReDoc: the OpenAPI schema as a page.",
}
# Pages whose handlers carry no docstring to say what they are.
_PAGES = {
    "/console": "The agents' web console.",
    "/console/{asset}": "The console's scripts and styles.",
    "/chat/{widget_key}": "A web inbox's full-screen chat page (the redirect text links to it).",
    "/csat/{token}": "The rating page sent by email and on platforms (GET shows, POST rates).",
    "/email/confirm/{token}": "Confirms a typed-in email address (GET shows, POST confirms).",
    "/healthz": '`200 {"status": "ok"}` once the server accepts work.',
    "/metrics": "Prometheus text; with `MADOGUCHI_METRICS_TOKEN` set, that bearer token.",
    "/widget.js": "The embeddable widget script.",
}


@contextlib.contextmanager
def _default_environment() -> Iterator[None]:
    """The settings' defaults, whatever this shell or test run has set: the
    reference describes the server as shipped."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MADOGUCHI_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def build_app() -> tuple[Any, Settings]:
    """The app as `create_app` builds it (the socket dispatcher), on the defaults."""
    from app.main import create_app  # the whole app: imported only when asked for

    with _default_environment():
        settings = Settings()
        return create_app(settings), settings


# -- routes ---------------------------------------------------------------


def route_methods(route: BaseRoute) -> list[str]:
    return sorted(m for m in getattr(route, "methods", None) or () if m != "HEAD")


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def caller_of(route: APIRoute) -> tuple[str, str]:
    """Who may call the route, and with what, as its dependencies gate it
    (app/auth/dependencies.py)."""
    gates = {
        get_args(Admin)[1].dependency: "admin",
        get_args(Supervisor)[1].dependency: "supervisor",
        current_agent: "agent",
        current_widget_session: "widget",
    }
    found = {gates[call] for call in _calls(route.dependant) if call in gates}
    for key, who, how in _CALLERS:
        if key in found:
            return who, how
    return _PUBLIC


def _resolve(spec: dict[str, Any], schema: Schema) -> Schema:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    resolved: Schema = node
    return resolved


# -- http.md --------------------------------------------------------------


def _operation(
    spec: dict[str, Any], method: str, path: str, op: dict[str, Any], caller: tuple[str, str]
) -> list[str]:
    out = [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        out += [op["summary"], ""]
    if op.get("description"):
        out += [op["description"].strip(), ""]
    out += [f"Who may call it: **{caller[0]}**, with {caller[1]}."]
    for requirement in op.get("security", ()):
        names = ", ".join(f"`{name}`" for name in requirement) or "none"
        out += [f"OpenAPI security: {names}."]
    if op.get("deprecated"):
        out += ["Deprecated."]
    out.append("")
    parameters = op.get("parameters", [])
    if parameters:
        out += [
            "Parameters:",
            "",
            "| name | in | type | required | rules | description |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for p in parameters:
            p = _resolve(spec, p)
            schema = p.get("schema", {})
            out.append(
                f"| `{p['name']}` | {p['in']} | {cell(type_of(schema))} "
                f"| {'yes' if p.get('required') else 'no'} | {cell(rules_of(schema))} "
                f"| {cell(p.get('description', schema.get('description', '')))} |"
            )
        out.append("")
    body = op.get("requestBody")
    if body:
        body = _resolve(spec, body)
        needed = "required" if body.get("required") else "optional"
        # Media types that take the same schema (a raw file's several types) share a line.
        by_schema: dict[str, list[str]] = {}
        for content_type, media in body.get("content", {}).items():
            key = json.dumps(media.get("schema", {}), sort_keys=True)
            by_schema.setdefault(key, []).append(f"`{content_type}`")
        for key, content_types in by_schema.items():
            schema = json.loads(key)
            rules = rules_of(schema)
            out += [
                f"Request body ({needed}), {', '.join(content_types)}: {type_of(schema)}"
                + (f" ({rules})" if rules else ""),
                "",
            ]
            table = field_table(_resolve(spec, schema))
            if table:
                out += [*table, ""]
    out += ["Responses:", "", "| status | meaning | body |", "| --- | --- | --- |"]
    for status, response in sorted(op.get("responses", {}).items()):
        response = _resolve(spec, response)
        bodies = [
            f"`{ct}`: {type_of(media.get('schema', {}))}"
            for ct, media in response.get("content", {}).items()
        ]
        out.append(
            f"| {status} | {cell(response.get('description', ''))} "
            f"| {cell('; '.join(bodies) or 'none')} |"
        )
    out.append("")
    return out


def _models(spec: dict[str, Any]) -> list[str]:
    schemas: dict[str, Schema] = spec.get("components", {}).get("schemas", {})
    out = ["## Models", "", "The request and response bodies named above.", ""]
    for name in sorted(schemas, key=str.lower):
        schema = schemas[name]
        out += [f"### Model {name}", ""]
        if schema.get("description"):
            out += [schema["description"].strip(), ""]
        table = field_table(schema)
        if table:
            out += [*table, ""]
        else:
            rules = rules_of(schema)
            out += [f"{type_of(schema)}{f'; {rules}' if rules else ''}.", ""]
    return out


def _security_schemes(spec: dict[str, Any]) -> list[str]:
    schemes: dict[str, Schema] = spec.get("components", {}).get("securitySchemes", {})
    if not schemes:
        return []
    out = ["OpenAPI security schemes:", "", "| name | kind | description |", "| --- | --- | --- |"]
    for name, scheme in schemes.items():
        kind = " ".join(str(scheme.get(k)) for k in ("type", "scheme", "in") if scheme.get(k))
        out.append(f"| `{name}` | {kind} | {cell(scheme.get('description', ''))} |")
    return [*out, ""]


def _other_routes(fastapi: FastAPI, settings: Settings, socket_paths: Iterable[str]) -> list[str]:
    out = [
        "## Pages and other routes",
        "",
        "Served by the same process, outside the OpenAPI schema.",
        "",
        "| route | what |",
        "| --- | --- |",
    ]
    for route in leaf_routes(fastapi.routes):
        if getattr(route, "include_in_schema", True):
            continue
        path = getattr(route, "path_format", getattr(route, "path", ""))
        doc = (getattr(getattr(route, "endpoint", None), "__doc__", None) or "").strip()
        what = _BUILTIN_PAGES.get(path) or doc.split("\n\n")[0] or _PAGES.get(path, "")
        for method in route_methods(route):
            out.append(f"| `{method} {path}` | {cell(what)} |")
    webhooks: dict[str, list[str]] = {}
    for adapter in builtin_adapters(settings):
        if adapter.webhook_path is not None:
            webhooks.setdefault(adapter.webhook_path, []).append(f"`{adapter.kind}`")
    for slug, kinds in webhooks.items():
        out.append(
            f"| `GET`, `POST /webhooks/{slug}/{{inbox_id}}` | the webhook of the "
            f"{', '.join(kinds)} inboxes: the platform's request, verified and stored by "
            "the inbox's adapter (docs/channels.md) |"
        )
    for path in socket_paths:
        out.append(f"| `WS {path}` | a WebSocket: [websocket.md](websocket.md) |")
    return [*out, ""]


def render_http(dispatcher: Any, settings: Settings) -> str:
    fastapi: FastAPI = dispatcher.app
    spec = fastapi.openapi()
    callers = {
        (method, route.path_format): caller_of(route)
        for route in leaf_routes(fastapi.routes)
        if isinstance(route, APIRoute)
        for method in route_methods(route)
    }
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            if not isinstance(op, dict) or method.startswith("x-") or method == "parameters":
                continue
            by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
    info = spec.get("info", {})
    out = [
        HEADER,
        "",
        f"# HTTP API reference ({info.get('title', '')} {info.get('version', '')})",
        "",
        "Every operation of the OpenAPI schema the server serves at `/openapi.json` "
        "(browse and try it at `/docs`, Swagger UI, or `/redoc`), grouped by tag. "
        '"Who may call it" is read from the route\'s dependencies: a missing or bad '
        "token is 401, a role too low is 403. Errors answer "
        '`{"error": code, "detail": text}`; a body that fails validation is 422. '
        "The WebSocket frames are in [websocket.md](websocket.md).",
        "",
        *_security_schemes(spec),
        "## Operations",
        "",
        "| tag | operation | who | summary |",
        "| --- | --- | --- | --- |",
    ]
    for tag, operations in by_tag.items():
        for method, path, op in operations:
            who = callers.get((method.upper(), path), _PUBLIC)[0]
            out.append(
                f"| {cell(tag)} | `{method.upper()} {path}` | {who} "
                f"| {cell(op.get('summary', ''))} |"
            )
    out.append("")
    for tag, operations in by_tag.items():
        out += [f"## {tag}", ""]
        for method, path, op in operations:
            out += _operation(spec, method, path, op, callers.get((method.upper(), path), _PUBLIC))
    out += _other_routes(fastapi, settings, dispatcher.routes)
    out += _models(spec)
    return "\n".join(out).rstrip("\n") + "\n"


def render_index() -> str:
    return "\n".join(
        [
            HEADER,
            "",
            "# Reference",
            "",
            "What a client of Madoguchi can call, generated from the code so it "
            "cannot drift from it.",
            "",
            "| file | what |",
            "| --- | --- |",
            "| [http.md](http.md) | every HTTP operation: who may call it, parameters, "
            "bodies, responses; the pages and webhooks outside the schema |",
            "| [websocket.md](websocket.md) | `/ws/widget` and `/ws/agent`: "
            "authentication, every frame each way, close codes |",
            "| [asyncapi.json](asyncapi.json) | the same frames as an AsyncAPI 3.0 document |",
            "",
            "A running server also serves its OpenAPI schema at `/openapi.json`, "
            "Swagger UI at `/docs` and ReDoc at `/redoc`. [docs/api.md](../api.md) records "
            "the choices behind the API and its changes.",
            "",
            "## Regenerate",
            "",
            "After changing a route, a request or response model, or a frame:",
            "",
            "```",
            f".venv/bin/{REGENERATE}",
            "```",
            "",
            "The settings' defaults are used whatever the environment says. "
            "tests/test_reference_doc.py fails while these files differ from "
            "what the command writes, and when a route or a frame type is "
            "missing from them. New frames go into app/realtime/frames_spec.py "
            "first: a socket answers `unknown_type` to any type not listed there.",
            "",
        ]
    )


def render(built: tuple[Any, Settings] | None = None) -> dict[str, str]:
    """Every file of docs/reference/, by name."""
    dispatcher, settings = built or build_app()
    version = str(dispatcher.app.version)
    return {
        "README.md": render_index(),
        "http.md": render_http(dispatcher, settings),
        "websocket.md": render_websocket(),
        "asyncapi.json": render_asyncapi(version),
    }


def stale_files(files: dict[str, str], directory: Path = REFERENCE_DIR) -> list[str]:
    return sorted(
        name
        for name, text in files.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    )


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = stale_files(files)
        if stale:
            sys.stderr.write(f"out of date: {', '.join(stale)}; run `{REGENERATE}`\n")
            return 1
        return 0
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (REFERENCE_DIR / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
