"""POST (and GET) /webhooks/{slug}/{inbox_id}: every platform's webhook, one route.

Served ahead of FastAPI (app/realtime/sockets.py dispatches it), as a plain
ASGI handler: a webhook needs no dependency injection, no CORS and no
OpenAPI, and a busy platform posts thousands a second, for which FastAPI's
routing and middleware were most of the cost (bench/webhook_intake.py). The
handler only reads the request as it came (method, query, headers, the raw
bytes a signature covers); the intake service verifies, parses and stores.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from app.channels.base import InboundRequest, WebhookAnswer
from app.conversations import intake
from app.conversations.intake import INTAKE_CACHE
from app.conversations.writer import MESSAGE_WRITER
from app.errors import AppError
from app.kit.numbers import parse_db_int
from app.runtime import Runtime

log = logging.getLogger(__name__)

PREFIX = "/webhooks/"
# The contract's limit: a body over 1 MB is refused (413) before it is read
# further. No platform sends more than a few kilobytes per event batch.
MAX_BODY_BYTES = 1024 * 1024


class _TooLarge(Exception):
    pass


async def webhook(scope: Scope, receive: Receive, send: Send, runtime: Runtime) -> None:
    """The ASGI handler for every path under /webhooks/."""
    slug, _, raw_id = scope["path"][len(PREFIX) :].partition("/")
    # An id no column can hold is no inbox: never a database overflow.
    inbox_id = parse_db_int(raw_id)
    if not slug or inbox_id is None or inbox_id < 1:
        await _error(send, 404, "not_found", "no such inbox")
        return
    if scope["method"] not in ("GET", "POST"):
        await _error(send, 405, "method_not_allowed", "GET or POST", {"allow": "GET, POST"})
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    try:
        declared = int(headers.get("content-length", "0") or 0)
    except ValueError:
        declared = 0
    try:
        if declared > MAX_BODY_BYTES:
            raise _TooLarge
        body = await _body(receive, MAX_BODY_BYTES)
    except _TooLarge:
        await _error(send, 413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        return
    request = InboundRequest(
        method=scope["method"],
        body=body,
        headers=headers,
        query=dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        ),
    )
    try:
        answer = await intake.receive_webhook(
            runtime.db,
            runtime[MESSAGE_WRITER],
            runtime.channels,
            slug,
            inbox_id,
            request,
            runtime[INTAKE_CACHE],
        )
    except AppError as exc:
        await _error(send, exc.status, exc.code, exc.detail, exc.headers)
        return
    await _answer(send, answer)


async def _body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _answer(send: Send, answer: WebhookAnswer) -> None:
    await _respond(send, answer.status, answer.body.encode(), f"{answer.media_type}; charset=utf-8")


async def _error(
    send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    await _respond(send, status, body, "application/json", headers)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    media_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    raw = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
