"""The frames of the two sockets, as one declarative table.

The sockets parse frames with small checks of their own (app/realtime/frames.py);
this table says what those checks accept and what the server sends. The
sockets take the frame types they serve and the limits they check from here,
and `python -m app.reference_doc` renders docs/reference/websocket.md and
asyncapi.json from it; tests/test_reference_doc.py fails when a socket
handles or sends a frame type this table does not name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.config import Settings
from app.contacts.context import (
    LANGUAGE_MAX_LENGTH,
    PAGE_TITLE_MAX_LENGTH,
    PAGE_URL_MAX_LENGTH,
    TIME_ZONE_MAX_LENGTH,
)
from app.kit.numbers import DB_INT_MAX

Schema = dict[str, Any]

# A client's idempotency key: a UUID fits many times over.
CLIENT_ID_MAX_LENGTH = 100
CSAT_RATING_MAX = 5
CSAT_COMMENT_MAX_LENGTH = 4000
AGENT_STATUSES = ("online", "away", "offline")

_MAX_MESSAGE_CHARS = Settings.model_fields["max_message_chars"].default
_MAX_FRAME_BYTES = Settings.model_fields["ws_max_frame_bytes"].default


def _id(minimum: int = 1) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": DB_INT_MAX}


def _text(max_length: int) -> Schema:
    # The checks of frames.optional_str: not blank, no NUL, no lone surrogate.
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
_AUTHOR: Schema = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["customer", "agent", "system"]},
        "name": {"type": ["string", "null"]},
        "id": {"type": "integer", "description": "the agent's id (agents' frames only)"},
    },
    "required": ["kind", "name"],
}
_CONVERSATION_STATUS: Schema = {"type": "string", "enum": ["open", "snoozed", "resolved"]}


@dataclass(frozen=True, slots=True)
class FrameField:
    name: str
    schema: Schema
    required: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class FrameSpec:
    type: str
    summary: str
    fields: tuple[FrameField, ...] = ()
    answer: str = ""

    def json_schema(self) -> Schema:
        properties: dict[str, Schema] = {"type": {"const": self.type}}
        for f in self.fields:
            properties[f.name] = (
                {**f.schema, "description": f.description} if f.description else f.schema
            )
        return {
            "type": "object",
            "properties": properties,
            "required": ["type", *(f.name for f in self.fields if f.required)],
        }


@dataclass(frozen=True, slots=True)
class CloseCode:
    code: int
    reasons: tuple[str, ...]
    meaning: str


@dataclass(frozen=True, slots=True)
class SocketSpec:
    path: str
    title: str
    authentication: str
    on_connect: str
    client: tuple[FrameSpec, ...]
    server: tuple[FrameSpec, ...]
    close_codes: tuple[CloseCode, ...]
    client_types: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_types", frozenset(f.type for f in self.client))


def _conversation_id(description: str, *, required: bool = True) -> FrameField:
    return FrameField("conversation_id", _id(), required, description)


_PING = FrameSpec("ping", "Application-level liveness.", answer="`pong`")
_PONG = FrameSpec("pong", "The answer to `ping`.")
_ACK_FIELDS = (
    FrameField("client_id", {"type": "string"}, description="the `client_id` of the message"),
    FrameField("id", {"type": "integer"}, description="the stored message's id"),
    FrameField("seq", {"type": "integer"}, description="its place in the conversation"),
    FrameField("conversation_id", {"type": "integer"}),
)
_ERROR = FrameSpec(
    "error",
    "A frame was refused; the socket stays open. `code` is one of `invalid_json`, "
    "`invalid_frame`, `unknown_type`, `rate_limited`, `not_stored` or the code of "
    "the service's own error (`not_found`, `forbidden`, `not_resolved`, "
    "`customer_erased`, `messaging_window_closed`, ...).",
    (
        FrameField("code", {"type": "string"}),
        FrameField("detail", {"type": "string"}, description="for people, not for matching"),
        FrameField(
            "client_id",
            {"type": "string"},
            False,
            "the refused message's `client_id`, when the frame was a message",
        ),
        FrameField(
            "retry_after", {"type": "integer"}, False, "seconds to wait, with `rate_limited`"
        ),
    ),
)
_TYPING_OUT = FrameSpec(
    "typing",
    "Someone on the other side is typing (or stopped).",
    (
        FrameField("conversation_id", {"type": "integer"}),
        FrameField("author", _AUTHOR),
        FrameField("on", {"type": "boolean"}),
    ),
)
_INTEGER = {"type": "integer"}
_OBJECT = {"type": "object"}
_SOCKET_FRAMES_TOO_LARGE = CloseCode(
    1009, (), f"a frame over `MADOGUCHI_WS_MAX_FRAME_BYTES` ({_MAX_FRAME_BYTES} bytes)"
)
_SLOW = CloseCode(
    1013,
    ("too slow; reconnect and resume",),
    "the client did not drain its frames (`MADOGUCHI_WS_MAX_QUEUED_FRAMES`); reconnect and resume",
)
_RESTART = CloseCode(
    1012,
    ("events may have been missed; reconnect and resume",),
    "the event bus lost its link for a while; reconnect (to any process) and resume",
)

WIDGET = SocketSpec(
    path="/ws/widget",
    title="The customer's socket (the web widget)",
    authentication=(
        "`?token=SESSION_TOKEN`: the `session_token` of `POST /api/v1/widget/sessions`. "
        "The `Origin` header must be one of the inbox's `allowed_origins` when it lists "
        "any. A bad or expired token, or a refused origin, closes the handshake with "
        "1008 before any data (HTTP 403)."
    ),
    on_connect="`availability`, then `status`. History comes only in answer to `resume`.",
    client=(
        FrameSpec(
            "message",
            "The customer writes. Stored, then acknowledged.",
            (
                FrameField(
                    "client_id",
                    _text(CLIENT_ID_MAX_LENGTH),
                    description="the customer's idempotency key: sent twice, stored once",
                ),
                FrameField(
                    "body",
                    _text(_MAX_MESSAGE_CHARS),
                    description="at most `MADOGUCHI_MAX_MESSAGE_CHARS` characters",
                ),
            ),
            answer="`ack` once stored, or `error` with the `client_id`",
        ),
        FrameSpec(
            "resume",
            "Replays the conversation's messages after `after_seq`.",
            (
                FrameField("after_seq", _id(0), False, "default 0: the whole history"),
                _conversation_id("default: the session's current conversation", required=False),
            ),
            answer="the `message` frames, then `resumed`",
        ),
        FrameSpec(
            "typing",
            "The customer is typing (or stopped). Ignored before the first message.",
            (FrameField("on", {"type": "boolean", "default": True}, False),),
        ),
        FrameSpec(
            "read",
            "The customer has read up to `seq`.",
            (
                FrameField("seq", _id()),
                _conversation_id("default: the session's current conversation", required=False),
            ),
        ),
        FrameSpec(
            "csat",
            "The customer rates a resolved conversation; a second rating replaces the first.",
            (
                FrameField("rating", {"type": "integer", "minimum": 1, "maximum": CSAT_RATING_MAX}),
                FrameField("comment", _text(CSAT_COMMENT_MAX_LENGTH), False),
                _conversation_id(
                    "default: the customer's latest conversation in this inbox", required=False
                ),
            ),
            answer="`csat`, or `error` (`not_resolved`, `not_found`)",
        ),
        FrameSpec(
            "context",
            "Where the customer is: sent by the widget on each page it opens. Kept on "
            "the customer (the latest only) with the browser named from the socket's "
            "User-Agent and the time it was seen; agents see it as the conversation's "
            "`customer.context`, live by `conversation.updated`. A socket's changes are "
            "stored at most once every 5 seconds, the latest winning; an unchanged "
            "context is not stored again. A field that is not a string, or holds a NUL, "
            "refuses the frame; one that names nothing usable is dropped.",
            (
                FrameField(
                    "page_url",
                    {"type": "string", "maxLength": PAGE_URL_MAX_LENGTH},
                    False,
                    "the page's http(s) URL; any other scheme, or a longer URL, is dropped",
                ),
                FrameField(
                    "page_title",
                    {"type": "string"},
                    False,
                    f"the page's title; cut to {PAGE_TITLE_MAX_LENGTH} characters",
                ),
                FrameField(
                    "language",
                    {"type": "string", "maxLength": LANGUAGE_MAX_LENGTH},
                    False,
                    'the browser\'s BCP 47 language tag ("ja-JP"); a malformed one is dropped',
                ),
                FrameField(
                    "time_zone",
                    {"type": "string", "maxLength": TIME_ZONE_MAX_LENGTH},
                    False,
                    'the browser\'s IANA time zone ("Asia/Tokyo"); an unknown one is dropped',
                ),
            ),
            answer="nothing",
        ),
        _PING,
    ),
    server=(
        FrameSpec(
            "availability",
            "Whether the inbox is open now; on connect and whenever it changes.",
            (
                FrameField("open", {"type": "boolean"}),
                FrameField("next_open_at", _nullable(_TIMESTAMP)),
                FrameField("expected_reply_seconds", _INTEGER),
                FrameField(
                    "time_zone",
                    _nullable({"type": "string"}),
                    description="the inbox's IANA zone; null without business hours",
                ),
                FrameField(
                    "next_open_text",
                    _nullable({"type": "string"}),
                    description="`next_open_at` in the away message's words, e.g. "
                    '"Tuesday 8 December, 09:00 (JST)"',
                ),
                FrameField(
                    "next_open_texts",
                    _nullable({"type": "object", "additionalProperties": {"type": "string"}}),
                    description='the same in each language the responders speak: {"en", "ja"}',
                ),
            ),
        ),
        FrameSpec(
            "status",
            "The customer's conversation: on connect, when it opens, is resolved or "
            "reopened, when its place in the queue changes, and when it is assigned.",
            (
                FrameField("conversation_id", _nullable(_INTEGER), description="null before one"),
                FrameField("conversation_status", _nullable(_CONVERSATION_STATUS)),
                FrameField(
                    "agent_read_seq", _nullable(_INTEGER), False, "on connect: agents' read mark"
                ),
                FrameField("queue_position", _nullable(_INTEGER), False, "while waiting"),
                FrameField("expected_wait_seconds", _nullable(_INTEGER), False, "while waiting"),
                FrameField(
                    "assignee",
                    {"type": "object", "properties": {"name": {"type": ["string", "null"]}}},
                    False,
                    "once assigned",
                ),
            ),
        ),
        FrameSpec(
            "message",
            "A message of the conversation: live (not to the socket that sent it, which "
            "gets `ack`), or replayed by `resume`. Private notes never.",
            (
                FrameField("conversation_id", _INTEGER),
                FrameField("seq", _INTEGER),
                FrameField("id", _INTEGER),
                FrameField("client_id", {"type": "string"}, False),
                FrameField("author", _AUTHOR),
                FrameField("body", {"type": "string"}),
                FrameField("created_at", _TIMESTAMP),
                FrameField("sent_at", _TIMESTAMP),
                FrameField(
                    "attachments",
                    {"type": "array", "items": _OBJECT},
                    False,
                    '`[{"id", "filename", "content_type", "size", "url"}]`',
                ),
            ),
        ),
        FrameSpec("ack", "The customer's message is stored.", _ACK_FIELDS),
        FrameSpec(
            "resumed",
            "The replay of `resume` is over; live messages follow.",
            (
                FrameField("conversation_id", _nullable(_INTEGER)),
                FrameField("last_seq", _INTEGER),
            ),
        ),
        _TYPING_OUT,
        FrameSpec(
            "read",
            "Agents have read the conversation up to `seq`.",
            (FrameField("conversation_id", _INTEGER), FrameField("seq", _INTEGER)),
        ),
        FrameSpec(
            "csat",
            "The rating is stored.",
            (FrameField("conversation_id", _INTEGER), FrameField("rating", _INTEGER)),
        ),
        FrameSpec(
            "csat_request",
            "The conversation was resolved: the widget asks for a rating.",
            (FrameField("conversation_id", _INTEGER),),
        ),
        _PONG,
        _ERROR,
    ),
    close_codes=(
        CloseCode(
            1008,
            (
                "invalid session token",
                "session no longer valid",
                "origin not allowed",
                "the session ended: the customer's data was erased",
            ),
            "refused or ended: do not reconnect with this session",
        ),
        _SOCKET_FRAMES_TOO_LARGE,
        _RESTART,
        CloseCode(
            1013,
            (*_SLOW.reasons, "too many sockets for this session"),
            f"{_SLOW.meaning}; or more than `MADOGUCHI_WIDGET_MAX_SOCKETS_PER_SESSION` "
            "sockets of one session in a process",
        ),
        CloseCode(
            4001,
            ("customer merged; reconnect and resume",),
            "the customer was merged (or a merge undone): reconnect at once and resume",
        ),
    ),
)

AGENT = SocketSpec(
    path="/ws/agent",
    title="An agent's console socket",
    authentication=(
        "`?token=ACCESS_TOKEN`: the `access_token` of `POST /api/v1/auth/token`. An "
        "`Origin` header, when sent, must be the server's own (from `Host`) or "
        "`MADOGUCHI_PUBLIC_URL`. A bad token or origin closes the handshake with 1008 "
        "(HTTP 403). An open socket makes the agent online (unless they chose away)."
    ),
    on_connect="`hello`.",
    client=(
        FrameSpec(
            "message",
            "A reply, or a private note, on the conversation's own channel.",
            (
                FrameField("conversation_id", _id()),
                FrameField(
                    "client_id",
                    _text(CLIENT_ID_MAX_LENGTH),
                    description="the agent's idempotency key",
                ),
                FrameField(
                    "body",
                    _text(_MAX_MESSAGE_CHARS),
                    description="at most `MADOGUCHI_MAX_MESSAGE_CHARS` characters",
                ),
                FrameField("private", {"type": "boolean", "default": False}, False),
            ),
            answer="`ack`, or `error` with the `client_id`",
        ),
        FrameSpec(
            "presence",
            "The agent chooses a status.",
            (FrameField("status", {"type": "string", "enum": list(AGENT_STATUSES)}),),
            answer="`presence`",
        ),
        FrameSpec(
            "read",
            "The agents' read mark (forward only).",
            (FrameField("conversation_id", _id()), FrameField("seq", _id())),
        ),
        FrameSpec(
            "typing",
            "The agent is typing (or stopped); the customer's widget is told.",
            (
                FrameField("conversation_id", _id()),
                FrameField("on", {"type": "boolean", "default": True}, False),
            ),
        ),
        FrameSpec(
            "watch",
            "Follow a conversation the agent may see.",
            (FrameField("conversation_id", _id()),),
            answer="`watch`",
        ),
        FrameSpec(
            "unwatch",
            "Stop following it.",
            (FrameField("conversation_id", _id()),),
            answer="`unwatch`",
        ),
        _PING,
    ),
    server=(
        FrameSpec(
            "hello",
            "On connect: who the socket is for, and their presence.",
            (
                FrameField(
                    "agent",
                    {
                        "type": "object",
                        "properties": {
                            "id": _INTEGER,
                            "name": {"type": "string"},
                            "role": {"type": "string"},
                        },
                    },
                ),
                FrameField("status", {"type": "string", "enum": list(AGENT_STATUSES)}),
            ),
        ),
        FrameSpec("ack", "The agent's message is stored.", _ACK_FIELDS),
        FrameSpec(
            "presence",
            "The agent's presence now.",
            (FrameField("status", {"type": "string", "enum": list(AGENT_STATUSES)}),),
        ),
        FrameSpec("watch", "Now following.", (FrameField("conversation_id", _INTEGER),)),
        FrameSpec("unwatch", "No longer following.", (FrameField("conversation_id", _INTEGER),)),
        FrameSpec(
            "message.created",
            "A message was stored: to the assignee, to every online agent serving an "
            "unassigned conversation, and to watchers.",
            (
                FrameField("conversation_id", _INTEGER),
                FrameField("message", _OBJECT, description="the message as REST answers it"),
            ),
        ),
        FrameSpec(
            "message.updated",
            "An outbound message's `delivery_status` changed.",
            (
                FrameField("conversation_id", _INTEGER),
                FrameField("message", _OBJECT, description="the message as REST answers it"),
            ),
        ),
        FrameSpec(
            "conversation.assigned",
            "The conversation was assigned or transferred.",
            (FrameField("conversation", _OBJECT, description="as REST answers it"),),
        ),
        FrameSpec(
            "conversation.updated",
            "The conversation was opened, resolved, reopened or otherwise changed; "
            "also when its customer's `context` changed (the widget's `context` frame).",
            (FrameField("conversation", _OBJECT, description="as REST answers it"),),
        ),
        FrameSpec(
            "conversation.read",
            "The customer (or an agent) read the conversation up to `seq`.",
            (
                FrameField("conversation_id", _INTEGER),
                FrameField("seq", _INTEGER),
                FrameField("reader", {"type": "string", "enum": ["customer", "agent"]}),
            ),
        ),
        _TYPING_OUT,
        *(
            FrameSpec(
                kind,
                f"An SLA target's {phase} fired.",
                (
                    FrameField("conversation_id", _INTEGER),
                    FrameField(
                        "target",
                        {
                            "type": "string",
                            "enum": ["first_response", "next_response", "resolution"],
                        },
                    ),
                    FrameField("started_at", _TIMESTAMP),
                    FrameField("due_at", _TIMESTAMP),
                ),
            )
            for kind, phase in (("sla.warning", "warning"), ("sla.breached", "breach"))
        ),
        _PONG,
        _ERROR,
    ),
    close_codes=(
        CloseCode(
            1008,
            (
                "invalid access token",
                "origin not allowed",
                "account deactivated",
                "logged out",
                "password changed",
                "password reset",
                "session ended",
            ),
            "refused, or the session ended (logout, password change, deactivation): sign "
            "in again rather than reconnect",
        ),
        _SOCKET_FRAMES_TOO_LARGE,
        _RESTART,
        _SLOW,
    ),
)

SOCKETS = (WIDGET, AGENT)
