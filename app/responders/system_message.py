"""The one shape of an automatic answer: a `system` message of the
conversation, sent on its own channel by the outbox when the channel sends.

Greeting, away, acknowledgement (app/responders/auto_reply.py) and redirect
(app/responders/redirect.py) all write it. It is `automatic`: no responder
ever answers it, and mail carries `Auto-Submitted: auto-replied`.
"""

from __future__ import annotations

from typing import Any

from app.channels.registry import ChannelRegistry
from app.conversations.outbox import DELIVER
from app.conversations.writer import JobSpec, NewMessage, WithRows
from app.models import Inbox


def system_message(
    channels: ChannelRegistry,
    inbox: Inbox,
    conversation_id: int,
    *,
    body: str,
    external_id: str,
    team_ids: tuple[int, ...],
    meta: dict[str, Any] | None = None,
    with_rows: WithRows | None = None,
) -> NewMessage:
    """`external_id` keys it like its job: a rerun after a crash finds it stored."""
    adapter = channels.get(inbox.channel)
    outbound = adapter is not None and adapter.sends
    return NewMessage(
        conversation_id=conversation_id,
        inbox_id=inbox.id,
        channel=inbox.channel,
        author_kind="system",
        author_name=inbox.name,
        body=body,
        external_id=external_id,
        meta=meta,
        delivery_status="pending" if outbound else None,
        jobs=(JobSpec(DELIVER, dedupe_key="deliver:{message_id}"),) if outbound else (),
        inbox_team_ids=team_ids,
        automatic=True,
        with_rows=with_rows,
    )
