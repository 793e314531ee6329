"""Files in a chat: a customer's upload from the widget and an agent's from
the console, each stored as a message of its own with the file in the same
commit, and fetched back only by those who may see that message."""

from __future__ import annotations

import functools
from typing import Any

from app.attachments import repository as files_repo
from app.attachments.files import CheckedFile, new_files
from app.auth.widget_sessions import WidgetIdentity
from app.channels.base import InboundMessage, Sender
from app.channels.web.adapter import WebConfig
from app.contacts import repository as customers_repo
from app.conversations import intake
from app.conversations import repository as conversations_repo
from app.conversations.publishing import stored_out
from app.conversations.schemas import customer_files, stored_message_out
from app.conversations.writer import MESSAGE_WRITER, StoredMessage
from app.errors import Forbidden, NotAuthenticated, NotFound
from app.inboxes import repository as inboxes_repo
from app.models import Attachment
from app.runtime import Runtime


async def customer_upload(
    runtime: Runtime,
    who: WidgetIdentity,
    page: tuple[str | None, str | None],
    file: CheckedFile,
    client_id: str,
) -> dict[str, Any]:
    """Stores the customer's file as their message in the chat thread of the
    session's inbox (opening one if needed), like a message from the socket:
    the same `client_id` twice stores one message. Answers like an `ack`,
    with the file as the customer may fetch it. `page`: the request's Origin
    and Host headers."""
    async with runtime.db.read() as session:
        inbox = await inboxes_repo.get(session, who.inbox_id)
        customer = await customers_repo.get(session, who.customer_id)
        if inbox is None or customer is None:
            raise NotAuthenticated("session no longer valid")
        origin, host = page
        if not WebConfig.model_validate(inbox.config).allows_origin(
            origin, host, runtime.settings.public_url
        ):
            raise Forbidden("this page's origin may not embed the widget")
        facts = await intake.inbox_facts(session, inbox)
    stored_files = new_files([file])
    stored = await intake.receive(
        runtime.db,
        runtime[MESSAGE_WRITER],
        facts,
        InboundMessage(
            # The socket's key space: one client_id is one message, by socket or upload.
            external_id=f"web:{who.customer_id}:{client_id}",
            thread_key="",
            sender=Sender(external_id=str(who.customer_id), name=customer.name),
            text=file.label,
        ),
        customer_id=who.customer_id,
        client_id=client_id,
        extra_meta={"attachments": stored_files.meta},
        with_rows=functools.partial(files_repo.write_files, files=stored_files.rows),
    )
    message = await _read_back(runtime, stored) if stored.duplicate else stored_out(stored)
    return {
        "type": "ack",
        "client_id": client_id,
        "id": stored.id,
        "seq": stored.seq,
        "conversation_id": stored.conversation_id,
        "body": message["body"],
        "attachments": customer_files(message.get("attachments")),
    }


async def _read_back(runtime: Runtime, stored: StoredMessage) -> dict[str, Any]:
    """The message as stored: a repeated client_id answers with the first
    upload's file, not the one just dropped as a duplicate."""
    async with runtime.db.read() as session:
        message = await conversations_repo.message(session, stored.id)
    if message is None:
        raise NotFound("no such message")
    return stored_message_out(message, stored.new.channel)


async def agent_answer(runtime: Runtime, stored: StoredMessage) -> dict[str, Any]:
    """The REST shape of an agent's file message."""
    return await _read_back(runtime, stored) if stored.duplicate else stored_out(stored)


async def customer_download(
    runtime: Runtime, who: WidgetIdentity, attachment_id: str
) -> Attachment:
    """A file of a public message in one of the customer's own conversations
    of the session's inbox; anything else is 404, as if it did not exist."""
    async with runtime.db.read() as session:
        found = await files_repo.with_message(session, attachment_id)
        if found is None:
            raise NotFound("no such attachment")
        attachment, message = found
        conversation = await conversations_repo.get(session, message.conversation_id)
    if (
        message.private
        or conversation is None
        or conversation.customer_id != who.customer_id
        or conversation.inbox_id != who.inbox_id
    ):
        raise NotFound("no such attachment")
    return attachment
