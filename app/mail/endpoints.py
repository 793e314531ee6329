"""What agents may fetch of an inbound mail: its files, its whole text and
sanitised HTML, and the raw message. Each answer asks the one visibility
rule first: an agent who may not see the conversation gets 404."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.attachments.downloads import DOWNLOAD_HEADERS, disposition, file_response
from app.attachments.endpoints import DOWNLOAD
from app.auth.dependencies import CurrentAgent
from app.channels.email.quoting import split_quoted
from app.conversations import access
from app.conversations import repository as conversations_repo
from app.conversations.schemas import MessageFile, Out, refused
from app.conversations.service import visible_conversation
from app.errors import NotFound
from app.kit.api_schema import errors
from app.kit.numbers import DbId
from app.mail import repository as mail_repo
from app.models import Agent, Message
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["email"])

# Attachment ids are 32 hex digits; anything longer is nobody's.
AttachmentId = Annotated[str, Path(min_length=1, max_length=64)]
NOT_BY_EMAIL = refused(404, "no such message, or one that did not come by email")


class MailOfMessage(Out):
    message_id: int
    headers: dict[str, str] = Field(description="the mail's headers that are kept, by name")
    text: str = Field(description="the whole text, quoted history included")
    quoted_text: str | None
    html: str | None = Field(description="the HTML part, made safe")
    received_via: Literal["smtp", "imap"]
    attachments: list[MessageFile]
    flags: list[str]
    authentication: str | None = Field(
        description='what SPF, DKIM and DMARC said, e.g. "spf=pass dkim=none dmarc=fail (p=reject)"'
    )
    raw_url: str


async def _visible_message(session: AsyncSession, agent: Agent, message_id: int) -> Message:
    message = await conversations_repo.message(session, message_id)
    if message is None:
        raise NotFound("no such message")
    viewer = await access.viewer_of(session, agent)
    try:
        await visible_conversation(session, viewer, message.conversation_id)
    except NotFound as exc:
        raise NotFound("no such message") from exc
    return message


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={**DOWNLOAD, **errors(404)},
)
async def download_attachment(
    attachment_id: AttachmentId, agent: CurrentAgent, runtime: RuntimeDep
) -> Response:
    async with runtime.db.read() as session:
        found = await mail_repo.attachment(session, attachment_id)
        if found is None:
            raise NotFound("no such attachment")
        try:
            await _visible_message(session, agent, found.message_id)
        except NotFound as exc:
            raise NotFound("no such attachment") from exc
    return file_response(found)


@router.get(
    "/messages/{message_id}/email",
    response_model=MailOfMessage,
    response_model_exclude_unset=True,
    responses={404: NOT_BY_EMAIL},
)
async def email_of_message(
    message_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    """The mail behind a message: its headers, the whole text (the message's
    body is the new part), the quoted history, and the HTML made safe."""
    async with runtime.db.read() as session:
        message = await _visible_message(session, agent, message_id)
        source = await mail_repo.mail_source(session, message_id)
    if source is None:
        raise NotFound("this message did not come by email")
    _, quoted = split_quoted(source.text)
    return {
        "message_id": message.id,
        "headers": source.headers,
        "text": source.text,
        "quoted_text": quoted or None,
        "html": source.html,
        "received_via": source.received_via,
        "attachments": (message.meta or {}).get("attachments", []),
        "flags": (message.meta or {}).get("flags", []),
        # What SPF, DKIM and DMARC said of the sender ("spf=pass dkim=none dmarc=fail (p=reject)").
        "authentication": (message.meta or {}).get("authentication"),
        "raw_url": f"/api/v1/messages/{message.id}/raw",
    }


@router.get(
    "/messages/{message_id}/raw",
    response_class=Response,
    responses={
        200: {
            "description": "the mail as it arrived (a `.eml` file to save)",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        404: NOT_BY_EMAIL,
    },
)
async def raw_mail(message_id: DbId, agent: CurrentAgent, runtime: RuntimeDep) -> Response:
    """The mail exactly as it arrived, as a file to save (never shown inline)."""
    async with runtime.db.read() as session:
        await _visible_message(session, agent, message_id)
        source = await mail_repo.mail_source(session, message_id)
    if source is None:
        raise NotFound("this message did not come by email")
    return Response(
        source.raw,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": disposition(f"message-{message_id}.eml"),
            **DOWNLOAD_HEADERS,
        },
    )
