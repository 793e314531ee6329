from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.auth.dependencies import CurrentAgent
from app.conversations import access, publishing
from app.conversations import repository as conversations_repo
from app.conversations import service as conversations
from app.conversations.schemas import (
    AssignRequest,
    ConversationDetail,
    ConversationOut,
    ConversationPage,
    MessageOut,
    MessagePage,
    ReadRequest,
    ReplyCreate,
    Status,
    TransferRequest,
    conversation_out,
    preview_out,
    refused,
)
from app.conversations.writer import MESSAGE_WRITER
from app.errors import InvalidRequest
from app.kit.api_schema import errors
from app.kit.numbers import DB_INT_PATTERN, DbId, DbSeq, parse_db_int
from app.kit.pagination import PageDep
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])

Assignee = Annotated[
    str | None,
    Query(
        pattern=f"^(|me|none|{DB_INT_PATTERN})$",
        description="`me`, `none` (unassigned) or an agent's id; empty or left out: anyone",
    ),
]
CURSOR_REFUSED = refused(422, "a `cursor` that is not a `next_cursor` this server gave out")
# What every agent route on one conversation can answer.
NO_CONVERSATION = errors(404)


@router.get(
    "",
    response_model=ConversationPage,
    response_model_exclude_unset=True,
    responses={422: CURSOR_REFUSED},
)
async def list_conversations(
    agent: CurrentAgent,
    runtime: RuntimeDep,
    page: PageDep,
    status: Status | None = None,
    assignee: Assignee = None,
    inbox_id: DbId | None = None,
) -> dict[str, Any]:
    assignee_filter: int | str | None
    if assignee in (None, ""):
        assignee_filter = None
    elif assignee == "me":
        assignee_filter = agent.id
    elif assignee == "none":
        assignee_filter = "none"
    elif (assignee_id := parse_db_int(assignee)) is not None:
        assignee_filter = assignee_id
    else:
        raise InvalidRequest("assignee is me, none or an agent id")
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        rows = await conversations_repo.list_page(
            session,
            statuses=(status,) if status else ("open", "snoozed"),
            assignee=assignee_filter,
            inbox_id=inbox_id,
            visible=access.visible_filter(viewer),
            customer_id=None,
            before_id=page.cursor,
            limit=page.limit,
        )
        last = await conversations_repo.last_messages(session, [row[0].id for row in rows])
    cursor = str(rows[-1][0].id) if len(rows) == page.limit else None
    items = [
        {**conversation_out(*row), "last_message": preview_out(last.get(row[0].id))} for row in rows
    ]
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    response_model_exclude_unset=True,
    responses=NO_CONVERSATION,
)
async def get_conversation(
    conversation_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    return await conversations.get_conversation(runtime.db, agent, conversation_id)


@router.get(
    "/{conversation_id}/messages",
    response_model=MessagePage,
    response_model_exclude_unset=True,
    responses={**NO_CONVERSATION, 422: CURSOR_REFUSED},
)
async def list_messages(
    conversation_id: DbId,
    agent: CurrentAgent,
    runtime: RuntimeDep,
    page: PageDep,
    after_seq: DbSeq = 0,
) -> dict[str, Any]:
    items, last = await conversations.messages(
        runtime.db, agent, conversation_id, max(after_seq, page.cursor or 0), page.limit
    )
    return {"items": items, "next_cursor": str(last) if last is not None else None}


@router.post(
    "/{conversation_id}/messages",
    status_code=201,
    response_model=MessageOut,
    response_model_exclude_unset=True,
    responses={
        **NO_CONVERSATION,
        409: refused(409, "the customer was erased"),
        422: refused(
            422,
            "the channel cannot carry it now (a platform's reply window closed, a web"
            " chat's customer is away and has no email, files on a channel without them)",
        ),
    },
)
async def reply(
    conversation_id: DbId, body: ReplyCreate, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    stored = await conversations.post_agent_message(
        runtime.db,
        runtime[MESSAGE_WRITER],
        runtime.channels,
        agent,
        conversation_id,
        body=body.body,
        private=body.private,
        client_id=body.client_id,
        follow_up_seconds=runtime.settings.widget_email_follow_up_seconds,
    )
    return publishing.stored_out(stored)


@router.post("/{conversation_id}/read", status_code=204, responses=NO_CONVERSATION)
async def read(
    conversation_id: DbId, body: ReadRequest, agent: CurrentAgent, runtime: RuntimeDep
) -> None:
    await conversations.mark_read(runtime.db, agent, conversation_id, body.seq)


@router.post(
    "/{conversation_id}/resolve",
    response_model=ConversationDetail,
    response_model_exclude_unset=True,
    responses=NO_CONVERSATION,
)
async def resolve(
    conversation_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    return await conversations.set_status(runtime.db, agent, conversation_id, "resolved")


@router.post(
    "/{conversation_id}/reopen",
    response_model=ConversationDetail,
    response_model_exclude_unset=True,
    responses={
        **NO_CONVERSATION,
        422: refused(422, "the customer already has an open conversation in this inbox"),
    },
)
async def reopen(conversation_id: DbId, agent: CurrentAgent, runtime: RuntimeDep) -> dict[str, Any]:
    return await conversations.set_status(runtime.db, agent, conversation_id, "open")


@router.post(
    "/{conversation_id}/assign",
    response_model=ConversationDetail,
    response_model_exclude_unset=True,
    responses={
        **errors(403),
        404: refused(404, "no such conversation, or no such active agent"),
        422: refused(422, "that agent does not serve this conversation's inbox"),
    },
)
async def assign(
    conversation_id: DbId, body: AssignRequest, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    return await conversations.assign(runtime.db, agent, conversation_id, body.agent_id)


@router.post(
    "/{conversation_id}/transfer",
    response_model=ConversationOut,
    response_model_exclude_unset=True,
    responses={
        **errors(403),
        404: refused(404, "no such conversation, agent or team"),
        422: refused(
            422,
            "both or neither of `agent_id` and `team`, or an agent or team that does"
            " not serve this conversation's inbox",
        ),
    },
)
async def transfer(
    conversation_id: DbId, body: TransferRequest, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    return await conversations.transfer(
        runtime.db,
        agent,
        conversation_id,
        agent_id=body.agent_id,
        team=body.team,
        note=body.note,
    )
