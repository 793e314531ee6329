"""The wire form of domain events, for the Redis bus: JSON, by explicit rule.

Never pickle: a message on a shared Redis must not be able to run code in
every process that reads it. Each event kind names its class; fields are
plain JSON values, with the nested scope and queue places rebuilt here and
JSON's lists turned back into the tuples the dataclasses hold.
"""

from __future__ import annotations

from typing import Any, get_args

import orjson

from app.events.domain import ConversationScope, Event, QueuePlace

# Every kind of the Event union crosses: a new event needs no second list here.
_KINDS: dict[str, type[Any]] = {cls.__name__: cls for cls in get_args(Event)}
_TUPLE_FIELDS = frozenset({"notify_agent_ids", "inbox_team_ids", "team_ids", "customer_ids"})


class BadWireEvent(ValueError):
    """A message on the channel that is not an event of this version."""


def encode_event(event: Event) -> dict[str, Any]:
    """For `dumps`: orjson writes the dataclass itself (no `asdict` copy,
    which cost more than the JSON on a busy bus)."""
    return {"kind": type(event).__name__, "fields": event}


def decode_event(data: dict[str, Any]) -> Event:
    cls = _KINDS.get(data.get("kind", ""))
    fields = data.get("fields")
    if cls is None or not isinstance(fields, dict):
        raise BadWireEvent(f"unknown event {str(data.get('kind'))[:40]!r}")
    try:
        values = {name: _field(name, value) for name, value in fields.items()}
        event: Event = cls(**values)
    except (TypeError, KeyError) as exc:
        raise BadWireEvent(f"malformed {cls.__name__}: {exc}") from exc
    return event


def _field(name: str, value: Any) -> Any:
    if name == "scope":
        return _scope(value)
    if name == "places":
        return tuple(QueuePlace(**place) for place in value)
    if name in _TUPLE_FIELDS:
        return tuple(value)
    return value


def _scope(value: dict[str, Any]) -> ConversationScope:
    return ConversationScope(**{**value, "inbox_team_ids": tuple(value["inbox_team_ids"])})


def dumps(envelope: dict[str, Any]) -> bytes:
    return orjson.dumps(envelope)


def message(origin: str, envelope: dict[str, Any]) -> bytes:
    """A message on the channel: the sending process's origin, a space, the
    envelope. A process skips its own by the prefix, without parsing them."""
    return origin.encode() + b" " + orjson.dumps(envelope)


def origin_of(raw: bytes) -> tuple[str, bytes]:
    origin, _, envelope = raw.partition(b" ")
    return origin.decode("ascii", "replace"), envelope


def loads(raw: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadWireEvent("not JSON") from exc
    if not isinstance(data, dict):
        raise BadWireEvent("not an object")
    return data
