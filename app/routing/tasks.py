"""Routing's due-time jobs: the answer timeout, and a second look after a hold."""

from __future__ import annotations

import logging
from typing import Any

from app.conversations import repository as conversations_repo
from app.conversations.publishing import conversation_changed
from app.conversations.service import add_note
from app.db import Database
from app.inboxes import repository as inboxes_repo
from app.kit.clock import clock
from app.routing import repository as routing_repo
from app.routing.router import Router

log = logging.getLogger(__name__)


def span(seconds: int) -> str:
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class AnswerTimeout:
    """An automatically assigned agent who has not written to the customer in
    time (here or in another conversation of theirs, on any channel): the
    conversation goes back to the queue at its place, that agent is passed
    over for it, and the next agent takes it. A private note records it for
    supervisors (in the same commit), and the router counts it."""

    def __init__(self, db: Database, router: Router) -> None:
        self.db = db
        self.router = router

    async def run(self, payload: dict[str, Any]) -> None:
        conversation_id = int(payload["conversation_id"])
        agent_id = int(payload["agent_id"])
        attempt = int(payload["attempt"])
        timeout = int(payload.get("timeout_seconds", 0))
        async with self.db.write() as session:
            row = await conversations_repo.get_with_refs(session, conversation_id, lock=True)
            if row is None:
                return
            conversation, inbox, _, assignee = row
            assigned_at = conversation.assigned_at
            if (
                conversation.status != "open"
                or conversation.assignee_id != agent_id
                or conversation.routing_attempts != attempt
                or assigned_at is None
                # Assigned again by hand since: that assignment is not timed.
                or assigned_at.isoformat() != payload.get("assigned_at", assigned_at.isoformat())
            ):
                return
            # Answered on any channel (a mail to the same customer) counts.
            if await routing_repo.answered_since(session, conversation.customer_id, assigned_at):
                return
            now = clock.now()
            conversation.assignee_id = None
            conversation.assigned_at = None
            conversation.passed_agent_id = agent_id
            conversation.queued_at = conversation.queued_at or conversation.created_at
            conversation.updated_at = now
            name = assignee.name if assignee is not None else f"agent {agent_id}"
            await add_note(
                session,
                conversation,
                inbox,
                await inboxes_repo.team_ids(session, inbox.id),
                f"Reassigned: {name} did not answer within {span(timeout)}",
            )
            await conversation_changed(
                session, "assigned", conversation_id, notify_agents=(agent_id,)
            )
        self.router.answer_timeouts += 1
        log.info("conversation %s: %s did not answer in time", conversation_id, agent_id)

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        log.warning("answer timeout of %s not applied: %s", payload.get("conversation_id"), error)


class Recheck:
    """A held conversation's wait is over (skills), or a closed inbox opens:
    the router looks again."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def run(self, payload: dict[str, Any]) -> None:
        self.router.kick()

    async def give_up(self, payload: dict[str, Any], error: str) -> None:
        return None
