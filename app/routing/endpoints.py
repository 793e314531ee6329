from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.auth.dependencies import Admin, CurrentAgent, Supervisor
from app.inboxes.routing_config import RoutingConfig
from app.kit.numbers import DbId
from app.kit.pagination import PageDep
from app.routing import service as routing
from app.routing.router import ROUTER
from app.routing.schemas import EscalateRequest, PriorityUpdate
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["routing"])


@router.get("/inboxes/{inbox_id}/routing")
async def get_inbox_routing(inbox_id: DbId, _: CurrentAgent, runtime: RuntimeDep) -> dict[str, Any]:
    return await routing.inbox_routing(runtime.db, inbox_id)


@router.put("/inboxes/{inbox_id}/routing")
async def set_inbox_routing(
    inbox_id: DbId, body: RoutingConfig, _: Admin, runtime: RuntimeDep
) -> dict[str, Any]:
    return await routing.set_inbox_routing(runtime.db, runtime[ROUTER], inbox_id, body)


@router.get("/inboxes/{inbox_id}/queue")
async def inbox_queue(
    inbox_id: DbId, _: Supervisor, runtime: RuntimeDep, page: PageDep
) -> dict[str, Any]:
    items, last = await routing.queue_page(
        runtime.db, runtime[ROUTER], inbox_id, page.cursor or 0, page.limit
    )
    return {"items": items, "next_cursor": str(last) if last is not None else None}


@router.post("/conversations/{conversation_id}/escalate")
async def escalate(
    conversation_id: DbId, body: EscalateRequest, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    return await routing.escalate(runtime.db, agent, conversation_id, body)


@router.put("/conversations/{conversation_id}/priority")
async def set_priority(
    conversation_id: DbId, body: PriorityUpdate, agent: Supervisor, runtime: RuntimeDep
) -> dict[str, Any]:
    return await routing.set_priority(runtime.db, agent, conversation_id, body.priority)
