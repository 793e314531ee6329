"""POST (and GET) /webhooks/{slug}/{inbox_id}: every platform's webhook, one route.

The handler only reads the request as it came (method, query, headers, the raw
bytes a signature covers); the intake service verifies, parses and stores.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.channels.base import InboundRequest
from app.conversations import intake
from app.kit.numbers import DbId
from app.runtime import RuntimeDep

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.api_route("/{slug}/{inbox_id}", methods=["GET", "POST"], include_in_schema=False)
async def webhook(slug: str, inbox_id: DbId, request: Request, runtime: RuntimeDep) -> Response:
    delivery = InboundRequest(
        method=request.method,
        body=await request.body(),
        headers={name.lower(): value for name, value in request.headers.items()},
        query=dict(request.query_params),
    )
    answer = await intake.receive_webhook(
        runtime.db, runtime.writer, runtime.channels, slug, inbox_id, delivery
    )
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)
