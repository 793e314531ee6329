"""Every domain event crosses the Redis bus unchanged: the wire form is built
from the `Event` union, so an event added there must round-trip here too."""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest

from app.events import domain as events
from app.events import wire


def _sample(hint: Any, depth: int = 0) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return _sample(next(a for a in get_args(hint) if a is not type(None)), depth)
    if origin is Literal:
        return get_args(hint)[-1]
    if origin is tuple:
        return (_sample(get_args(hint)[0], depth + 1),) * 2
    if origin is dict or hint is events.Frame:
        return {"type": "x", "nested": {"seq": 3, "list": [1, "two"]}}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _instance(hint, depth + 1)
    samples: dict[Any, Any] = {int: 7 + depth, str: f"s{depth}", bool: True, float: 1.5}
    if hint in samples:
        return samples[hint]
    raise AssertionError(f"no sample for {hint!r}: teach this test (and app/events/wire.py)")


def _instance(cls: type[Any], depth: int = 0) -> Any:
    hints = get_type_hints(cls, vars(events))
    return cls(**{f.name: _sample(hints[f.name], depth) for f in dataclasses.fields(cls)})


@pytest.mark.parametrize("kind", get_args(events.Event), ids=lambda cls: cls.__name__)
def test_every_event_kind_round_trips(kind: type[Any]) -> None:
    event = _instance(kind)
    raw = wire.dumps(wire.encode_event(event))
    assert wire.decode_event(wire.loads(raw)) == event


def test_unknown_and_malformed_events_are_refused() -> None:
    with pytest.raises(wire.BadWireEvent):
        wire.decode_event({"kind": "Pickle", "fields": {}})
    with pytest.raises(wire.BadWireEvent):
        wire.decode_event({"kind": "AgentPresenceChanged", "fields": {"nope": 1}})
    with pytest.raises(wire.BadWireEvent):
        wire.loads(b"[1, 2]")
