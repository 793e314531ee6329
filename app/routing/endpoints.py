from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import Admin, CurrentAgent, Supervisor
from app.conversations.schemas import ConversationOut
from app.inboxes.routing_config import RoutingConfig
from app.kit.api_schema import errors
from app.kit.numbers import DbId
from app.kit.pagination import PageDep
from app.routing import service as routing
from app.routing.router import ROUTER
from app.routing.schemas import (
    EscalateRequest,
    PrioritizedConversation,
    PriorityUpdate,
    QueuePage,
)
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["routing"])


@router.get("/inboxes/{inbox_id}/routing", response_model=RoutingConfig)
async def get_inbox_routing(inbox_id: DbId, _: CurrentAgent, runtime: RuntimeDep) -> object:
    return await routing.inbox_routing(runtime.db, inbox_id)


@router.put("/inboxes/{inbox_id}/routing", response_model=RoutingConfig)
async def set_inbox_routing(
    inbox_id: DbId, body: RoutingConfig, _: Admin, runtime: RuntimeDep
) -> object:
    return await routing.set_inbox_routing(runtime.db, runtime[ROUTER], inbox_id, body)


@router.get("/inboxes/{inbox_id}/queue", response_model=QueuePage)
async def inbox_queue(inbox_id: DbId, _: Supervisor, runtime: RuntimeDep, page: PageDep) -> object:
    items, last = await routing.queue_page(
        runtime.db, runtime[ROUTER], inbox_id, page.cursor or 0, page.limit
    )
    return {"items": items, "next_cursor": str(last) if last is not None else None}


# 403: not the agent's to hand on; 404: no such team; 422: not open, or a team
# that does not serve the inbox.
@router.post(
    "/conversations/{conversation_id}/escalate",
    response_model=ConversationOut,
    responses=errors(403),
)
async def escalate(
    conversation_id: DbId, body: EscalateRequest, agent: CurrentAgent, runtime: RuntimeDep
) -> object:
    return await routing.escalate(runtime.db, agent, conversation_id, body)


@router.put("/conversations/{conversation_id}/priority", response_model=PrioritizedConversation)
async def set_priority(
    conversation_id: DbId, body: PriorityUpdate, agent: Supervisor, runtime: RuntimeDep
) -> object:
    return await routing.set_priority(runtime.db, agent, conversation_id, body.priority)
