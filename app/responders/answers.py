"""The responders' part in the intake: what a customer's message gets
automatically, planned as jobs committed with the message
(`conversations.intake.AutomaticAnswers`)."""

from __future__ import annotations

from app.channels.base import InboundMessage
from app.conversations.intake import InboxFacts
from app.conversations.writer import JobSpec
from app.db import Database
from app.kit.clock import clock
from app.models import Inbox
from app.responders import planner, redirect


class ResponderAnswers:
    async def plan(
        self, db: Database, inbox: InboxFacts, customer_id: int, inbound: InboundMessage
    ) -> tuple[JobSpec, ...]:
        if inbox.mode == "redirect":
            # Answered once a day with the channels the business serves.
            answer = redirect.plan(inbox.id, customer_id, inbound, clock.now())
            return (answer,) if answer is not None else ()
        if inbound.automatic:
            return ()
        # A greeting, away message or acknowledgement.
        settings = await planner.responder_settings.of(db, inbox.id)  # in memory, primed
        if settings is None:
            return ()
        return planner.plan(inbox.channel, settings, inbound, clock.now())

    def inbox_read(self, inbox: Inbox) -> None:
        planner.responder_settings.prime(inbox.id, inbox.business_hours, inbox.responders)
