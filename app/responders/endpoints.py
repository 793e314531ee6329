"""The responders' view of an inbox: whether it is open now and the reply
time it promises, and how many promised reply times it kept."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import Supervisor
from app.errors import InvalidRequest
from app.inboxes import service as inboxes_service
from app.kit.clock import clock
from app.kit.numbers import DbId
from app.models import Conversation
from app.responders import promises
from app.responders.availability import QUEUE_SOURCE, availability
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/inboxes", tags=["inboxes"])


@router.get("/{inbox_id}/availability")
async def get_availability(inbox_id: DbId, runtime: RuntimeDep) -> dict[str, object]:
    async with runtime.db.read() as session:
        inbox = await inboxes_service.get_inbox(session, inbox_id)
    now = await availability(
        inbox, clock.now(), runtime[QUEUE_SOURCE], runtime.settings.default_expected_reply_seconds
    )
    return now.as_json()


@router.get("/{inbox_id}/promises")
async def get_promises(
    inbox_id: DbId,
    supervisor: Supervisor,
    runtime: RuntimeDep,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> dict[str, object]:
    """The reply times the inbox promised (acknowledgements, away messages)
    and how many it kept; `from`/`to` select promises by their due time."""
    async with runtime.db.read() as session:
        inbox = await inboxes_service.get_inbox(session, inbox_id)
        found = await promises.stats(
            session,
            clock.now(),
            where=[Conversation.inbox_id == inbox.id],
            since=_aware(from_),
            until=_aware(to),
        )
    return {"inbox_id": inbox.id, **found.as_json()}


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    raise InvalidRequest("from and to need a UTC offset (ISO 8601, e.g. 2026-03-02T09:00:00+09:00)")
