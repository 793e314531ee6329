"""WS /ws/widget: the customer's socket. A thin edge over the one intake."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.websockets import WebSocket

from app.auth.widget_sessions import SessionLifetimes
from app.channels.base import InboundMessage, Sender
from app.channels.web.adapter import WebConfig
from app.contacts.context import ContextKeeper, ContextRefused, browser_name, check_context
from app.conversations import customer_chat, intake
from app.conversations.intake import InboxFacts
from app.conversations.writer import MESSAGE_WRITER, ErasedCustomer, StoredMessage
from app.errors import AppError, NotAuthenticated, RateLimited
from app.kit.clock import clock
from app.realtime.connection import SESSION_ENDED, TRY_AGAIN_LATER, Connection
from app.realtime.frames import (
    BadFrame,
    Disconnected,
    error_frame,
    optional_int,
    optional_str,
    parse_frame,
    require_int,
    require_str,
    send_error,
)
from app.realtime.frames_spec import (
    CLIENT_ID_MAX_LENGTH,
    CSAT_COMMENT_MAX_LENGTH,
    CSAT_RATING_MAX,
    WIDGET,
)
from app.realtime.hub import HUB
from app.realtime.sockets import host_of, origin_of
from app.reports import csat
from app.responders import planner
from app.responders.availability import QUEUE_SOURCE, availability
from app.routing.router import ROUTER
from app.runtime import Runtime

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008


@dataclass(slots=True)
class _Chat:
    """One customer in one web inbox, as this socket sees it. Plain values:
    thousands of idle sockets each hold one."""

    inbox: InboxFacts
    customer_id: int
    customer_name: str | None
    conversation_id: int | None = None
    # Made by the first `context` frame (app/contacts/context.py).
    context: ContextKeeper | None = None


async def widget_socket(ws: WebSocket, runtime: Runtime, token: str) -> None:
    """WS /ws/widget"""
    opened = await _open(ws, runtime, token)
    if opened is None:
        return
    conn, chat, rate_key = opened
    try:
        await _serve(runtime, conn, chat, rate_key)
    finally:
        runtime[HUB].remove(conn)
        if chat.context is not None:
            await chat.context.close()


async def _open(
    ws: WebSocket, runtime: Runtime, token: str
) -> tuple[Connection, _Chat, str] | None:
    """Authenticates, accepts and greets the socket (`availability`, `status`).
    Returns plain values only: the rows read here are let go before the socket
    idles, since thousands of idle sockets would each keep a copy."""
    try:
        opening = await customer_chat.open_chat(
            runtime.db, token, SessionLifetimes.of(runtime.settings)
        )
    except NotAuthenticated:
        # Closing before accept answers the handshake with 403: no data flows.
        await ws.close(POLICY_VIOLATION, "invalid session token")
        return None
    identity, inbox, current = opening.identity, opening.inbox, opening.current
    if not opening.customer_found:
        await ws.close(POLICY_VIOLATION, "session no longer valid")
        return None
    web = WebConfig.model_validate(inbox.config)
    if not web.allows_origin(origin_of(ws), host_of(ws), runtime.settings.public_url):
        await ws.close(POLICY_VIOLATION, "origin not allowed")
        return None

    await ws.accept()
    hub = runtime[HUB]
    # Counted and registered with no await between, so tabs opening at once
    # cannot all pass. The new socket is refused, not the oldest closed: a
    # closed tab would reconnect and close the next oldest, round and round,
    # each reconnect a resume; a refused one backs off and leaves the open
    # tabs alone. Counted in this process: with N processes a session may
    # hold up to N times as many.
    cap = runtime.settings.widget_max_sockets_per_session
    if cap and hub.session_socket_count(identity.session_id) >= cap:
        await ws.close(TRY_AGAIN_LATER, "too many sockets for this session")
        return None
    # The responders decide on each message without a database read.
    planner.responder_settings.prime(inbox.id, inbox.business_hours, inbox.responders)
    conn = hub.connect(
        ws,
        customer_id=identity.customer_id,
        inbox_id=inbox.id,
        session_id=identity.session_id,
    )
    chat = _Chat(
        intake.facts_of(inbox, opening.inbox_team_ids, web),
        identity.customer_id,
        opening.customer_name,
    )
    try:
        now = await availability(
            inbox,
            clock.now(),
            runtime[QUEUE_SOURCE],
            runtime.settings.default_expected_reply_seconds,
        )
        conn.send({"type": "availability", **now.as_json()})
        if current is not None and current.status != "resolved":
            chat.conversation_id = current.id
        status: dict[str, object] = {
            "type": "status",
            "conversation_id": current.id if current is not None else None,
            "conversation_status": current.status if current is not None else None,
        }
        if current is not None:
            # Agents' read mark, so "Read" survives a reload (later ones come as `read`).
            status["agent_read_seq"] = current.agent_read_seq
        place = runtime[ROUTER].place_of(current.id) if current is not None else None
        if place is not None:
            # Waiting in routing's queue: where, and for about how long.
            status["queue_position"] = place.position
            status["expected_wait_seconds"] = place.expected_wait_seconds
        conn.send(status)
    except BaseException:
        runtime[HUB].remove(conn)
        raise
    return conn, chat, f"session:{identity.session_id}"


async def _serve(runtime: Runtime, conn: Connection, chat: _Chat, rate_key: str) -> None:
    max_chars = runtime.settings.max_message_chars
    hub = runtime[HUB]
    # Messages being stored; an idle socket holds no set.
    pending: set[asyncio.Future[StoredMessage]] | None = None
    while True:
        try:
            frame = parse_frame(await conn.ws.receive())
        except Disconnected:
            return
        except BadFrame as exc:
            send_error(conn, exc)
            continue
        if hub.was_erased(chat.customer_id):
            # Read before the close took effect: an erased customer's frames
            # change nothing (a rating's comment, a typing name to agents).
            continue
        kind = frame["type"]
        try:
            if kind not in WIDGET.client_types:
                raise BadFrame("unknown_type", f"unknown frame type {kind[:40]!r}")
            if kind == "message":
                client_id = require_str(frame, "client_id", max_length=CLIENT_ID_MAX_LENGTH)
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
                # Queued here, in this socket's order, and acked when its group
                # commit lands: a burst is pipelined into one commit, and a full
                # writer queue stops this socket's reads (backpressure).
                stored = await _queue_message(runtime, chat, conn, client_id, body)
                if stored is not None:
                    if pending is None:
                        pending = set()
                    pending.add(stored)
                    stored.add_done_callback(pending.discard)
            elif kind == "resume":
                # Each replays a history: a limit of its own, tighter than signals'.
                runtime.limits.widget_resumes.hit(rate_key)
                after = optional_int(frame, "after_seq") or 0
                conversation_id = optional_int(frame, "conversation_id", minimum=1)
                # Acks in flight land first, so the replay has no holes.
                if pending:
                    await asyncio.wait(set(pending))
                await _resume(runtime, conn, chat, conversation_id, after)
            elif kind in ("typing", "read"):
                runtime.limits.widget_signals.hit(rate_key)
                if kind == "typing":
                    if chat.conversation_id is not None:
                        await customer_chat.typing(
                            runtime.db,
                            runtime.bus,
                            chat.inbox.id,
                            chat.inbox.team_ids,
                            chat.customer_id,
                            chat.customer_name,
                            chat.conversation_id,
                            bool(frame.get("on", True)),
                        )
                else:
                    seq = require_int(frame, "seq", minimum=1)
                    conversation_id = (
                        optional_int(frame, "conversation_id", minimum=1) or chat.conversation_id
                    )
                    if conversation_id is not None:
                        await customer_chat.mark_read(
                            runtime.db,
                            chat.inbox.id,
                            chat.inbox.team_ids,
                            chat.customer_id,
                            conversation_id,
                            seq,
                        )
            elif kind == "csat":
                # A database write each, like a typing or read frame.
                runtime.limits.widget_signals.hit(rate_key)
                # One rating per resolved conversation of the customer's own;
                # a second from the widget replaces it (app/reports/csat.py).
                rating = require_int(frame, "rating", minimum=1)
                if rating > CSAT_RATING_MAX:
                    raise BadFrame("invalid_frame", '"rating" is 1 to 5')
                comment = optional_str(frame, "comment", max_length=CSAT_COMMENT_MAX_LENGTH)
                conversation_id = await csat.rate_from_widget(
                    runtime.db,
                    chat.inbox.id,
                    chat.customer_id,
                    optional_int(frame, "conversation_id", minimum=1),
                    rating,
                    comment,
                )
                conn.send({"type": "csat", "conversation_id": conversation_id, "rating": rating})
            elif kind == "context":
                # A write at most every few seconds (coalesced), counted like a signal.
                runtime.limits.widget_signals.hit(rate_key)
                try:
                    fields = check_context(frame)
                except ContextRefused as exc:
                    raise BadFrame("invalid_frame", str(exc)) from exc
                if chat.context is None:
                    chat.context = ContextKeeper(
                        runtime.db, chat.customer_id, browser_name(_user_agent(conn.ws))
                    )
                await chat.context.offer(fields, clock.now())
            elif kind == "ping":
                conn.send({"type": "pong"})
        except BadFrame as exc:
            send_error(conn, exc)
        except RateLimited as exc:
            conn.send(error_frame("rate_limited", exc.detail, retry_after=exc.retry_after))
        except AppError as exc:
            conn.send(error_frame(exc.code, exc.detail))


def _user_agent(ws: WebSocket) -> str | None:
    # From the handshake's raw headers: `WebSocket.headers` would keep a
    # parsed copy on the socket.
    for name, value in ws.scope["headers"]:
        if name == b"user-agent":
            return bytes(value).decode("latin-1")
    return None


async def _resume(
    runtime: Runtime, conn: Connection, chat: _Chat, conversation_id: int | None, after: int
) -> None:
    """Replays the history after `after`, paced to the client, then `resumed`.
    Live messages of that conversation wait meanwhile and follow `resumed`, so
    the socket carries each message once, in seq order."""
    target = conversation_id or chat.conversation_id
    if target is None:
        current = await customer_chat.current_conversation(
            runtime.db, chat.inbox.id, chat.customer_id
        )
        target = current.id if current is not None else None
    last = after
    if target is not None:
        conn.hold(target)
        try:
            async for page in customer_chat.history_pages(
                runtime.db, chat.inbox.id, chat.customer_id, target, after
            ):
                for frame in page:
                    await conn.send_paced(frame)
                last = page[-1]["seq"]
        except BaseException:
            conn.release(target, last)
            raise
    conn.send({"type": "resumed", "conversation_id": target, "last_seq": last})
    if target is not None:
        conn.release(target, last)


async def _queue_message(
    runtime: Runtime, chat: _Chat, conn: Connection, client_id: str, body: str
) -> asyncio.Future[StoredMessage] | None:
    """Queues the customer's message for the writer; its ack (or error) goes
    out from the commit's callback. None when it could not be queued."""
    try:
        message = await intake.prepare(
            runtime.db,
            chat.inbox,
            InboundMessage(
                # client_id is the customer's idempotency key, scoped to them.
                external_id=f"web:{chat.customer_id}:{client_id}",
                thread_key="",
                sender=Sender(external_id=str(chat.customer_id), name=chat.customer_name),
                text=body,
            ),
            customer_id=chat.customer_id,
            client_id=client_id,
            origin_connection=conn.id,
        )
        stored = await runtime[MESSAGE_WRITER].enqueue(message)
    except Exception as exc:  # noqa: BLE001 - the customer hears of it, the socket lives
        conn.send(_refusal(client_id, exc))
        return None
    stored.add_done_callback(lambda done: _acknowledge(chat, conn, client_id, done))
    return stored


def _acknowledge(
    chat: _Chat, conn: Connection, client_id: str, done: asyncio.Future[StoredMessage]
) -> None:
    if done.cancelled():  # the writer stopped (shutdown): the client resends
        return
    exc = done.exception()
    if exc is not None:
        conn.send(_refusal(client_id, exc))
        if isinstance(exc, ErasedCustomer):
            # Erased in another process, whose event has not come yet.
            conn.close(POLICY_VIOLATION, SESSION_ENDED)
        return
    stored = done.result()
    chat.conversation_id = stored.conversation_id
    conn.send(
        {
            "type": "ack",
            "client_id": client_id,
            "id": stored.id,
            "seq": stored.seq,
            "conversation_id": stored.conversation_id,
        }
    )


def _refusal(client_id: str, exc: BaseException) -> dict[str, object]:
    """The error frame for a message that was not stored: the service's own
    error as it is, anything else logged and told as `not_stored`."""
    if isinstance(exc, AppError):
        return error_frame(exc.code, exc.detail, client_id=client_id)
    log.error("customer message not stored", exc_info=exc)
    return error_frame(
        "not_stored", "the message was not stored; send it again", client_id=client_id
    )
