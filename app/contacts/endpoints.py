from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from app.auth.dependencies import CurrentAgent, Supervisor
from app.contacts import merge as merges
from app.contacts import outreach, privacy
from app.contacts import repository as customers_repo
from app.contacts import service as contacts
from app.contacts.schemas import (
    ConversationStart,
    ConversationStarted,
    CustomerExport,
    CustomerMerged,
    CustomerOut,
    Erasure,
    MergeOut,
    MergePage,
    MergeRequest,
    SuggestionOut,
    SuggestionPage,
    SuggestionState,
    customer_out,
)
from app.conversations import access
from app.conversations import repository as conversations_repo
from app.conversations.schemas import (
    MessagePage,
    conversation_out,
    refused,
    stored_message_out,
)
from app.errors import InvalidRequest, NotFound
from app.inboxes import repository as inboxes_repo
from app.kit.api_schema import errors
from app.kit.numbers import DbId
from app.kit.pagination import PageDep
from app.models import Conversation, Inbox, Message
from app.runtime import RuntimeDep

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])
suggestions_router = APIRouter(prefix="/api/v1/merge-suggestions", tags=["customers"])

NO_CUSTOMER = refused(404, "no such customer, or one the agent may not see")
CURSOR_REFUSED = refused(422, "a `cursor` that is not a `next_cursor` this server gave out")


@router.get("/{customer_id}", response_model=CustomerOut, responses={404: NO_CUSTOMER})
async def get_customer(
    customer_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        customer = await contacts.visible_customer(session, viewer, customer_id)
        identities = await customers_repo.identities_of(session, customer_id)
    return customer_out(customer, identities)


@router.get(
    "/{customer_id}/timeline",
    response_model=MessagePage,
    response_model_exclude_unset=True,
    responses={404: NO_CUSTOMER, 422: CURSOR_REFUSED},
)
async def timeline(
    customer_id: DbId, agent: CurrentAgent, runtime: RuntimeDep, page: PageDep
) -> dict[str, Any]:
    """Every message of the customer's conversations the agent may see, oldest
    first by when it was sent (the platform's clock for what customers wrote),
    so a platform's late retry takes its place in the history. The cursor is
    the last message's id."""
    sent = func.coalesce(Message.sent_at, Message.created_at)
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        await contacts.visible_customer(session, viewer, customer_id)
        stmt = (
            select(Message, Inbox.channel)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Inbox, Inbox.id == Conversation.inbox_id)
            .where(Conversation.customer_id == customer_id)
        )
        visible = access.visible_filter(viewer)
        if visible is not None:
            stmt = stmt.where(visible)
        if page.cursor is not None:
            last = aliased(Message)
            anchor = (
                select(func.coalesce(last.sent_at, last.created_at))
                .where(last.id == page.cursor)
                .scalar_subquery()
            )
            stmt = stmt.where(or_(sent > anchor, and_(sent == anchor, Message.id > page.cursor)))
        rows = (await session.execute(stmt.order_by(sent, Message.id).limit(page.limit))).all()
    items = [stored_message_out(m, channel) for m, channel in rows]
    cursor = str(rows[-1][0].id) if len(rows) == page.limit else None
    return {"items": items, "next_cursor": cursor}


# -- merge -------------------------------------------------------------------


@router.post(
    "/{customer_id}/merge",
    response_model=CustomerMerged,
    responses={
        404: NO_CUSTOMER,
        409: refused(409, "one of the two was merged already, or erased"),
        422: refused(422, "a customer into itself"),
    },
)
async def merge(
    customer_id: DbId, body: MergeRequest, agent: Supervisor, runtime: RuntimeDep
) -> dict[str, Any]:
    """Keeps `customer_id` and folds `other_customer_id` into it (supervisors)."""
    async with runtime.db.write() as session:
        record = await merges.merge(
            session,
            kept_id=customer_id,
            other_id=body.other_customer_id,
            actor_id=agent.id,
            reason="agent",
        )
        customer = await contacts.get_customer(session, customer_id)
        identities = await customers_repo.identities_of(session, customer_id)
        answer = {**customer_out(customer, identities), "merge": merges.merge_out(record)}
    return answer


@router.get("/{customer_id}/merges", response_model=MergePage, responses={404: NO_CUSTOMER})
async def list_merges(customer_id: DbId, agent: Supervisor, runtime: RuntimeDep) -> dict[str, Any]:
    """The merges that folded customers into this one, newest first."""
    async with runtime.db.read() as session:
        await contacts.get_customer(session, customer_id)
        records = await customers_repo.merges_into(session, customer_id)
    return {"items": [merges.merge_out(r) for r in records], "next_cursor": None}


@router.post(
    "/{customer_id}/merges/{merge_id}/undo",
    response_model=MergeOut,
    responses={
        404: refused(404, "no such merge into this customer"),
        409: refused(409, "undone already, the customers changed since, or one was erased"),
    },
)
async def undo_merge(
    customer_id: DbId, merge_id: DbId, agent: Supervisor, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.write() as session:
        found = await customers_repo.merge_record(session, merge_id)
        if found is None or found.kept_customer_id != customer_id:
            raise NotFound("no such merge")
        record = await merges.undo(session, merge_id, agent.id)
        return merges.merge_out(record)


@router.get(
    "/{customer_id}/merge-suggestions", response_model=SuggestionPage, responses={404: NO_CUSTOMER}
)
async def customer_suggestions(
    customer_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        await contacts.visible_customer(session, viewer, customer_id)
        found = await customers_repo.suggestions(
            session, state=None, customer_id=customer_id, visible=None, after_id=None, limit=200
        )
    return {"items": [merges.suggestion_out(s) for s in found], "next_cursor": None}


@suggestions_router.get("", response_model=SuggestionPage, responses={422: CURSOR_REFUSED})
async def list_suggestions(
    agent: CurrentAgent,
    runtime: RuntimeDep,
    page: PageDep,
    state: Annotated[SuggestionState, Query(description="which suggestions")] = "pending",
) -> dict[str, Any]:
    """Suggested merges about customers the agent may see (one of the two is
    enough: the suggestion names the other only by id)."""
    async with runtime.db.read() as session:
        viewer = await access.viewer_of(session, agent)
        found = await customers_repo.suggestions(
            session,
            state=state,
            customer_id=None,
            visible=access.visible_filter(viewer),
            after_id=page.cursor,
            limit=page.limit,
        )
    cursor = str(found[-1].id) if len(found) == page.limit else None
    return {"items": [merges.suggestion_out(s) for s in found], "next_cursor": cursor}


@suggestions_router.post(
    "/{suggestion_id}/accept",
    response_model=SuggestionOut,
    responses={
        **errors(404),
        409: refused(409, "decided already, or one of the two was merged already or erased"),
    },
)
async def accept_suggestion(
    suggestion_id: DbId, agent: Supervisor, runtime: RuntimeDep
) -> dict[str, Any]:
    """Accepting merges the claimant into the owner of the claimed fact: a merge,
    so supervisors only."""
    async with runtime.db.write() as session:
        suggestion = await merges.locked_suggestion(session, suggestion_id)
        decided = await merges.decide(session, suggestion, accept=True, actor_id=agent.id)
        return merges.suggestion_out(decided)


@suggestions_router.post(
    "/{suggestion_id}/reject",
    response_model=SuggestionOut,
    responses={**errors(404), 409: refused(409, "decided already")},
)
async def reject_suggestion(
    suggestion_id: DbId, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    """Any agent who may see one of the two customers says they are not one."""
    async with runtime.db.write() as session:
        viewer = await access.viewer_of(session, agent)
        suggestion = await merges.locked_suggestion(session, suggestion_id)
        if not await customers_repo.any_visible(
            session,
            [suggestion.customer_id, suggestion.other_customer_id],
            access.visible_filter(viewer),
        ):
            raise NotFound("no such merge suggestion")
        decided = await merges.decide(session, suggestion, accept=False, actor_id=agent.id)
        return merges.suggestion_out(decided)


# -- another channel ---------------------------------------------------------


@router.post(
    "/{customer_id}/conversations",
    status_code=201,
    response_model=ConversationStarted,
    response_model_exclude_unset=True,
    responses={
        **errors(403),
        404: refused(404, "no such customer or inbox"),
        409: refused(409, "the customer was erased"),
        422: refused(
            422,
            "the customer has no address or identity on that inbox's channel, was merged,"
            " or the inbox cannot start a conversation (a web chat is started by the"
            " customer)",
        ),
    },
)
async def start_conversation(
    customer_id: DbId, body: ConversationStart, agent: CurrentAgent, runtime: RuntimeDep
) -> dict[str, Any]:
    """Writes to the customer on another channel they have (email to an address
    they gave, a platform they wrote from): a new conversation of `inbox_id`,
    assigned to the agent, its first message sent through the outbox."""
    async with runtime.db.write() as session:
        viewer = await access.viewer_of(session, agent)
        customer = await contacts.visible_customer(session, viewer, customer_id)
        if customer.merged_into_id is not None:
            raise InvalidRequest(
                f"customer {customer.id} was merged into customer {customer.merged_into_id}"
            )
        if customer.erased_at is not None:
            raise merges.CustomerErased("this customer was erased")
        inbox = await inboxes_repo.get(session, body.inbox_id)
        if inbox is None:
            raise NotFound("no such inbox")
        await outreach.check_agent_serves(session, viewer, inbox)
        recipient = await outreach.recipient_on(session, inbox, customer, body.email)
        conversation, message = await outreach.send_on_channel(
            session,
            runtime.channels,
            inbox=inbox,
            customer=customer,
            recipient=recipient,
            body=body.body,
            author=agent,
            author_name=agent.name,
            subject=body.subject,
        )
        row = await conversations_repo.get_with_refs(session, conversation.id)
        assert row is not None
        return {
            "conversation": conversation_out(*row),
            "message": stored_message_out(message, inbox.channel),
        }


# -- privacy -----------------------------------------------------------------


@router.get(
    "/{customer_id}/export",
    response_model=CustomerExport,
    response_model_exclude_unset=True,
    responses={404: NO_CUSTOMER},
)
async def export(customer_id: DbId, agent: Supervisor, runtime: RuntimeDep) -> dict[str, Any]:
    """Everything held about the customer (and those merged into them), for
    supervisors and admins (the issue's abuse rules: only they merge, export
    and erase)."""
    async with runtime.db.read() as session:
        return await privacy.export(session, customer_id)


@router.post(
    "/{customer_id}/erase",
    response_model=Erasure,
    responses={
        404: NO_CUSTOMER,
        409: refused(409, "erased already, or merged into another customer"),
    },
)
async def erase(customer_id: DbId, agent: Supervisor, runtime: RuntimeDep) -> dict[str, Any]:
    record = await privacy.erase(runtime.db, customer_id, agent.id)
    return {
        "id": record.id,
        "customer_id": record.customer_id,
        "counts": record.counts,
        "erased_at": record.created_at.isoformat(),
    }
