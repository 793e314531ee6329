"""Uploads and downloads of chat files. The file is the raw request body (its
type in Content-Type, its name in `?filename=`), so the widget posts a File
as it is; every download is a file to save, never a page of our origin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from app.attachments import service as attachments
from app.attachments.downloads import file_response
from app.attachments.files import CheckedFile, PayloadTooLarge, check_file
from app.auth.dependencies import CurrentAgent, WidgetSession
from app.conversations import service as conversations
from app.conversations.writer import MESSAGE_WRITER
from app.errors import AppError
from app.kit.client_key import rate_key_of
from app.kit.numbers import DbId
from app.kit.text import Storable
from app.runtime import Runtime, RuntimeDep, client_address

router = APIRouter(prefix="/api/v1", tags=["attachments"])

Filename = Annotated[str, Query(min_length=1, max_length=1000), Storable]
ClientId = Annotated[str, Query(min_length=1, max_length=100), Storable]
AttachmentId = Annotated[str, Path(min_length=1, max_length=64)]


def _declared_size(request: Request, runtime: Runtime) -> int | None:
    """The body's Content-Length, refused at once past the largest file."""
    limit = runtime.settings.attachment_max_bytes
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    if int(declared) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes")
    return int(declared)


async def _upload(request: Request, runtime: Runtime, filename: str) -> CheckedFile:
    _declared_size(request, runtime)
    content = await request.body()
    return check_file(
        content,
        filename,
        request.headers.get("content-type"),
        runtime.settings.attachment_max_bytes,
    )


@router.post("/widget/attachments", status_code=201)
async def upload_customer_file(
    request: Request,
    customer: WidgetSession,
    runtime: RuntimeDep,
    filename: Filename,
    client_id: ClientId,
) -> dict[str, Any]:
    """The customer's file, as a message of theirs in the current chat.
    Anonymous: besides the session's message limit, each client address
    (IPv6 by /64) has a budget of bytes per hour, since new sessions are cheap."""
    runtime.limits.widget_messages.hit(f"session:{customer.session_id}")
    budget = runtime.limits.widget_upload_bytes
    client_key = rate_key_of(client_address(request))
    declared = _declared_size(request, runtime)
    # Refused before the body is read, when its declared size would not fit.
    budget.check(client_key, declared or 0)
    file = await _upload(request, runtime, filename)
    # Counted before the file is stored, so parallel uploads cannot all fit
    # in one remainder; given back if it is not stored after all.
    spent = await budget.take(client_key, len(file.content))
    try:
        return await attachments.customer_upload(
            runtime, customer, request.headers.get("origin"), file, client_id
        )
    except AppError:
        # Refused (origin, session, erasure): nothing was stored. Anything
        # else may have been, and stays counted.
        await budget.give_back(spent)
        raise


@router.get("/widget/attachments/{attachment_id}")
async def download_customer_file(
    attachment_id: AttachmentId, customer: WidgetSession, runtime: RuntimeDep
) -> Response:
    return file_response(await attachments.customer_download(runtime, customer, attachment_id))


@router.post("/conversations/{conversation_id}/attachments", status_code=201)
async def upload_agent_file(
    conversation_id: DbId,
    request: Request,
    agent: CurrentAgent,
    runtime: RuntimeDep,
    filename: Filename,
    client_id: ClientId | None = None,
    private: bool = False,
) -> dict[str, Any]:
    """An agent's file: to the customer in the widget, or kept as a private note."""
    file = await _upload(request, runtime, filename)
    stored = await conversations.post_agent_message(
        runtime.db,
        runtime[MESSAGE_WRITER],
        runtime.channels,
        agent,
        conversation_id,
        body=file.label,
        private=private,
        client_id=client_id,
        follow_up_seconds=runtime.settings.widget_email_follow_up_seconds,
        files=(file,),
    )
    return await attachments.agent_answer(runtime, stored)
