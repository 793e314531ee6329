"""Merging customers: one person, one history.

A merge keeps one customer and folds the other into it: the other's
identities, conversations (and so their messages) and widget sessions move
to the kept customer, and the fields the kept one lacks (name, email, ...)
are taken over. What moved is recorded on a `CustomerMerge`, so an undo puts
back exactly that and nothing that happened since. The folded customer stays,
empty, with `merged_into_id` set: old links and sessions follow it.

Both customers' rows are locked (in id order) for the merge's transaction, so
of two merges racing over the same customers one wins and the other finds
the customer already merged and is refused (409). A verified email merges
here without an agent (`reason` "verified_email"); unverified claims and a
chat link followed by another customer only ever make a `MergeSuggestion`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts import repository as customers_repo
from app.conversations.publishing import conversation_changed
from app.errors import Conflict, InvalidRequest, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import CustomersMerged
from app.kit.clock import clock
from app.models import (
    Conversation,
    CustomerMerge,
    Identity,
    MergeSuggestion,
    WidgetSession,
)

# What a kept customer takes over from the folded one when it has none.
TAKEN_OVER = ("name", "email", "claimed_email", "phone", "language")


class MergeIntoSelf(InvalidRequest):
    code = "merge_into_self"


class CustomerErased(Conflict):
    """The customer's state, not the request, stands in the way (as the
    message writer's refusal of an erased customer)."""

    code = "customer_erased"


class AlreadyMerged(Conflict):
    code = "already_merged"


async def merge(
    session: AsyncSession,
    *,
    kept_id: int,
    other_id: int,
    actor_id: int | None,
    reason: str,
) -> CustomerMerge:
    """Folds `other_id` into `kept_id` in the caller's transaction."""
    if kept_id == other_id:
        raise MergeIntoSelf("a customer cannot be merged into itself")
    customers = await customers_repo.lock_customers(session, [kept_id, other_id])
    kept, other = customers.get(kept_id), customers.get(other_id)
    if kept is None or other is None:
        raise NotFound("no such customer")
    for customer in (kept, other):
        if customer.erased_at is not None:
            raise CustomerErased(f"customer {customer.id} was erased; erased customers never merge")
    if other.merged_into_id is not None:
        raise AlreadyMerged(
            f"customer {other.id} was already merged into customer {other.merged_into_id}"
        )
    if kept.merged_into_id is not None:
        raise AlreadyMerged(
            f"customer {kept.id} was merged into customer {kept.merged_into_id};"
            " merge into that one"
        )
    now = clock.now()
    resolved = await _resolve_clashing_threads(session, kept.id, other.id, now)
    identity_ids = list(
        (
            await session.execute(select(Identity.id).where(Identity.customer_id == other.id))
        ).scalars()
    )
    conversation_ids = await customers_repo.conversation_ids_of(session, other.id)
    session_ids = list(
        (
            await session.execute(
                select(WidgetSession.id).where(WidgetSession.customer_id == other.id)
            )
        ).scalars()
    )
    await session.execute(
        update(Identity).where(Identity.customer_id == other.id).values(customer_id=kept.id)
    )
    await session.execute(
        update(Conversation)
        .where(Conversation.customer_id == other.id)
        .values(customer_id=kept.id, updated_at=now)
    )
    await session.execute(
        update(WidgetSession)
        .where(WidgetSession.customer_id == other.id)
        .values(customer_id=kept.id)
    )
    fields: dict[str, Any] = {}
    for name in TAKEN_OVER:
        value = getattr(other, name)
        if getattr(kept, name) is None and value is not None:
            setattr(kept, name, value)
            fields[name] = value
    other.merged_into_id = kept.id
    record = CustomerMerge(
        kept_customer_id=kept.id,
        merged_customer_id=other.id,
        actor_agent_id=actor_id,
        reason=reason,
        moved={
            "identity_ids": identity_ids,
            "conversation_ids": conversation_ids,
            "widget_session_ids": session_ids,
            "resolved_conversation_ids": resolved,
            "fields": fields,
        },
        created_at=now,
    )
    session.add(record)
    await session.flush()
    await session.execute(
        update(MergeSuggestion)
        .where(
            MergeSuggestion.state == "pending",
            (
                and_(
                    MergeSuggestion.customer_id == kept.id,
                    MergeSuggestion.other_customer_id == other.id,
                )
                | and_(
                    MergeSuggestion.customer_id == other.id,
                    MergeSuggestion.other_customer_id == kept.id,
                )
            ),
        )
        .values(state="accepted", decided_at=now, decided_by_agent_id=actor_id, merge_id=record.id)
    )
    actor = (actor_id,) if actor_id is not None else ()
    for conversation_id in conversation_ids:
        # Open consoles (the assignee's, watchers', the merging agent's) show
        # the conversation under its customer now.
        await conversation_changed(session, "updated", conversation_id, notify_agents=actor)
    publish_after_commit(session, CustomersMerged(kept.id, other.id, record.id))
    return record


async def _resolve_clashing_threads(
    session: AsyncSession, kept_id: int, other_id: int, now: Any
) -> list[int]:
    """A customer has one open thread per (inbox, thread key); where both have
    one, the folded customer's is resolved (recorded, and its history kept)."""
    kept_open = (
        await session.execute(
            select(Conversation.inbox_id, Conversation.thread_key).where(
                Conversation.customer_id == kept_id, Conversation.status != "resolved"
            )
        )
    ).all()
    if not kept_open:
        return []
    clashing = set(kept_open)
    rows = (
        await session.execute(
            select(Conversation).where(
                Conversation.customer_id == other_id, Conversation.status != "resolved"
            )
        )
    ).scalars()
    resolved = []
    for conversation in rows:
        if (conversation.inbox_id, conversation.thread_key) in clashing:
            conversation.status = "resolved"
            conversation.resolved_at = now
            conversation.updated_at = now
            resolved.append(conversation.id)
    await session.flush()
    return resolved


async def undo(session: AsyncSession, merge_id: int, actor_id: int) -> CustomerMerge:
    """Puts back what the merge moved: the identities, conversations and
    sessions it moved go back to the folded customer, as do the fields the kept
    customer took over and still holds. Conversations opened since stay."""
    record = (
        await session.execute(
            select(CustomerMerge).where(CustomerMerge.id == merge_id).with_for_update()
        )
    ).scalar_one_or_none()
    if record is None:
        raise NotFound("no such merge")
    if record.undone_at is not None:
        raise Conflict("this merge was undone already")
    customers = await customers_repo.lock_customers(
        session, [record.kept_customer_id, record.merged_customer_id]
    )
    kept = customers[record.kept_customer_id]
    other = customers[record.merged_customer_id]
    if kept.erased_at is not None or other.erased_at is not None:
        raise CustomerErased("an erased customer's merge cannot be undone")
    if other.merged_into_id != kept.id:
        raise Conflict("the customers are no longer merged this way")
    if kept.merged_into_id is not None:
        raise Conflict(
            f"customer {kept.id} was merged into customer {kept.merged_into_id} since;"
            " undo that merge first"
        )
    moved: dict[str, Any] = record.moved or {}
    now = clock.now()
    conversation_ids = [int(i) for i in moved.get("conversation_ids", [])]
    try:
        async with session.begin_nested():
            await session.execute(
                update(Identity)
                .where(
                    Identity.id.in_([int(i) for i in moved.get("identity_ids", [])]),
                    Identity.customer_id == kept.id,
                )
                .values(customer_id=other.id)
            )
            await session.execute(
                update(Conversation)
                .where(Conversation.id.in_(conversation_ids), Conversation.customer_id == kept.id)
                .values(customer_id=other.id, updated_at=now)
            )
    except IntegrityError as exc:
        raise Conflict(
            "a conversation moved by this merge clashes with one opened since; resolve one first"
        ) from exc
    await session.execute(
        update(WidgetSession)
        .where(
            WidgetSession.id.in_([int(i) for i in moved.get("widget_session_ids", [])]),
            WidgetSession.customer_id == kept.id,
        )
        .values(customer_id=other.id)
    )
    for name, value in (moved.get("fields") or {}).items():
        if name in TAKEN_OVER and getattr(kept, name) == value:
            setattr(kept, name, None)
    other.merged_into_id = None
    record.undone_at = now
    record.undone_by_agent_id = actor_id
    await session.flush()
    for conversation_id in conversation_ids:
        if await session.get(Conversation, conversation_id) is not None:
            await conversation_changed(
                session, "updated", conversation_id, notify_agents=(actor_id,)
            )
    publish_after_commit(session, CustomersMerged(kept.id, other.id, record.id, undone=True))
    return record


# -- suggestions -------------------------------------------------------------


async def suggest(session: AsyncSession, owner_id: int, claimant_id: int, reason: str) -> None:
    """Records that `claimant_id` claims a fact `owner_id` holds; once per pair."""
    if owner_id == claimant_id:
        return
    exists = (
        await session.execute(
            select(MergeSuggestion.id).where(
                MergeSuggestion.customer_id == owner_id,
                MergeSuggestion.other_customer_id == claimant_id,
            )
        )
    ).first()
    if exists is not None:
        return
    try:
        async with session.begin_nested():
            session.add(
                MergeSuggestion(
                    customer_id=owner_id,
                    other_customer_id=claimant_id,
                    reason=reason,
                    state="pending",
                    created_at=clock.now(),
                )
            )
            await session.flush()
    except IntegrityError:
        return  # the same claim, made at the same moment


async def locked_suggestion(session: AsyncSession, suggestion_id: int) -> MergeSuggestion:
    found = (
        await session.execute(
            select(MergeSuggestion).where(MergeSuggestion.id == suggestion_id).with_for_update()
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("no such merge suggestion")
    return found


async def decide(
    session: AsyncSession, suggestion: MergeSuggestion, *, accept: bool, actor_id: int
) -> MergeSuggestion:
    if suggestion.state != "pending":
        raise Conflict(f"this suggestion was {suggestion.state} already")
    if accept:
        # Keeps the owner of the claimed fact; the merge marks the suggestion.
        record = await merge(
            session,
            kept_id=suggestion.customer_id,
            other_id=suggestion.other_customer_id,
            actor_id=actor_id,
            reason="suggestion",
        )
        await session.refresh(suggestion)
        suggestion.merge_id = record.id
    else:
        suggestion.state = "rejected"
        suggestion.decided_at = clock.now()
        suggestion.decided_by_agent_id = actor_id
    await session.flush()
    return suggestion


def merge_out(record: CustomerMerge) -> dict[str, Any]:
    moved: dict[str, Any] = record.moved or {}
    return {
        "id": record.id,
        "customer_id": record.kept_customer_id,
        "other_customer_id": record.merged_customer_id,
        "reason": record.reason,
        "actor_agent_id": record.actor_agent_id,
        "identity_ids": moved.get("identity_ids", []),
        "conversation_ids": moved.get("conversation_ids", []),
        "resolved_conversation_ids": moved.get("resolved_conversation_ids", []),
        "fields": sorted((moved.get("fields") or {}).keys()),
        "created_at": record.created_at.isoformat(),
        "undone_at": record.undone_at.isoformat() if record.undone_at else None,
    }


def suggestion_out(suggestion: MergeSuggestion) -> dict[str, Any]:
    return {
        "id": suggestion.id,
        "customer_id": suggestion.customer_id,
        "other_customer_id": suggestion.other_customer_id,
        "reason": suggestion.reason,
        "state": suggestion.state,
        "created_at": suggestion.created_at.isoformat(),
        "decided_at": suggestion.decided_at.isoformat() if suggestion.decided_at else None,
        "merge_id": suggestion.merge_id,
    }
