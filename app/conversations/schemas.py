"""Request bodies, and the one shape of a message and a conversation on every wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from app.agents.schemas import Label
from app.kit.api_schema import ERROR_DESCRIPTIONS, ErrorBody, Integer, NoNul
from app.kit.numbers import DB_INT_MAX
from app.kit.text import Storable
from app.models import Agent, Conversation, CsatResponse, Customer, Inbox, Message

Body = Annotated[str, StringConstraints(min_length=1, max_length=16_000), Storable, NoNul]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=100), Storable, NoNul]
Note = Annotated[str, StringConstraints(max_length=4000), Storable, NoNul]

# Integer's check after the bounds: in `Annotated[Integer, Field(ge=1)]` the
# schema would state them as "ge", a keyword JSON Schema does not know.
JSON_INTEGER = get_args(Integer)[1]
StrictDbId = Annotated[int, Field(ge=1, le=DB_INT_MAX), JSON_INTEGER]
StrictDbSeq = Annotated[int, Field(ge=0, le=DB_INT_MAX), JSON_INTEGER]


class ReplyCreate(BaseModel):
    body: Body
    private: StrictBool = False
    client_id: ClientId | None = None


class ReadRequest(BaseModel):
    seq: StrictDbSeq


class AssignRequest(BaseModel):
    agent_id: StrictDbId | None


class TransferRequest(BaseModel):
    """To an agent or to a team: exactly one of `agent_id` and `team` is given
    (not null); both or neither is a 422."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["agent_id"], "properties": {"agent_id": {"type": "integer"}}},
                {"required": ["team"], "properties": {"team": {"type": "string"}}},
            ]
        }
    )

    agent_id: StrictDbId | None = None
    team: Label | None = None
    note: Note | None = None


Status = Literal["open", "snoozed", "resolved"]


def refused(status: int, why: str) -> dict[str, Any]:
    """One entry of `responses=`: the error body, and when this route answers it."""
    return {"model": ErrorBody, "description": f"{ERROR_DESCRIPTIONS[status]}: {why}"}


# -- answers -------------------------------------------------------------------

Timestamp = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, description="ISO 8601 with an offset")
]


class Out(BaseModel):
    """An answer's shape. A field that is not always there has a default and
    the routes answer with `response_model_exclude_unset`, so it is left out
    rather than sent as null."""

    model_config = ConfigDict(extra="forbid")


class Author(Out):
    kind: Literal["customer", "agent", "system"]
    name: str | None
    id: int | None = Field(default=None, description="the agent's id, for agents only")


class MessageFile(Out):
    """A file that came with a message (agents download it at `url`; null when
    the channel's file was not kept)."""

    id: str | None = Field(default=None, description="present when the file is stored with us")
    filename: str
    content_type: str
    size: int
    url: str | None


class MessageOut(Out):
    """A message as agents see it: the widget's `message` frame plus `private`
    and `channel`."""

    conversation_id: int
    seq: int
    id: int
    client_id: str | None = None
    author: Author
    body: str
    created_at: Timestamp
    sent_at: Timestamp
    private: bool
    channel: str
    delivery_status: str | None = None
    delivery_error: str | None = None
    attachments: list[MessageFile] | None = None
    flags: list[str] | None = None


class MessagePage(Out):
    items: list[MessageOut]
    next_cursor: str | None


class CustomerFile(Out):
    """A file of a message as the customer fetches it with their widget session."""

    id: str
    filename: str | None
    content_type: str | None
    size: int | None
    url: str


class CustomerMessage(Out):
    """A message in the widget's history: the `message` frame without `type`."""

    conversation_id: int
    seq: int
    id: int
    client_id: str | None = None
    author: Author
    body: str
    created_at: Timestamp
    sent_at: Timestamp
    attachments: list[CustomerFile] | None = None


class CustomerMessagePage(Out):
    items: list[CustomerMessage]
    next_cursor: str | None


class AssigneeName(Out):
    name: str


class CustomerConversation(Out):
    id: int
    status: Status
    last_seq: int
    created_at: Timestamp
    assignee: AssigneeName | None


class CustomerConversationPage(Out):
    items: list[CustomerConversation]
    next_cursor: str | None


class CustomerContext(Out):
    """Where the customer's widget last was (the `context` frame), as of `seen_at`."""

    page_url: str | None = Field(description="an http(s) URL, as the widget reported it")
    page_title: str | None
    browser: str | None = Field(description='from the User-Agent, e.g. "Chrome 131 on macOS"')
    language: str | None = Field(description="the browser's BCP 47 language tag")
    time_zone: str | None = Field(description="the browser's IANA time zone")
    seen_at: Timestamp


class CustomerRef(Out):
    id: int
    name: str | None
    email: str | None
    context: CustomerContext | None = Field(
        description="the page, browser, language and time zone the customer's widget "
        "last reported; null before any"
    )


class AgentRef(Out):
    id: int
    name: str
    role: Literal["agent", "supervisor", "admin"]


class ConversationOut(Out):
    id: int
    inbox_id: int
    channel: str
    status: Status
    subject: str | None
    customer_id: int
    customer: CustomerRef
    assignee_id: int | None
    assignee: AgentRef | None
    last_seq: int
    customer_last_read_seq: int
    agent_last_read_seq: int
    created_at: Timestamp
    updated_at: Timestamp
    last_message_at: Timestamp | None
    resolved_at: Timestamp | None
    promised_reply_by: Timestamp | None
    promise_outcome: Literal["kept", "missed"] | None


class MessagePreview(Out):
    seq: int
    author: Author
    body: str = Field(description="the first 140 characters")
    private: bool
    created_at: Timestamp


class ConversationRow(ConversationOut):
    last_message: MessagePreview | None = Field(
        description="the newest message the customer or an agent wrote (automatic"
        " replies and system notes are passed over), else the newest message"
    )


class ConversationPage(Out):
    items: list[ConversationRow]
    next_cursor: str | None


class Csat(Out):
    rating: int = Field(ge=1, le=5)
    comment: str | None
    created_at: Timestamp | None


class ConversationDetail(ConversationOut):
    csat: Csat | None


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def author_of(kind: str, name: str | None, agent_id: int | None) -> dict[str, Any]:
    author: dict[str, Any] = {"kind": kind, "name": name}
    if agent_id is not None:
        author["id"] = agent_id
    return author


def message_out(
    *,
    message_id: int,
    conversation_id: int,
    seq: int,
    client_id: str | None,
    author_kind: str,
    author_name: str | None,
    author_agent_id: int | None,
    body: str,
    created_at: datetime,
    private: bool,
    channel: str,
    delivery_status: str | None,
    delivery_error: str | None,
    sent_at: datetime | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message as agents see it (REST, `message.created`); `customer_view`
    takes what the customer may see of it."""
    out: dict[str, Any] = {
        "conversation_id": conversation_id,
        "seq": seq,
        "id": message_id,
        "author": author_of(author_kind, author_name, author_agent_id),
        "body": body,
        "created_at": created_at.isoformat(),
        # When the customer sent it by the platform's clock (a late retry is
        # stored after later messages but keeps its time); else created_at.
        "sent_at": (sent_at or created_at).isoformat(),
        "private": private,
        "channel": channel,
    }
    if client_id is not None:
        out["client_id"] = client_id
    if delivery_status is not None:
        out["delivery_status"] = delivery_status
        if delivery_error is not None:
            out["delivery_error"] = delivery_error
    if meta:
        # What a channel found about an inbound message: its files (downloads
        # for agents) and flags such as "automatic" or "unverified_sender".
        if meta.get("attachments"):
            out["attachments"] = meta["attachments"]
        if meta.get("flags"):
            out["flags"] = meta["flags"]
    return out


# Fields of a message that only agents see.
AGENT_ONLY = ("private", "channel", "delivery_status", "delivery_error", "attachments", "flags")


def customer_view(message: dict[str, Any]) -> dict[str, Any]:
    """The widget's `message` frame of a message in its agent shape."""
    frame = {"type": "message", **message}
    for key in AGENT_ONLY:
        frame.pop(key, None)
    files = customer_files(message.get("attachments"))
    if files:
        frame["attachments"] = files
    return frame


def customer_files(attachments: Any) -> list[dict[str, Any]]:
    """The files of a message the customer may fetch with their widget session:
    those stored with us (an `id`), each under the widget's own download path."""
    return [
        {
            "id": a["id"],
            "filename": a.get("filename"),
            "content_type": a.get("content_type"),
            "size": a.get("size"),
            "url": f"/api/v1/widget/attachments/{a['id']}",
        }
        for a in attachments or ()
        if isinstance(a, dict) and a.get("id")
    ]


def stored_message_out(message: Message, channel: str) -> dict[str, Any]:
    return message_out(
        message_id=message.id,
        conversation_id=message.conversation_id,
        seq=message.seq,
        client_id=message.client_id,
        author_kind=message.author_kind,
        author_name=message.author_name,
        author_agent_id=message.author_agent_id,
        body=message.body,
        created_at=message.created_at,
        private=message.private,
        channel=channel,
        delivery_status=message.delivery_status,
        delivery_error=message.delivery_error,
        sent_at=message.sent_at,
        meta=message.meta,
    )


CONTEXT_KEYS = ("page_url", "page_title", "browser", "language", "time_zone", "seen_at")


def context_out(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The customer's context as agents get it: every key, null when unknown."""
    if not stored:
        return None
    return {key: stored.get(key) for key in CONTEXT_KEYS}


def customer_ref(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "context": context_out(customer.last_context),
    }


def agent_ref(agent: Agent | None) -> dict[str, Any] | None:
    if agent is None:
        return None
    return {"id": agent.id, "name": agent.name, "role": agent.role}


def conversation_out(
    conversation: Conversation, inbox: Inbox, customer: Customer, assignee: Agent | None
) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "inbox_id": conversation.inbox_id,
        "channel": inbox.channel,
        "status": conversation.status,
        "subject": conversation.subject,
        "customer_id": conversation.customer_id,
        "customer": customer_ref(customer),
        "assignee_id": conversation.assignee_id,
        "assignee": agent_ref(assignee),
        "last_seq": conversation.last_seq,
        "customer_last_read_seq": conversation.customer_last_read_seq,
        "agent_last_read_seq": conversation.agent_last_read_seq,
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
        "last_message_at": iso(conversation.last_message_at),
        "resolved_at": iso(conversation.resolved_at),
        # The first human reply promised by (an acknowledgement or away
        # message said so), and once it came: "kept" or "missed".
        "promised_reply_by": iso(conversation.promised_reply_by),
        "promise_outcome": conversation.promise_outcome,
    }


# A list row's preview of the newest message: enough to recognise it.
PREVIEW_CHARS = 140


def preview_out(message: Message | None) -> dict[str, Any] | None:
    if message is None:
        return None
    return {
        "seq": message.seq,
        "author": author_of(message.author_kind, message.author_name, message.author_agent_id),
        "body": message.body[:PREVIEW_CHARS],
        "private": message.private,
        "created_at": message.created_at.isoformat(),
    }


def csat_out(csat: CsatResponse | None) -> dict[str, Any] | None:
    if csat is None:
        return None
    return {"rating": csat.rating, "comment": csat.comment, "created_at": iso(csat.created_at)}


class FileAck(Out):
    """The customer's file stored as their message: the widget's `ack` with the
    message's text and the file as the customer may fetch it."""

    type: Literal["ack"]
    client_id: str
    id: int
    seq: int
    conversation_id: int
    body: str
    attachments: list[CustomerFile]
