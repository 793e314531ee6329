"""A limit on the size of every HTTP request body.

Pure ASGI, so that a body past the limit is refused before the app buffers it:
a Content-Length past the limit is answered at once, without reading a byte,
and a body without one (chunked) is read up to the limit and refused as soon
as it passes it. Either way the answer is 413 {"error": "payload_too_large"}.
WebSocket frames pass through: they have a limit of their own. A file
upload (a POST to a path ending in /attachments) has a larger limit of its own.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        if (
            self.upload_max_bytes is not None
            and scope["method"] == "POST"
            and scope["path"].endswith("/attachments")
        ):
            limit = max(limit, self.upload_max_bytes)
        length = _content_length(scope)
        if length is not None:
            # The server stops a body at its Content-Length, so the header is the size.
            if length > limit:
                await self._refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return
        # No length given: read the body first, never holding more than the limit.
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # the client went away; the app shall see that
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if first is None:
            first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed: Message | None = first

        async def replay() -> Message:
            nonlocal replayed
            if replayed is not None:
                message, replayed = replayed, None
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = orjson.dumps(
            {
                "error": "payload_too_large",
                "detail": f"the request body is larger than {limit} bytes",
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
