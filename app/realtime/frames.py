"""Reading JSON frames off a socket: bad frames get an `error` frame, not a close."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Message

from app.kit.numbers import DB_INT_MAX
from app.kit.text import check_storable
from app.realtime.connection import Connection


class Disconnected(Exception):
    pass


class BadFrame(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def error_frame(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail, **extra}


def parse_frame(message: Message) -> dict[str, Any]:
    """An ASGI message (`await ws.receive()`) as a JSON object frame. Raises
    Disconnected or BadFrame. Not a coroutine of its own: every idle socket
    waits in `ws.receive()`, and one more suspended frame each is memory."""
    if message["type"] == "websocket.disconnect":
        raise Disconnected
    text = message.get("text")
    if text is None:
        raise BadFrame("invalid_frame", "frames are JSON text, not binary")
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadFrame("invalid_json", "the frame is not valid JSON") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadFrame("invalid_frame", 'a frame is a JSON object with a string "type"')
    return frame


def optional_str(frame: dict[str, Any], key: str, *, max_length: int) -> str | None:
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadFrame("invalid_frame", f'"{key}" must be a non-empty string')
    if len(value) > max_length:
        raise BadFrame("invalid_frame", f'"{key}" is longer than {max_length} characters')
    try:
        return check_storable(value)
    except ValueError as exc:
        raise BadFrame("invalid_frame", f'"{key}": {exc}') from exc


def require_str(frame: dict[str, Any], key: str, *, max_length: int) -> str:
    value = optional_str(frame, key, max_length=max_length)
    if value is None:
        raise BadFrame("invalid_frame", f'"{key}" is missing')
    return value


def optional_int(frame: dict[str, Any], key: str, *, minimum: int = 0) -> int | None:
    """Every integer in a frame is an id, a seq or smaller: past DB_INT_MAX it names nothing."""
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= DB_INT_MAX:
        raise BadFrame(
            "invalid_frame", f'"{key}" must be an integer from {minimum} to {DB_INT_MAX}'
        )
    return value


def require_int(frame: dict[str, Any], key: str, *, minimum: int = 0) -> int:
    value = optional_int(frame, key, minimum=minimum)
    if value is None:
        raise BadFrame("invalid_frame", f'"{key}" is missing')
    return value


def send_error(conn: Connection, exc: BadFrame, **extra: Any) -> None:
    conn.send(error_frame(exc.code, exc.detail, **extra))
