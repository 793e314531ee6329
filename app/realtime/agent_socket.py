"""WS /ws/agent: an agent's console socket. Open socket = online (unless away)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from app.agents import repository as agents_repo
from app.agents import service as agents_service
from app.agents.presence import PRESENCE
from app.auth import service as auth_service
from app.conversations import access
from app.conversations import service as conversations
from app.conversations.writer import MESSAGE_WRITER
from app.errors import AppError, NotAuthenticated
from app.events.domain import AgentChanged, Typing
from app.inboxes import repository as inboxes_repo
from app.kit.crypto import token_digest
from app.models import Agent
from app.realtime.connection import DEACTIVATED, POLICY_VIOLATION, Connection
from app.realtime.frames import (
    BadFrame,
    Disconnected,
    error_frame,
    parse_frame,
    require_int,
    require_str,
    send_error,
)
from app.realtime.frames_spec import AGENT, AGENT_STATUSES, CLIENT_ID_MAX_LENGTH
from app.realtime.hub import HUB
from app.runtime import Runtime

log = logging.getLogger(__name__)

# Frames that act as the agent: each is preceded by a look at the agent as
# stored now (one indexed read). A ping does not act.
_ACTING = frozenset({"message", "presence", "read", "typing", "watch", "unwatch"})
SESSION_ENDED = "session ended"


def _own_origin(ws: WebSocket, public_url: str | None) -> bool:
    """The console is served by us: a browser page elsewhere may not open this
    socket with the agent's token (cross-site WebSocket hijacking)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    allowed = set()
    host = ws.headers.get("host")
    if host:
        allowed |= {f"http://{host}", f"https://{host}"}
    if public_url:
        parts = urlsplit(public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin.rstrip("/").lower() in {a.lower() for a in allowed}


async def agent_socket(ws: WebSocket, runtime: Runtime, token: str) -> None:
    """WS /ws/agent"""
    if not _own_origin(ws, runtime.settings.public_url):
        await ws.close(POLICY_VIOLATION, "origin not allowed")
        return
    try:
        async with runtime.db.read() as session:
            agent = await auth_service.authenticate(session, token)
            viewer = await access.viewer_of(session, agent)
    except NotAuthenticated:
        await ws.close(POLICY_VIOLATION, "invalid access token")
        return

    await ws.accept()
    conn = runtime[HUB].connect(ws, viewer=viewer, token_digest=token_digest(token))
    runtime[PRESENCE].connected(agent.id, "away" if agent.chosen_status == "away" else "online")
    try:
        conn.send(
            {
                "type": "hello",
                "agent": {"id": agent.id, "name": agent.name, "role": agent.role},
                "status": runtime[PRESENCE].status(agent.id),
            }
        )
        await _serve(runtime, conn, agent, viewer)
    finally:
        runtime[HUB].remove(conn)
        runtime[PRESENCE].disconnected(agent.id)


async def _serve(runtime: Runtime, conn: Connection, agent: Agent, viewer: access.Viewer) -> None:
    max_chars = runtime.settings.max_message_chars
    ended = False
    while True:
        try:
            frame = parse_frame(await conn.ws.receive())
        except Disconnected:
            return
        except BadFrame as exc:
            send_error(conn, exc)
            continue
        if ended:
            continue  # closing: what the client sent meanwhile is not acted on
        kind = frame["type"]
        client_id: str | None = None
        if kind in _ACTING:
            # Who the agent is now, not at the handshake: a new role or teams
            # count from this frame, a deactivation or a revoked token ends it.
            try:
                agent, viewer = await _standing(runtime, conn)
            except NotAuthenticated:
                reason = await _why_ended(runtime, agent.id)
                conn.close(POLICY_VIOLATION, reason)
                ended = True
                continue
        try:
            if kind not in AGENT.client_types:
                raise BadFrame("unknown_type", f"unknown frame type {kind[:40]!r}")
            if kind == "message":
                conversation_id = require_int(frame, "conversation_id", minimum=1)
                client_id = require_str(frame, "client_id", max_length=CLIENT_ID_MAX_LENGTH)
                body = require_str(frame, "body", max_length=max_chars)
                stored = await conversations.post_agent_message(
                    runtime.db,
                    runtime[MESSAGE_WRITER],
                    runtime.channels,
                    agent,
                    conversation_id,
                    body=body,
                    private=bool(frame.get("private", False)),
                    client_id=client_id,
                    follow_up_seconds=runtime.settings.widget_email_follow_up_seconds,
                )
                conn.send(
                    {
                        "type": "ack",
                        "client_id": client_id,
                        "id": stored.id,
                        "seq": stored.seq,
                        "conversation_id": stored.conversation_id,
                    }
                )
            elif kind == "presence":
                status = frame.get("status")
                if status not in AGENT_STATUSES:
                    raise BadFrame("invalid_frame", '"status" is online, away or offline')
                async with runtime.db.write() as session:
                    fresh = await agents_repo.get(session, agent.id)
                    if fresh is not None:
                        agents_service.choose_status(fresh, status, runtime[PRESENCE])
                conn.send({"type": "presence", "status": runtime[PRESENCE].status(agent.id)})
            elif kind == "read":
                conversation_id = require_int(frame, "conversation_id", minimum=1)
                seq = require_int(frame, "seq", minimum=1)
                await conversations.mark_read(runtime.db, agent, conversation_id, seq)
            elif kind == "typing":
                conversation_id = require_int(frame, "conversation_id", minimum=1)
                await _typing(runtime, agent, viewer, conversation_id, bool(frame.get("on", True)))
            elif kind in ("watch", "unwatch"):
                conversation_id = require_int(frame, "conversation_id", minimum=1)
                if kind == "watch":
                    async with runtime.db.read() as session:
                        await conversations.visible_conversation(session, viewer, conversation_id)
                    runtime[HUB].watch(conn, conversation_id)
                else:
                    runtime[HUB].unwatch(conn, conversation_id)
                conn.send({"type": kind, "conversation_id": conversation_id})
            elif kind == "ping":
                conn.send({"type": "pong"})
        except BadFrame as exc:
            send_error(conn, exc)
        except AppError as exc:
            extra = {"client_id": client_id} if client_id else {}
            conn.send(error_frame(exc.code, exc.detail, **extra))


async def _standing(runtime: Runtime, conn: Connection) -> tuple[Agent, access.Viewer]:
    assert conn.token_digest is not None
    async with runtime.db.read() as session:
        agent = await auth_service.agent_of_digest(session, conn.token_digest)
        viewer = await access.viewer_of(session, agent)
    conn.viewer = viewer
    return agent, viewer


async def _why_ended(runtime: Runtime, agent_id: int) -> str:
    """Why the token no longer works. A deactivation made where no event was
    published (the command line) is announced now, so routing takes back the
    agent's conversations without waiting for the presence grace period."""
    async with runtime.db.read() as session:
        standing = (await agents_repo.standing_of(session, [agent_id])).get(agent_id)
    if standing is not None and standing[1]:
        return SESSION_ENDED
    if standing is not None:
        role, _, team_ids = standing
        await runtime.bus.publish(AgentChanged(agent_id, role, tuple(sorted(team_ids)), False))
    return DEACTIVATED


async def _typing(
    runtime: Runtime, agent: Agent, viewer: access.Viewer, conversation_id: int, on: bool
) -> None:
    async with runtime.db.read() as session:
        conversation, inbox, _, _ = await conversations.visible_conversation(
            session, viewer, conversation_id
        )
        scope = access.scope_of(conversation, await inboxes_repo.team_ids(session, inbox.id))
    await runtime.bus.publish(
        Typing(scope=scope, author_kind="agent", author_name=agent.name, on=on)
    )
