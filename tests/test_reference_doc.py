"""docs/reference/ is what `python -m app.reference_doc` writes, and it names
every route the app serves and every frame type the sockets handle or send."""

from __future__ import annotations

import ast
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from app import reference_doc
from app.channels.registry import builtin_adapters
from app.config import Settings
from app.conversations import schemas as conversation_schemas
from app.errors import leaf_routes
from app.realtime import frames, hub
from app.realtime.frames_spec import AGENT, SOCKETS, WIDGET, SocketSpec

REGENERATE = f".venv/bin/{reference_doc.REGENERATE}"


@pytest.fixture(scope="module")
def built() -> tuple[Any, Settings]:
    return reference_doc.build_app()


@pytest.fixture(scope="module")
def rendered(built: tuple[Any, Settings]) -> dict[str, str]:
    return reference_doc.render(built)


def test_the_committed_reference_is_what_the_generator_writes(rendered: dict[str, str]) -> None:
    stale = reference_doc.stale_files(rendered)
    assert not stale, (
        f"docs/reference/ is out of date ({', '.join(stale)}): run `{REGENERATE}` "
        "and commit what it writes"
    )


def test_every_route_is_in_the_http_reference(
    built: tuple[Any, Settings], rendered: dict[str, str]
) -> None:
    dispatcher, settings = built
    http = rendered["http.md"]
    routes = [
        f"{method} {getattr(route, 'path_format', '')}"
        for route in leaf_routes(dispatcher.app.routes)
        for method in reference_doc.route_methods(route)
    ]
    operations = [
        f"{method.upper()} {path}"
        for path, ops in dispatcher.app.openapi()["paths"].items()
        for method in ops
    ]
    assert len(routes) > 50
    missing = [r for r in [*routes, *operations] if f"`{r}`" not in http]
    assert not missing, f"not in docs/reference/http.md: {missing}; run `{REGENERATE}`"
    for adapter in builtin_adapters(settings):
        if adapter.webhook_path is not None:
            assert f"/webhooks/{adapter.webhook_path}/{{inbox_id}}`" in http
    for path in dispatcher.routes:
        assert f"`WS {path}`" in http


def test_every_socket_has_a_frame_table(built: tuple[Any, Settings]) -> None:
    dispatcher, _ = built
    assert {spec.path for spec in SOCKETS} == set(dispatcher.routes)


def _handler_module(built: tuple[Any, Settings], spec: SocketSpec) -> ModuleType:
    dispatcher, _ = built
    return sys.modules[dispatcher.routes[spec.path].__module__]


def _compared_with_kind(module: ModuleType) -> set[str]:
    """The frame types a socket's loop branches on: `kind == "x"`, `kind in ("x", "y")`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name)):
            continue
        if node.left.id != "kind":
            continue
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
                found.add(right.value)
            elif isinstance(op, ast.In) and isinstance(right, ast.Tuple | ast.Set | ast.List):
                found.update(e.value for e in right.elts if isinstance(e, ast.Constant))
    return found


@pytest.mark.parametrize("spec", SOCKETS, ids=lambda s: s.path)
def test_every_frame_a_socket_handles_is_documented(
    built: tuple[Any, Settings], rendered: dict[str, str], spec: SocketSpec
) -> None:
    handled = _compared_with_kind(_handler_module(built, spec))
    assert {"message", "ping"} <= handled  # the reading itself works
    assert not handled - spec.client_types, (
        f"{spec.path} handles {sorted(handled - spec.client_types)}: add them to "
        f"app/realtime/frames_spec.py (a socket refuses types not listed there), then "
        f"run `{REGENERATE}`"
    )
    assert not spec.client_types - handled, (
        f"app/realtime/frames_spec.py lists {sorted(spec.client_types - handled)} for "
        f"{spec.path}, which no branch of its socket handles"
    )
    for kind in handled:
        assert f"#### `{kind}` ({spec.path})" in rendered["websocket.md"]


def _sent_types(code: ModuleType | Callable[..., Any]) -> Iterator[str]:
    """The `type` of every frame a module (or function) builds as a dict literal."""
    for node in ast.walk(ast.parse(inspect.getsource(code))):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if not (isinstance(key, ast.Constant) and key.value == "type"):
                continue
            choices = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
            for choice in choices:
                if isinstance(choice, ast.Constant) and isinstance(choice.value, str):
                    yield choice.value


def test_every_frame_the_server_sends_is_documented(
    built: tuple[Any, Settings], rendered: dict[str, str]
) -> None:
    widget_sends = {f.type for f in WIDGET.server}
    agent_sends = {f.type for f in AGENT.server}
    sent = {
        _handler_module(built, WIDGET): set(_sent_types(_handler_module(built, WIDGET))),
        _handler_module(built, AGENT): set(_sent_types(_handler_module(built, AGENT))),
    }
    assert not sent[_handler_module(built, WIDGET)] - widget_sends
    assert not sent[_handler_module(built, AGENT)] - agent_sends
    # The hub renders events for both kinds of socket; frames.py the errors,
    # `customer_view` the widget's `message`.
    shared = {
        *_sent_types(hub),
        *_sent_types(frames),
        *_sent_types(conversation_schemas.customer_view),
        *hub._AGENT_FRAME_TYPES.values(),
    }
    assert {"message.created", "status", "error", "message"} <= shared
    undocumented = shared - widget_sends - agent_sends
    assert not undocumented, f"sent but not in app/realtime/frames_spec.py: {sorted(undocumented)}"
    for spec in SOCKETS:
        for frame in spec.server:
            assert f"#### `{frame.type}` ({spec.path})" in rendered["websocket.md"]


# What /work/shared/CONTRACT.md, the public contract, fixes of each frame:
# (socket, direction, type) -> the fields it names.
CONTRACT_FRAMES = {
    ("/ws/widget", "client", "message"): {"client_id", "body"},
    ("/ws/widget", "client", "typing"): {"on"},
    ("/ws/widget", "client", "read"): {"seq"},
    ("/ws/widget", "client", "resume"): {"after_seq", "conversation_id"},
    ("/ws/widget", "client", "csat"): {"rating", "comment"},
    ("/ws/widget", "server", "message"): {
        "conversation_id",
        "seq",
        "id",
        "client_id",
        "author",
        "body",
        "created_at",
    },
    ("/ws/widget", "server", "ack"): {"client_id", "id", "seq"},
    ("/ws/widget", "server", "availability"): {"open", "next_open_at"},
    ("/ws/widget", "server", "status"): {
        "conversation_status",
        "queue_position",
        "expected_wait_seconds",
    },
    ("/ws/widget", "server", "typing"): set(),
    ("/ws/widget", "server", "error"): {"code", "detail"},
    ("/ws/agent", "client", "message"): {"conversation_id", "client_id", "body", "private"},
    ("/ws/agent", "client", "presence"): {"status"},
    ("/ws/agent", "client", "typing"): {"conversation_id"},
    ("/ws/agent", "client", "watch"): {"conversation_id"},
    ("/ws/agent", "client", "unwatch"): {"conversation_id"},
    ("/ws/agent", "server", "message.created"): {"conversation_id", "message"},
    ("/ws/agent", "server", "conversation.assigned"): {"conversation"},
    ("/ws/agent", "server", "conversation.updated"): {"conversation"},
    ("/ws/agent", "server", "typing"): set(),
}


def test_the_frame_table_agrees_with_the_public_contract() -> None:
    table = {
        (spec.path, direction, frame.type): {f.name for f in frame.fields}
        for spec in SOCKETS
        for direction, frames_ in (("client", spec.client), ("server", spec.server))
        for frame in frames_
    }
    for key, fields in CONTRACT_FRAMES.items():
        assert key in table, key
        assert fields <= table[key], (key, fields - table[key])
    close_codes = {spec.path: {c.code for c in spec.close_codes} for spec in SOCKETS}
    assert all({1008, 1009} <= codes for codes in close_codes.values())


def test_the_asyncapi_document_names_every_frame(rendered: dict[str, str]) -> None:
    document = json.loads(rendered["asyncapi.json"])
    assert document["asyncapi"].startswith("3.")
    for spec in SOCKETS:
        name = spec.path.rsplit("/", 1)[-1]
        assert document["channels"][name]["address"] == spec.path
        messages = document["channels"][name]["messages"]
        for direction, frames_ in (("client", spec.client), ("server", spec.server)):
            for frame in frames_:
                key = f"{name}.{direction}.{frame.type}"
                assert key in messages
                payload = document["components"]["messages"][key]["payload"]
                assert payload["properties"]["type"] == {"const": frame.type}
