from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, BeforeValidator, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.widget_sessions import SessionLifetimes
from app.channels.web.adapter import WebConfig, WidgetAppearance
from app.contacts import chat_link
from app.errors import Forbidden
from app.inboxes import service as inboxes_service
from app.inboxes.schemas import Availability
from app.kit.api_schema import NoNul, errors
from app.kit.client_key import rate_key_of
from app.kit.clock import clock
from app.kit.email_address import EmailAddress
from app.kit.language import primary_subtag
from app.kit.text import Storable
from app.models import Inbox
from app.responders.availability import QUEUE_SOURCE, availability
from app.runtime import RuntimeDep, client_address
from app.widget.sessions import (
    OpenedSession,
    SessionRequest,
    TokenRules,
    open_session,
    resume_reading,
)

router = APIRouter(prefix="/api/v1/widget", tags=["widget"])

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), Storable, NoNul]
Key = Annotated[str, StringConstraints(max_length=128), Storable, NoNul]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Storable, NoNul]


def _blank_is_none(value: object) -> object:
    # A page's empty email field means no email, as it always has.
    return None if isinstance(value, str) and not value.strip() else value


class SessionCreate(BaseModel):
    widget_key: Annotated[str, StringConstraints(min_length=1, max_length=64), Storable, NoNul]
    name: Name | None = None
    email: Annotated[Annotated[EmailAddress, Storable] | None, BeforeValidator(_blank_is_none)] = (
        None
    )
    external_id: Short | None = None
    identity_hash: Key | None = None
    session_token: Key | None = None
    # The page's language (a BCP 47 tag, e.g. navigator.language): routing
    # prefers agents who speak it.
    language: Annotated[str, StringConstraints(max_length=35), Storable, NoNul] | None = None
    # The signed token of a chat link (`?link=` of the chat page): opens one
    # new session as the customer it was made for (app/contacts/chat_link.py).
    link: Key | None = None


async def _embeddable_inbox(
    session: AsyncSession, widget_key: str, request: Request, public_url: str | None
) -> Inbox:
    inbox = await inboxes_service.web_inbox_by_key(session, widget_key)
    if not WebConfig.model_validate(inbox.config).allows_origin(
        request.headers.get("origin"), request.headers.get("host"), public_url
    ):
        raise Forbidden("this page's origin may not embed the widget")
    return inbox


def _appearance_of(inbox: Inbox) -> dict[str, object] | None:
    appearance = WebConfig.model_validate(inbox.config).appearance
    return appearance.model_dump(mode="json") if appearance is not None else None


class SessionOut(BaseModel):
    session_token: str
    customer_id: int
    # False: a new session, whatever token was given (unknown, or dead).
    resumed: bool
    inbox_id: int
    availability: Availability
    # How the inbox's admin set the widget to look (every field, nulls for
    # the widget's defaults); null when nothing is set. Public by nature.
    appearance: WidgetAppearance | None = None


# 403: an origin that may not embed it, a bad identity_hash, or a chat link not
# valid (or used); 404: no web inbox has the key; 429: too many new sessions.
@router.post("/sessions", response_model=SessionOut, responses=errors(403, 404, 429))
async def create_session(body: SessionCreate, request: Request, runtime: RuntimeDep) -> object:
    address_key = rate_key_of(client_address(request))
    link: chat_link.ChatLink | None = None
    if body.link:
        link = chat_link.verify(chat_link.server_secret(runtime.settings), body.link, clock.now())
        if link is None:
            raise chat_link.InvalidChatLink("this chat link is not valid or has expired")
    # The page's language, else the browser's first choice.
    accepted = request.headers.get("accept-language", "").split(",")[0].split(";")[0]
    req = SessionRequest(
        name=body.name or None,
        email=body.email or None,
        external_id=body.external_id or None,
        identity_hash=body.identity_hash,
        session_token=body.session_token,
        link=link,
        language=primary_subtag(body.language) or primary_subtag(accepted),
    )
    rules = TokenRules(
        SessionLifetimes.of(runtime.settings), chat_link.server_secret(runtime.settings)
    )
    opened: OpenedSession | None = None
    if req.session_token and link is None:
        # Most opens are a page load resuming its session: no write lock, no write.
        async with runtime.db.read() as session:
            inbox = await _embeddable_inbox(
                session, body.widget_key, request, runtime.settings.public_url
            )
            opened = await resume_reading(session, inbox, req, rules)
    if opened is None:
        async with runtime.db.write() as session:
            inbox = await _embeddable_inbox(
                session, body.widget_key, request, runtime.settings.public_url
            )
            opened = await open_session(
                session,
                inbox,
                req,
                rules,
                # Only new sessions count against the limit; resuming one is free.
                before_new=lambda: runtime.limits.widget_sessions.hit(address_key),
            )
    return {
        "session_token": opened.token,
        "customer_id": opened.customer.id,
        # False: a new session, whatever token was given (unknown, or dead).
        "resumed": opened.resumed,
        "inbox_id": inbox.id,
        "appearance": _appearance_of(inbox),
        "availability": (
            await availability(
                inbox,
                clock.now(),
                runtime[QUEUE_SOURCE],
                runtime.settings.default_expected_reply_seconds,
            )
        ).as_json(),
    }
