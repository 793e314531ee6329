"""The customer's own view: their conversations in this web inbox, never anyone else's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.auth.dependencies import WidgetSession
from app.conversations import repository as conversations_repo
from app.conversations.schemas import (
    CustomerConversationPage,
    CustomerMessagePage,
    customer_view,
    refused,
    stored_message_out,
)
from app.errors import NotFound
from app.kit.api_schema import errors
from app.kit.numbers import DbId, DbSeq
from app.kit.pagination import PageDep
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/widget/conversations", tags=["widget"])


CURSOR_REFUSED = refused(422, "a `cursor` that is not a `next_cursor` this server gave out")


@router.get(
    "",
    response_model=CustomerConversationPage,
    response_model_exclude_unset=True,
    responses={422: CURSOR_REFUSED},
)
async def my_conversations(
    customer: WidgetSession, runtime: RuntimeDep, page: PageDep
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        rows = await conversations_repo.list_page(
            session,
            statuses=("open", "snoozed", "resolved"),
            assignee=None,
            inbox_id=customer.inbox_id,
            visible=None,
            customer_id=customer.customer_id,
            before_id=page.cursor,
            limit=page.limit,
        )
    items = [
        {
            "id": c.id,
            "status": c.status,
            "last_seq": c.last_seq,
            "created_at": c.created_at.isoformat(),
            "assignee": {"name": a.name} if a else None,
        }
        for c, _, _, a in rows
    ]
    cursor = str(rows[-1][0].id) if len(rows) == page.limit else None
    return {"items": items, "next_cursor": cursor}


@router.get(
    "/{conversation_id}/messages",
    response_model=CustomerMessagePage,
    response_model_exclude_unset=True,
    responses={**errors(404), 422: CURSOR_REFUSED},
)
async def my_messages(
    conversation_id: DbId,
    customer: WidgetSession,
    runtime: RuntimeDep,
    page: PageDep,
    after_seq: DbSeq = 0,
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        conversation = await conversations_repo.get(session, conversation_id)
        if (
            conversation is None
            or conversation.customer_id != customer.customer_id
            or conversation.inbox_id != customer.inbox_id
        ):
            raise NotFound("no such conversation")
        rows = await conversations_repo.messages_after(
            session,
            conversation_id,
            max(after_seq, page.cursor or 0),
            page.limit,
            include_private=False,
        )
    items = []
    for m in rows:
        item = customer_view(stored_message_out(m, "web"))
        del item["type"]
        items.append(item)
    cursor = str(rows[-1].seq) if len(rows) == page.limit else None
    return {"items": items, "next_cursor": cursor}
