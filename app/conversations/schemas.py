"""Request bodies, and the one shape of a message and a conversation on every wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints

from app.agents.schemas import Label
from app.kit.numbers import DbId, DbSeq
from app.kit.text import Storable
from app.models import Agent, Conversation, CsatResponse, Customer, Inbox, Message

Body = Annotated[str, StringConstraints(min_length=1, max_length=16_000), Storable]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=100), Storable]
Note = Annotated[str, StringConstraints(max_length=4000), Storable]


class ReplyCreate(BaseModel):
    body: Body
    private: bool = False
    client_id: ClientId | None = None


class ReadRequest(BaseModel):
    seq: DbSeq


class AssignRequest(BaseModel):
    agent_id: DbId | None


class TransferRequest(BaseModel):
    agent_id: DbId | None = None
    team: Label | None = None
    note: Note | None = None


Status = Literal["open", "snoozed", "resolved"]


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


def customer_ref(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "name": customer.name, "email": customer.email}


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
