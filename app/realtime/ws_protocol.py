"""uvicorn's sans-I/O WebSocket protocol, with a synchronous send for the hub.

Through ASGI, every frame the hub sends is a task step and three layers of
coroutines (Starlette's `WebSocket.send`, uvicorn's `send` awaiting its
`writable` event), though the write itself never waits while the transport
takes data. `send_text_now` writes the frame at once when it can, and says
when it cannot (writing paused by a full buffer, the socket closing): the hub
then queues the frame and sends it through ASGI as before, so order, the
slow-consumer limit and close handling are unchanged. Served with
`uvicorn.Config(ws=DirectSendProtocol)`; under any other server the
extension is absent and the hub uses ASGI only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

# The scope extension's name; its dict holds "send_text": (str) -> bool.
DIRECT_SEND = "madoguchi.direct_send"

SendTextNow = Callable[[str], bool]


class DirectSendProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # an upgrade the server accepted: the app runs
            scope["extensions"][DIRECT_SEND] = {"send_text": self.send_text_now}

    def send_text_now(self, text: str) -> bool:
        """Writes one text frame to the transport now; False if it must wait."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True


def direct_sender(scope: Mapping[str, Any] | None) -> SendTextNow | None:
    extension = (scope or {}).get("extensions", {}).get(DIRECT_SEND)
    return extension["send_text"] if extension is not None else None
