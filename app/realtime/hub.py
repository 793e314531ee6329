"""This process's live sockets, and the fan-out of domain events to them.

Frames are rendered here, at the edge, from the events on the bus; who gets
an agent frame is decided by the one visibility rule (conversations/access.py).
"""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from app.agents.presence import AgentPresence
from app.auth.roles import Role
from app.conversations.access import Viewer, may_see, serves
from app.conversations.schemas import customer_view
from app.events.domain import (
    AgentChanged,
    AgentPresenceChanged,
    AvailabilityChanged,
    CloseAgentSockets,
    ConversationChanged,
    ConversationRead,
    ConversationScope,
    CsatRequested,
    CustomerErased,
    CustomersMerged,
    Event,
    Frame,
    InboxSettingsChanged,
    JobsQueued,
    MessageDeliveryChanged,
    MessageStored,
    QueueChanged,
    SlaAlert,
    Typing,
)
from app.kit.expiring import ExpiringMap
from app.realtime.connection import (
    CUSTOMER_CHANGED,
    DEACTIVATED,
    MAX_QUEUED_FRAMES,
    POLICY_VIOLATION,
    SERVICE_RESTART,
    SESSION_ENDED,
    Connection,
    encode,
)
from app.responders.availability import extension as availability_extension
from app.runtime import Part

log = logging.getLogger(__name__)

# How long a process remembers an erasure: a socket that authenticated just
# before it and registers just after is closed as it registers, and frames
# already read from a closing socket are dropped (app/realtime/widget_socket.py).
# A socket takes milliseconds from its handshake to its registration; a minute
# covers a process stalled under load many times over.
ERASED_MEMORY_SECONDS = 60.0
ERASED_MEMORY_ENTRIES = 10_000

_AGENT_FRAME_TYPES = {
    "opened": "conversation.updated",
    "assigned": "conversation.assigned",
    "transferred": "conversation.assigned",
    "updated": "conversation.updated",
    "resolved": "conversation.updated",
    "reopened": "conversation.updated",
}


class Hub:
    def __init__(self, presence: AgentPresence, max_queued_frames: int = MAX_QUEUED_FRAMES) -> None:
        self.presence = presence
        self.max_queued_frames = max_queued_frames
        self._agents: dict[int, set[Connection]] = {}
        # A list, not a set: a customer has a socket or two, and an empty set
        # alone is 216 bytes on each of thousands of idle widget sockets.
        self._customers: dict[int, list[Connection]] = {}
        self._watchers: dict[int, set[Connection]] = {}
        # Open sockets per widget session, for its cap (app/realtime/widget_socket.py).
        self._session_sockets: dict[int, int] = {}
        self._erased: ExpiringMap[int, bool] = ExpiringMap(
            ERASED_MEMORY_SECONDS, ERASED_MEMORY_ENTRIES
        )

    # -- registry --------------------------------------------------------

    def connect(
        self,
        ws: WebSocket,
        *,
        viewer: Viewer | None = None,
        customer_id: int | None = None,
        inbox_id: int | None = None,
        session_id: int | None = None,
        token_digest: str | None = None,
    ) -> Connection:
        """A new socket's connection, registered for fan-out."""
        conn = Connection(
            ws,
            viewer=viewer,
            customer_id=customer_id,
            inbox_id=inbox_id,
            session_id=session_id,
            token_digest=token_digest,
            max_queued_frames=self.max_queued_frames,
        )
        self.add(conn)
        return conn

    def add(self, conn: Connection) -> None:
        if conn.agent_id is not None:
            self._agents.setdefault(conn.agent_id, set()).add(conn)
        if conn.session_id is not None:
            self._session_sockets[conn.session_id] = (
                self._session_sockets.get(conn.session_id, 0) + 1
            )
        if conn.customer_id is not None:
            self._customers.setdefault(conn.customer_id, []).append(conn)
            if self.was_erased(conn.customer_id):
                conn.close(POLICY_VIOLATION, SESSION_ENDED)

    def remove(self, conn: Connection) -> None:
        agent_id, customer_id = conn.agent_id, conn.customer_id
        if agent_id is not None and agent_id in self._agents:
            self._agents[agent_id].discard(conn)
            if not self._agents[agent_id]:
                del self._agents[agent_id]
        if customer_id is not None and conn in self._customers.get(customer_id, ()):
            self._customers[customer_id].remove(conn)
            if not self._customers[customer_id]:
                del self._customers[customer_id]
            self._forget_session_socket(conn)
        for conversation_id in list(conn.watching or ()):
            self.unwatch(conn, conversation_id)

    def _forget_session_socket(self, conn: Connection) -> None:
        if conn.session_id is None or conn.session_id not in self._session_sockets:
            return
        left = self._session_sockets[conn.session_id] - 1
        if left > 0:
            self._session_sockets[conn.session_id] = left
        else:
            del self._session_sockets[conn.session_id]

    def session_socket_count(self, session_id: int) -> int:
        """The widget session's open sockets in this process."""
        return self._session_sockets.get(session_id, 0)

    def watch(self, conn: Connection, conversation_id: int) -> None:
        if conn.watching is None:
            conn.watching = set()
        conn.watching.add(conversation_id)
        self._watchers.setdefault(conversation_id, set()).add(conn)

    def unwatch(self, conn: Connection, conversation_id: int) -> None:
        if conn.watching is not None:
            conn.watching.discard(conversation_id)
        watchers = self._watchers.get(conversation_id)
        if watchers is not None:
            watchers.discard(conn)
            if not watchers:
                del self._watchers[conversation_id]

    def resync(self) -> None:
        """Events may have been missed (the Redis bus lost its link for a
        while): every socket is closed with 1012, and its client reconnects,
        to any process, and resumes by seq from the store, so it gets each
        message once, in order."""
        for index in (self._agents, self._customers):
            for conns in list(index.values()):
                for conn in list(conns):
                    conn.close(SERVICE_RESTART, "events may have been missed; reconnect and resume")

    def agent_connections(self) -> list[Connection]:
        return [conn for conns in self._agents.values() for conn in conns]

    def was_erased(self, customer_id: int) -> bool:
        """The customer was erased lately (this process heard of it)."""
        return self._erased.get(customer_id) is not None

    def customer_connection_count(self) -> int:
        return sum(len(c) for c in self._customers.values())

    def agent_connection_count(self) -> int:
        return sum(len(c) for c in self._agents.values())

    # -- fan-out ---------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        if isinstance(event, MessageStored):
            self._message_stored(event)
        elif isinstance(event, ConversationChanged):
            self._conversation_changed(event)
        elif isinstance(event, MessageDeliveryChanged):
            self._to_agents(
                event.scope,
                {
                    "type": "message.updated",
                    "conversation_id": event.scope.conversation_id,
                    "message": event.message,
                },
            )
        elif isinstance(event, ConversationRead):
            self._conversation_read(event)
        elif isinstance(event, Typing):
            self._typing(event)
        elif isinstance(event, CloseAgentSockets):
            for conn in list(self._agents.get(event.agent_id, ())):
                if event.token_digest is None or conn.token_digest == event.token_digest:
                    conn.close(POLICY_VIOLATION, event.reason)
        elif isinstance(event, AgentChanged):
            self._agent_changed(event)
        elif isinstance(event, QueueChanged):
            self._queue_changed(event)
        elif isinstance(event, AvailabilityChanged):
            self._availability_changed(event)
        elif isinstance(event, SlaAlert):
            self._to_agents(
                event.scope,
                {
                    "type": "sla.breached" if event.phase == "breach" else "sla.warning",
                    "conversation_id": event.scope.conversation_id,
                    "target": event.target,
                    "started_at": event.started_at,
                    "due_at": event.due_at,
                },
            )
        elif isinstance(event, CsatRequested):
            frame = {"type": "csat_request", "conversation_id": event.scope.conversation_id}
            for conn in self._customer_sockets(event.scope):
                conn.send(frame)
        elif isinstance(event, CustomersMerged):
            self._customers_merged(event)
        elif isinstance(event, CustomerErased):
            self._customer_erased(event)
        elif isinstance(event, AgentPresenceChanged | JobsQueued | InboxSettingsChanged):
            return

    def _message_stored(self, event: MessageStored) -> None:
        scope, message = event.scope, event.message
        if not message["private"]:
            customers = self._customer_sockets(scope, exclude=event.origin_connection)
            if customers:
                text = encode(customer_view(message))
                for conn in customers:
                    conn.send_message(scope.conversation_id, message["seq"], text)
        author = message["author"]
        self._to_agents(
            scope,
            {
                "type": "message.created",
                "conversation_id": scope.conversation_id,
                "message": message,
            },
            also=(author["id"],) if author["kind"] == "agent" and "id" in author else (),
        )

    def _conversation_changed(self, event: ConversationChanged) -> None:
        scope = event.scope
        if event.change in ("opened", "resolved", "reopened"):
            status = {
                "type": "status",
                "conversation_id": scope.conversation_id,
                "conversation_status": scope.status,
            }
            for conn in self._customer_sockets(scope):
                conn.send(status)
        elif event.change in ("assigned", "transferred") and scope.assignee_id is not None:
            # Out of the queue (routing): the customer's widget stops counting.
            assignee = event.conversation.get("assignee") or {}
            status = {
                "type": "status",
                "conversation_id": scope.conversation_id,
                "conversation_status": scope.status,
                "queue_position": None,
                "expected_wait_seconds": None,
                "assignee": {"name": assignee.get("name")},
            }
            for conn in self._customer_sockets(scope):
                conn.send(status)
        self._to_agents(
            scope,
            {"type": _AGENT_FRAME_TYPES[event.change], "conversation": event.conversation},
            also=event.notify_agent_ids,
        )

    def _conversation_read(self, event: ConversationRead) -> None:
        scope = event.scope
        if event.reader == "agent":
            read = {"type": "read", "conversation_id": scope.conversation_id, "seq": event.seq}
            for conn in self._customer_sockets(scope):
                conn.send(read)
        self._to_agents(
            scope,
            {
                "type": "conversation.read",
                "conversation_id": scope.conversation_id,
                "seq": event.seq,
                "reader": event.reader,
            },
        )

    def _agent_changed(self, event: AgentChanged) -> None:
        """An agent's sockets see as the agent now may, from the next event
        on: a demoted supervisor's watched conversations outside their teams
        go quiet at once. A deactivated agent's sockets close."""
        conns = list(self._agents.get(event.agent_id, ()))
        if not event.active:
            for conn in conns:
                conn.close(POLICY_VIOLATION, DEACTIVATED)
            return
        viewer = Viewer(event.agent_id, Role(event.role), frozenset(event.team_ids))
        for conn in conns:
            conn.viewer = viewer

    def _customers_merged(self, event: CustomersMerged) -> None:
        """A widget socket holds its customer id from the handshake: after a
        merge (or its undo) it would fan out under the wrong customer. Both
        sides' sockets close; the widget reconnects and resumes by seq, with
        its session following the merge (app/auth/widget_sessions.py). An undo
        closes the kept customer's sockets too: which of them were opened with
        the other customer's session, the socket does not know."""
        changed = [event.merged_customer_id]
        if event.undone:
            changed.append(event.kept_customer_id)
        for customer_id in changed:
            for conn in list(self._customers.get(customer_id, ())):
                conn.close(CUSTOMER_CHANGED, "customer merged; reconnect and resume")

    def _customer_erased(self, event: CustomerErased) -> None:
        """The erased customer's widget sockets close (their sessions were
        deleted in the erasure's commit): nothing more is read from them."""
        for customer_id in event.customer_ids:
            self._erased.put(customer_id, True)
            for conn in list(self._customers.get(customer_id, ())):
                conn.close(POLICY_VIOLATION, SESSION_ENDED)

    def _queue_changed(self, event: QueueChanged) -> None:
        """Each waiting customer's place in the queue, to their own sockets of
        that inbox only."""
        for place in event.places:
            sockets = [
                conn
                for conn in self._customers.get(place.customer_id, ())
                if conn.inbox_id == place.inbox_id
            ]
            if not sockets:
                continue
            text = encode(
                {
                    "type": "status",
                    "conversation_id": place.conversation_id,
                    "conversation_status": "open",
                    "queue_position": place.position,
                    "expected_wait_seconds": place.expected_wait_seconds,
                }
            )
            for conn in sockets:
                conn.send_text(text)

    def _availability_changed(self, event: AvailabilityChanged) -> None:
        """Every widget socket of the inbox: open or closed, and until when."""
        text = encode(
            {
                "type": "availability",
                "open": event.open,
                "next_open_at": event.next_open_at,
                "expected_reply_seconds": event.expected_reply_seconds,
                **availability_extension(
                    event.time_zone, event.next_open_text, event.next_open_texts
                ),
            }
        )
        for sockets in self._customers.values():
            for conn in sockets:
                if conn.inbox_id == event.inbox_id:
                    conn.send_text(text)

    def _typing(self, event: Typing) -> None:
        frame = {
            "type": "typing",
            "conversation_id": event.scope.conversation_id,
            "author": {"kind": event.author_kind, "name": event.author_name},
            "on": event.on,
        }
        if event.author_kind == "customer":
            self._to_agents(event.scope, frame)
        else:
            for conn in self._customer_sockets(event.scope):
                conn.send(frame)

    def _customer_sockets(
        self, scope: ConversationScope, exclude: str | None = None
    ) -> list[Connection]:
        # Scoped to the inbox too: a customer known to two sites (after a merge)
        # sees each site's chat only in that site's widget.
        return [
            conn
            for conn in self._customers.get(scope.customer_id, ())
            if conn.inbox_id == scope.inbox_id and conn.id != exclude
        ]

    def _to_agents(
        self, scope: ConversationScope, frame: Frame, also: tuple[int, ...] = ()
    ) -> None:
        recipients = self._agent_recipients(scope, also)
        if recipients:
            text = encode(frame)
            for conn in recipients:
                conn.send_text(text)

    def _agent_recipients(self, scope: ConversationScope, also: tuple[int, ...]) -> set[Connection]:
        recipients: set[Connection] = set()
        if scope.assignee_id is not None:
            recipients.update(self._agents.get(scope.assignee_id, ()))
        elif scope.status != "resolved":
            # Unassigned: offered to every online agent who serves it.
            for agent_id, conns in self._agents.items():
                if not self.presence.is_online(agent_id):
                    continue
                for conn in conns:
                    assert conn.viewer is not None
                    if serves(agent_id, conn.viewer.team_ids, scope):
                        recipients.add(conn)
        for agent_id in also:
            recipients.update(self._agents.get(agent_id, ()))
        for conn in self._watchers.get(scope.conversation_id, ()):
            if conn.viewer is not None and may_see(conn.viewer, scope):
                recipients.add(conn)
        return recipients


HUB: Part[Hub] = Part("hub")
