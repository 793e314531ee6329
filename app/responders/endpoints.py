"""The responders' view of an inbox: whether it is open now and the reply
time it promises, and how many promised reply times it kept."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator

from app.auth.dependencies import Supervisor
from app.errors import InvalidRequest
from app.inboxes import service as inboxes_service
from app.inboxes.schemas import Availability
from app.kit.clock import clock
from app.kit.numbers import DbId
from app.models import Conversation
from app.responders import promises
from app.responders.availability import QUEUE_SOURCE, availability
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/inboxes", tags=["inboxes"])


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    # pydantic would read a number as a Unix time; the schema says date-time.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("an ISO 8601 date-time with a UTC offset")
    return value


Moment = Annotated[datetime, BeforeValidator(_iso_only)]


class PromisesOut(BaseModel):
    inbox_id: int
    promised: int
    kept: int
    missed: int
    pending: int
    # kept / (kept + missed); null while none is settled.
    kept_rate: float | None


@router.get("/{inbox_id}/availability", response_model=Availability)
async def get_availability(inbox_id: DbId, runtime: RuntimeDep) -> object:
    async with runtime.db.read() as session:
        inbox = await inboxes_service.get_inbox(session, inbox_id)
    now = await availability(
        inbox, clock.now(), runtime[QUEUE_SOURCE], runtime.settings.default_expected_reply_seconds
    )
    return now.as_json()


@router.get("/{inbox_id}/promises", response_model=PromisesOut)
async def get_promises(
    inbox_id: DbId,
    supervisor: Supervisor,
    runtime: RuntimeDep,
    from_: Annotated[Moment | None, Query(alias="from")] = None,
    to: Annotated[Moment | None, Query()] = None,
) -> object:
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
