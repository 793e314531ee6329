"""Uploads and downloads of chat files. The file is the raw request body (its
type in Content-Type, its name in `?filename=`), so the widget posts a File
as it is; every download is a file to save, never a page of our origin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from app.attachments import service as attachments
from app.attachments.downloads import SHOWN_AS_IS, file_response
from app.attachments.files import ACCEPTED, CheckedFile, PayloadTooLarge, check_file
from app.auth.dependencies import CurrentAgent, WidgetSession
from app.conversations import service as conversations
from app.conversations.schemas import FileAck, MessageOut, refused
from app.conversations.writer import MESSAGE_WRITER
from app.errors import AppError
from app.kit.api_schema import NoNul, errors
from app.kit.client_key import rate_key_of
from app.kit.numbers import DbId
from app.kit.text import Storable
from app.runtime import Runtime, RuntimeDep, client_address

router = APIRouter(prefix="/api/v1", tags=["attachments"])

Filename = Annotated[str, Query(min_length=1, max_length=1000), Storable, NoNul]
ClientId = Annotated[str, Query(min_length=1, max_length=100), Storable, NoNul]
AttachmentId = Annotated[str, Path(min_length=1, max_length=64)]

# The file is the body itself, of one of the kinds taken; its kind is read
# from its first bytes, not from Content-Type.
_TEXT = {"minLength": 1, "pattern": "^[^\\u0000<][^\\u0000]*$"}
FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"the file's bytes: {ACCEPTED}. Not empty; text is UTF-8 without"
        " NUL and not HTML, SVG or XML.",
        "content": {
            "text/plain": {"schema": _TEXT},
            "text/csv": {"schema": _TEXT},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary", "minLength": 1},
            },
        },
    }
}
FILE_REFUSED: dict[int | str, dict[str, Any]] = {
    413: refused(413, "the file is larger than the server's limit"),
    415: refused(415, f"not a kind of file taken: {ACCEPTED}"),
    422: refused(422, "the file is empty"),
}
# A download is the file's bytes, as a file to save: these types, else bytes.
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file, as an attachment (`Content-Disposition`)",
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in sorted(SHOWN_AS_IS | {"application/octet-stream"})
        },
    },
}


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


@router.post(
    "/widget/attachments",
    status_code=201,
    response_model=FileAck,
    openapi_extra=FILE_BODY,
    responses={**FILE_REFUSED, **errors(403, 429)},
)
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
            runtime,
            customer,
            (request.headers.get("origin"), request.headers.get("host")),
            file,
            client_id,
        )
    except AppError:
        # Refused (origin, session, erasure): nothing was stored. Anything
        # else may have been, and stays counted.
        await budget.give_back(spent)
        raise


@router.get(
    "/widget/attachments/{attachment_id}",
    response_class=Response,
    responses={**DOWNLOAD, **errors(404)},
)
async def download_customer_file(
    attachment_id: AttachmentId, customer: WidgetSession, runtime: RuntimeDep
) -> Response:
    return file_response(await attachments.customer_download(runtime, customer, attachment_id))


@router.post(
    "/conversations/{conversation_id}/attachments",
    status_code=201,
    response_model=MessageOut,
    response_model_exclude_unset=True,
    openapi_extra=FILE_BODY,
    responses={
        **FILE_REFUSED,
        **errors(404),
        409: refused(409, "the customer was erased"),
        422: refused(
            422, "the file is empty, or the conversation's channel cannot carry files now"
        ),
    },
)
async def upload_agent_file(
    conversation_id: DbId,
    request: Request,
    agent: CurrentAgent,
    runtime: RuntimeDep,
    filename: Filename,
    client_id: ClientId | None = None,
    private: Annotated[
        bool, Query(description="a private note, never sent to the customer")
    ] = False,
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
