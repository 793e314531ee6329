"""WS /ws/widget: the customer's socket."""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket

from app.auth.widget_sessions import authenticate_session
from app.channels.web.adapter import WebConfig
from app.contacts import repository as customers_repo
from app.conversations.intake import WidgetChat
from app.conversations.writer import StoredMessage
from app.errors import AppError, NotAuthenticated, RateLimited
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.realtime.frames import (
    BadFrame,
    Disconnected,
    error_frame,
    optional_int,
    optional_str,
    receive_frame,
    require_int,
    require_str,
    send_error,
)
from app.realtime.hub import Connection
from app.responders.availability import availability
from app.runtime import Runtime

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008


async def widget_socket(ws: WebSocket, runtime: Runtime, token: str) -> None:
    """WS /ws/widget"""
    try:
        async with runtime.db.read() as session:
            identity = await authenticate_session(session, token)
            inbox = await inboxes_repo.get(session, identity.inbox_id)
            customer = await customers_repo.get(session, identity.customer_id)
            team_ids = await inboxes_repo.team_ids(session, identity.inbox_id)
    except NotAuthenticated:
        # Closing before accept answers the handshake with 403: no data flows.
        await ws.close(POLICY_VIOLATION, "invalid session token")
        return
    if inbox is None or customer is None:
        await ws.close(POLICY_VIOLATION, "session no longer valid")
        return
    if not WebConfig.model_validate(inbox.config).allows_origin(ws.headers.get("origin")):
        await ws.close(POLICY_VIOLATION, "origin not allowed")
        return

    await ws.accept()
    conn = Connection(ws, customer_id=identity.customer_id)
    chat = WidgetChat(
        db=runtime.db,
        writer=runtime.writer,
        inbox_id=inbox.id,
        channel=inbox.channel,
        inbox_team_ids=team_ids,
        customer_id=identity.customer_id,
        customer_name=customer.name,
    )
    runtime.hub.add(conn)
    try:
        now = availability(inbox, clock.now(), runtime.settings.default_expected_reply_seconds)
        conn.send({"type": "availability", **now.as_json()})
        current = await chat.current_conversation()
        status = current.status if current is not None else None
        conn.send(
            {
                "type": "status",
                "conversation_id": current.id if current is not None else None,
                "conversation_status": status,
            }
        )
        await _serve(runtime, conn, chat, f"session:{identity.session_id}")
    finally:
        runtime.hub.remove(conn)


async def _serve(runtime: Runtime, conn: Connection, chat: WidgetChat, rate_key: str) -> None:
    max_chars = runtime.settings.max_message_chars
    pending: set[asyncio.Task[None]] = set()
    while True:
        try:
            frame = await receive_frame(conn.ws)
        except Disconnected:
            return
        except BadFrame as exc:
            send_error(conn, exc)
            continue
        kind = frame["type"]
        try:
            if kind == "message":
                client_id = require_str(frame, "client_id", max_length=100)
                body = require_str(frame, "body", max_length=max_chars)
                try:
                    runtime.limits.widget_messages.hit(rate_key)
                except RateLimited as exc:
                    conn.send(
                        error_frame(
                            "rate_limited",
                            exc.detail,
                            client_id=client_id,
                            retry_after=exc.retry_after,
                        )
                    )
                    continue
                # Stored in the background so a burst is pipelined into one
                # group commit; the writer keeps this socket's order.
                task = asyncio.create_task(_store(chat, conn, client_id, body))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif kind == "resume":
                after = optional_int(frame, "after_seq") or 0
                conversation_id = optional_int(frame, "conversation_id", minimum=1)
                # Acks in flight land first, so the replay has no holes.
                if pending:
                    await asyncio.wait(set(pending))
                replayed = await chat.history(conversation_id, after)
                for item in replayed:
                    conn.send(item)
                # Tells the widget the replay is over: live frames follow it.
                conn.send(
                    {
                        "type": "resumed",
                        "conversation_id": conversation_id
                        or (replayed[-1]["conversation_id"] if replayed else chat.conversation_id),
                        "last_seq": replayed[-1]["seq"] if replayed else after,
                    }
                )
            elif kind == "typing":
                await chat.typing(bool(frame.get("on", True)))
            elif kind == "read":
                seq = require_int(frame, "seq", minimum=1)
                await chat.mark_read(seq)
            elif kind == "csat":
                rating = require_int(frame, "rating", minimum=1)
                if rating > 5:
                    raise BadFrame("invalid_frame", '"rating" is 1 to 5')
                comment = optional_str(frame, "comment", max_length=4000)
                conversation_id = await chat.rate(rating, comment)
                conn.send({"type": "csat", "conversation_id": conversation_id, "rating": rating})
            elif kind == "ping":
                conn.send({"type": "pong"})
            else:
                raise BadFrame("unknown_type", f"unknown frame type {kind[:40]!r}")
        except BadFrame as exc:
            send_error(conn, exc)
        except AppError as exc:
            conn.send(error_frame(exc.code, exc.detail))


async def _store(chat: WidgetChat, conn: Connection, client_id: str, body: str) -> None:
    try:
        stored: StoredMessage = await chat.send(client_id, body, conn.id)
    except AppError as exc:
        conn.send(error_frame(exc.code, exc.detail, client_id=client_id))
        return
    except Exception:
        log.exception("customer message not stored")
        conn.send(
            error_frame(
                "not_stored", "the message was not stored; send it again", client_id=client_id
            )
        )
        return
    conn.send(
        {
            "type": "ack",
            "client_id": client_id,
            "id": stored.id,
            "seq": stored.seq,
            "conversation_id": stored.conversation_id,
        }
    )
