"""What people ask of routing: inbox policies, escalation, priorities, the queue."""

from __future__ import annotations

from typing import Any

from app.agents import repository as agents_repo
from app.conversations import access
from app.conversations import repository as conversations_repo
from app.conversations.publishing import conversation_changed
from app.conversations.schemas import conversation_out, iso
from app.conversations.service import check_may_reassign, hand_over, visible_conversation
from app.db import Database
from app.errors import InvalidRequest, NotFound
from app.inboxes import repository as inboxes_repo
from app.inboxes.routing_config import RoutingConfig, config_of
from app.kit.clock import clock
from app.models import Agent
from app.routing import repository as routing_repo
from app.routing.router import Router
from app.routing.schemas import EscalateRequest


async def inbox_routing(db: Database, inbox_id: int) -> dict[str, Any]:
    async with db.read() as session:
        inbox = await inboxes_repo.get(session, inbox_id)
        if inbox is None:
            raise NotFound("no such inbox")
        return config_of(inbox.routing).model_dump(mode="json")


async def set_inbox_routing(
    db: Database, router: Router, inbox_id: int, config: RoutingConfig
) -> dict[str, Any]:
    stored = config.model_dump(mode="json")
    async with db.write() as session:
        if not await routing_repo.set_inbox_routing(session, inbox_id, stored):
            raise NotFound("no such inbox")
    # A new policy or a shorter wait may let waiting conversations go now.
    router.assigner.inboxes_changed()
    router.kick()
    return stored


async def escalate(
    db: Database, actor: Agent, conversation_id: int, request: EscalateRequest
) -> dict[str, Any]:
    """Hands the conversation on through the queue: to a team, to agents with a
    skill (functional), or to a supervisor (hierarchical). Whoever escalates
    is passed over for it. The handover note is stored in the same commit, so
    the agent who receives it reads the note first."""
    if request.to == "team" and request.team is None and request.skill is None:
        raise InvalidRequest("escalating to a team needs a team or a skill")
    if request.to == "supervisor" and (request.team is not None or request.skill is not None):
        raise InvalidRequest("escalating to a supervisor takes no team or skill")
    async with db.write() as session:
        viewer = await access.viewer_of(session, actor)
        conversation, inbox, _, _ = await visible_conversation(
            session, viewer, conversation_id, lock=True
        )
        check_may_reassign(viewer, conversation)
        if conversation.status != "open":
            raise InvalidRequest("only an open conversation is escalated")
        inbox_teams = await inboxes_repo.team_ids(session, inbox.id)
        if request.to == "team":
            targets = []
            if request.team is not None:
                teams = await agents_repo.existing_teams(session, [request.team])
                if not teams:
                    raise NotFound("no such team")
                if not access.team_serves_inbox(teams[0].id, inbox_teams):
                    raise InvalidRequest("that team does not serve this conversation's inbox")
                conversation.team_id = teams[0].id
                targets.append(f"team {request.team}")
            if request.skill is not None:
                targets.append(f"agents with the {request.skill} skill")
            conversation.required_skill = request.skill
            conversation.escalated_to = None
            target = ", ".join(targets)
        else:
            conversation.required_skill = None
            conversation.escalated_to = "supervisor"
            target = "a supervisor"
        now = clock.now()
        previous = conversation.assignee_id
        conversation.passed_agent_id = previous if previous is not None else actor.id
        conversation.assignee_id = None
        conversation.assigned_at = None
        conversation.queued_at = conversation.queued_at or now
        conversation.updated_at = now
        return await hand_over(
            session,
            conversation,
            inbox,
            inbox_teams,
            actor=actor,
            previous_assignee=previous,
            summary=f"Escalated to {target} by {actor.name}",
            note=request.note,
        )


async def set_priority(
    db: Database, actor: Agent, conversation_id: int, priority: int
) -> dict[str, Any]:
    async with db.write() as session:
        viewer = await access.viewer_of(session, actor)
        conversation, _, _, _ = await visible_conversation(
            session, viewer, conversation_id, lock=True
        )
        if conversation.priority != priority:
            conversation.priority = priority
            conversation.updated_at = clock.now()
            await conversation_changed(session, "updated", conversation.id)
        row = await conversations_repo.get_with_refs(session, conversation_id)
        assert row is not None
        out = conversation_out(*row)
    return {**out, "priority": priority}


async def queue_page(
    db: Database, router: Router, inbox_id: int, after_position: int, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """The inbox's waiting conversations in the order they will be served."""
    async with db.read() as session:
        if await inboxes_repo.get(session, inbox_id) is None:
            raise NotFound("no such inbox")
        rows = await routing_repo.queue_of_inbox(session, inbox_id, after_position, limit)
    items = []
    for position, conversation in enumerate(rows, start=after_position + 1):
        place = router.place_of(conversation.id)
        items.append(
            {
                "conversation_id": conversation.id,
                "customer_id": conversation.customer_id,
                "position": position,
                "priority": conversation.priority,
                "queued_at": iso(conversation.queued_at),
                "expected_wait_seconds": place.expected_wait_seconds if place else None,
                "team_id": conversation.team_id,
                "language": conversation.language or None,
                "required_skill": conversation.required_skill,
                "escalated_to": conversation.escalated_to,
            }
        )
    last = after_position + len(items)
    return items, last if len(items) == limit else None
