"""One intake for every channel, the widget included.

A channel hands over an `InboundMessage`; the intake finds the customer by the
sender's identity and gives the message to the writer with the thread it
belongs to. The writer stores it once per (inbox, external_id), and finds or
opens its conversation in the same commit, so there is never a conversation
without its first message, and no event leaves before the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.channels.base import (
    ChannelAdapter,
    ChannelParseError,
    ChannelVerificationError,
    DeliveryUpdate,
    InboundMessage,
    InboundRequest,
    Sender,
    WebhookAnswer,
)
from app.channels.registry import ChannelRegistry
from app.channels.web.adapter import WebConfig
from app.contacts import service as contacts
from app.contacts.identities import email_key
from app.conversations import outbox
from app.conversations.writer import (
    JobSpec,
    MessageWriter,
    NewMessage,
    SenderIdentity,
    StoredMessage,
    ThreadRef,
    WithRows,
)
from app.db import Database
from app.errors import BadRequest, Forbidden, NotAuthenticated, NotFound
from app.events.domain import CustomerErased, CustomersMerged, Event
from app.inboxes import repository as inboxes_repo
from app.kit.expiring import ExpiringMap
from app.kit.text import make_storable
from app.models import Inbox
from app.runtime import Part


@dataclass(frozen=True, slots=True)
class InboxFacts:
    """What the intake needs of an inbox, as plain values: every idle widget
    socket holds one."""

    id: int
    channel: str
    mode: str
    team_ids: tuple[int, ...]
    # Where this inbox's sender ids are unique (see Identity.namespace).
    identity_namespace: str


async def inbox_facts(session: AsyncSession, inbox: Inbox) -> InboxFacts:
    return facts_of(inbox, await inboxes_repo.team_ids(session, inbox.id))


# Equal facts are one object: the idle sockets of an inbox share it.
_shared_facts: dict[InboxFacts, InboxFacts] = {}
SHARED_FACTS_ENTRIES = 10_000


def facts_of(inbox: Inbox, team_ids: tuple[int, ...], web: WebConfig | None = None) -> InboxFacts:
    """`web`: the web inbox's config, when the caller has validated it already."""
    facts = InboxFacts(
        id=inbox.id,
        channel=inbox.channel,
        mode=inbox.mode,
        team_ids=team_ids,
        identity_namespace=identity_namespace(inbox, web),
    )
    if len(_shared_facts) >= SHARED_FACTS_ENTRIES:
        _shared_facts.clear()
    return _shared_facts.setdefault(facts, facts)


def identity_namespace(inbox: Inbox, web: WebConfig | None = None) -> str:
    """A site's own user ids are scoped to its inbox (or the namespace an admin
    shares between inboxes); platform ids and addresses are global."""
    if inbox.channel == "web":
        return (web or WebConfig.model_validate(inbox.config)).namespace(inbox.id)
    return ""


async def receive(
    db: Database,
    writer: MessageWriter,
    inbox: InboxFacts,
    inbound: InboundMessage,
    *,
    customer_id: int | None = None,
    client_id: str | None = None,
    origin_connection: str | None = None,
    jobs: Sequence[JobSpec] = (),
    extra_meta: Mapping[str, Any] | None = None,
    with_rows: WithRows | None = None,
) -> StoredMessage:
    """Stores a customer's message (or finds it stored before) and returns it
    after the commit. `customer_id` is given when the channel knows the customer
    already (a widget session); otherwise the sender's identity decides.
    `extra_meta` adds to the message's meta (an email's flags); `with_rows`
    writes rows of the channel's own in the message's commit."""
    message = await prepare(
        db,
        inbox,
        inbound,
        customer_id=customer_id,
        client_id=client_id,
        origin_connection=origin_connection,
        jobs=jobs,
        extra_meta=extra_meta,
        with_rows=with_rows,
    )
    return await writer.append(message)


class AutomaticAnswers(Protocol):
    """The automatic answers to a customer's message, committed with it. The
    responders plug in here at start-up (app/responders/wiring.py), as the
    events plug into the writer's `on_stored`: the intake knows no responder."""

    async def plan(
        self, db: Database, inbox: InboxFacts, customer_id: int, inbound: InboundMessage
    ) -> tuple[JobSpec, ...]: ...

    def inbox_read(self, inbox: Inbox) -> None:
        """An inbox was read from the database: its settings are fresh."""


_answers: AutomaticAnswers | None = None


def answer_with(answers: AutomaticAnswers | None) -> None:
    """Sets the process's automatic answers (None: the intake plans none)."""
    global _answers
    _answers = answers


async def prepare(
    db: Database,
    inbox: InboxFacts,
    inbound: InboundMessage,
    *,
    customer_id: int | None = None,
    client_id: str | None = None,
    origin_connection: str | None = None,
    jobs: Sequence[JobSpec] = (),
    extra_meta: Mapping[str, Any] | None = None,
    with_rows: WithRows | None = None,
) -> NewMessage:
    """The message `receive` gives the writer: its customer found (or left
    to the writer's commit to find or create, `found_in_commit`), its
    automatic answers planned. A caller that pipelines (the widget socket)
    queues it itself with `MessageWriter.enqueue`."""
    sender: SenderIdentity | None = None
    if customer_id is None and found_in_commit(inbox, inbound.sender):
        sender = sender_identity(inbox, inbound.sender)
    elif customer_id is None:
        async with db.write() as session:
            customer = await contacts.customer_for_sender(
                session, inbox.channel, inbox.identity_namespace, inbound.sender
            )
            customer_id = customer.id
    jobs = tuple(jobs)
    # A redirect inbox's message is kept in the history, never worked by an agent.
    redirecting = inbox.mode == "redirect"
    if _answers is not None:
        # A greeting, away message, acknowledgement or redirect, committed
        # with the message. Only a redirect's plan reads the customer, and a
        # redirect inbox's customer is always found before (found_in_commit).
        jobs += await _answers.plan(db, inbox, customer_id or 0, inbound)
    return NewMessage(
        inbox_id=inbox.id,
        channel=inbox.channel,
        author_kind="customer",
        author_name=make_storable(inbound.sender.name) if inbound.sender.name else None,
        # Channels deliver what people and machines wrote, NUL bytes and all.
        body=make_storable(inbound.text),
        thread=ThreadRef(
            customer_id=customer_id or 0,
            thread_key=inbound.thread_key,
            in_reply_to=tuple(inbound.in_reply_to),
            subject=inbound.subject,
            unattended=redirecting,
        ),
        client_id=client_id,
        external_id=inbound.external_id,
        meta=_meta(inbound, inbox)
        if not extra_meta
        else {**(_meta(inbound, inbox) or {}), **extra_meta},
        automatic=inbound.automatic,
        jobs=jobs,
        inbox_team_ids=inbox.team_ids,
        origin_connection=origin_connection,
        sent_at=inbound.sent_at,
        with_rows=with_rows,
        sender=sender,
    )


def found_in_commit(inbox: InboxFacts, sender: Sender) -> bool:
    """Whether the writer finds or creates this sender's customer in the
    message's own commit (first contact at the speed of the group commit).
    Not for what needs more than an identity row: a sender the channel cannot
    vouch for (a customer of their own), a phone number to record or match
    (WhatsApp), or a redirect inbox (its answer is keyed by the customer)."""
    return sender.verified and not sender.phone and inbox.mode != "redirect"


def sender_identity(inbox: InboxFacts, sender: Sender) -> SenderIdentity:
    return SenderIdentity(
        channel=inbox.channel,
        namespace=inbox.identity_namespace,
        external_id=sender.external_id,
        name=make_storable(sender.name) if sender.name else None,
        email=email_key(sender.email) if sender.email else None,
    )


def _meta(inbound: InboundMessage, inbox: InboxFacts) -> dict[str, Any] | None:
    """What later work needs of the delivery: whom to answer (the outbox), what
    the channel keeps for its reply, whether a machine wrote it (responders).
    The widget's own messages need none of it."""
    if inbox.channel == "web" and not inbound.attachments and not inbound.automatic:
        return None
    sender = inbound.sender
    meta: dict[str, Any] = {
        "sender": {
            "external_id": sender.external_id,
            "name": sender.name,
            "email": sender.email,
            "phone": sender.phone,
            "language": sender.language,
            "verified": sender.verified,
        }
    }
    if inbound.channel_data:
        meta["channel_data"] = dict(inbound.channel_data)
    if inbound.attachments:
        meta["attachments"] = [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "url": a.url}
            for a in inbound.attachments
        ]
    if inbound.automatic:
        meta["automatic"] = True
    if inbound.sent_at is not None:
        meta["sent_at"] = inbound.sent_at.isoformat()
    return meta


@dataclass(frozen=True, slots=True)
class WebhookInbox:
    """An inbox as its webhook sees it."""

    adapter: ChannelAdapter[Any]
    config: BaseModel
    facts: InboxFacts


# How stale the intake's copies may be: an inbox's config or mode after an
# admin changes it (a rotated secret fails signatures for that long, and the
# platforms retry), and which customer an identity belongs to (which only a
# merge changes). The caps hold every inbox and a few busy minutes of customers.
INBOX_CACHE_SECONDS = 10.0
CUSTOMER_CACHE_SECONDS = 60.0
CACHE_ENTRIES = 50_000


@dataclass(slots=True)
class IntakeCache:
    """Seconds-old copies of what every webhook needs before its message can
    queue. A busy platform posts thousands of webhooks a second for one inbox
    and a few customers; without these, each post costs three or four database
    round trips ahead of the group commit (on SQLite, one of them through the
    write lock the writer needs too). A customer not in the cache is read,
    and only a new one (or a first name) takes a write."""

    inboxes: ExpiringMap[int, WebhookInbox] = field(
        default_factory=lambda: ExpiringMap(INBOX_CACHE_SECONDS, CACHE_ENTRIES)
    )
    # (channel, identity namespace, sender id) → (customer id, has a name).
    customers: ExpiringMap[tuple[str, str, str], tuple[int, bool]] = field(
        default_factory=lambda: ExpiringMap(CUSTOMER_CACHE_SECONDS, CACHE_ENTRIES)
    )

    def on_event(self, event: Event) -> None:
        """Bus subscriber: a merge moves identities to another customer, and
        an erasure deletes them (the sender is a new customer next time), so
        what the cache knew of identities is forgotten at once."""
        if isinstance(event, CustomersMerged | CustomerErased):
            self.customers.clear()


async def _webhook_inbox(
    db: Database, channels: ChannelRegistry, cache: IntakeCache, inbox_id: int
) -> WebhookInbox:
    found = cache.inboxes.get(inbox_id)
    if found is not None:
        return found
    async with db.read() as session:
        inbox = await inboxes_repo.get(session, inbox_id)
        adapter = channels.get(inbox.channel) if inbox is not None else None
        if inbox is None or adapter is None:
            raise NotFound("no such inbox")
        facts = await inbox_facts(session, inbox)
    found = WebhookInbox(adapter, adapter.config_model.model_validate(inbox.config), facts)
    if _answers is not None:
        _answers.inbox_read(inbox)
    cache.inboxes.put(inbox_id, found)
    return found


async def _customer_ids(
    db: Database, cache: IntakeCache, facts: InboxFacts, messages: Sequence[InboundMessage]
) -> list[int | None]:
    """Each message's customer, in the platform's order: from the cache; else
    None where the writer finds or creates it in the message's commit
    (`found_in_commit`: no read and no write of its own ahead of it); else
    read, else (a new customer, a first name to record) in one write."""
    keys = [(facts.channel, facts.identity_namespace, m.sender.external_id) for m in messages]
    found: list[int | None] = [None] * len(messages)

    def settle(i: int, customer_id: int, named: bool, *, remember: bool = True) -> None:
        # A nameless customer (LINE and Messenger give only an id) takes the
        # first name a later payload carries (an Instagram comment's username).
        if named or not messages[i].sender.name:
            found[i] = customer_id
        # Only what was read is remembered: a hit does not extend its own life,
        # so a busy customer's entry is read again at least once a minute.
        if remember and messages[i].sender.verified:
            cache.customers.put(keys[i], (customer_id, named))

    for i, m in enumerate(messages):
        known = cache.customers.get(keys[i]) if m.sender.verified else None
        if known is not None:
            settle(i, *known, remember=False)
    in_commit = [
        found[i] is None and found_in_commit(facts, m.sender) for i, m in enumerate(messages)
    ]
    if any(
        f is None and m.sender.verified and not c
        for f, m, c in zip(found, messages, in_commit, strict=True)
    ):
        async with db.read() as session:
            for i, m in enumerate(messages):
                if found[i] is None and m.sender.verified and not in_commit[i]:
                    customer = await contacts.known_customer(
                        session, facts.channel, facts.identity_namespace, m.sender
                    )
                    if customer is not None:
                        settle(i, customer.id, bool(customer.name))
    if any(f is None and not c for f, c in zip(found, in_commit, strict=True)):
        async with db.write() as session:
            for i, m in enumerate(messages):
                if found[i] is None and not in_commit[i]:
                    customer = await contacts.customer_for_sender(
                        session, facts.channel, facts.identity_namespace, m.sender
                    )
                    settle(i, customer.id, bool(customer.name))
                    found[i] = customer.id
    return found


def _remember(cache: IntakeCache, facts: InboxFacts, stored: StoredMessage) -> None:
    """The customer the writer found or created for a sender, for the next post."""
    sender = stored.new.sender
    if sender is None or stored.duplicate or not stored.customer_id:
        return
    cache.customers.put(
        (facts.channel, facts.identity_namespace, sender.external_id),
        (stored.customer_id, bool(sender.name)),
    )


async def receive_webhook(
    db: Database,
    writer: MessageWriter,
    channels: ChannelRegistry,
    slug: str,
    inbox_id: int,
    request: InboundRequest,
    cache: IntakeCache | None = None,
) -> WebhookAnswer:
    """A platform's webhook: verified over the raw request, parsed, and answered
    only once every message in it is stored (a retry then changes nothing)."""
    cache = cache or IntakeCache()
    inbox = await _webhook_inbox(db, channels, cache, inbox_id)
    adapter, config, facts = inbox.adapter, inbox.config, inbox.facts
    if adapter.webhook_path != slug:
        raise NotFound("no such inbox")
    try:
        answer = adapter.verify(config, request)
    except ChannelVerificationError as exc:
        if exc.status == 403:
            raise Forbidden(str(exc)) from exc
        raise NotAuthenticated(str(exc)) from exc
    if answer is not None:
        return answer
    try:
        events = adapter.parse(config, request)
    except ChannelParseError as exc:
        raise BadRequest(str(exc)) from exc
    messages = [e for e in events if isinstance(e, InboundMessage)]
    if messages:
        # Customers first, in the order the platform gave: then the messages
        # queue for one group commit in that order.
        customer_ids = await _customer_ids(db, cache, facts, messages)
        if len(messages) == 1:  # the common case: no task per message
            stored = await receive(db, writer, facts, messages[0], customer_id=customer_ids[0])
            _remember(cache, facts, stored)
        else:
            for stored in await asyncio.gather(
                *(
                    receive(db, writer, facts, m, customer_id=customer_id)
                    for m, customer_id in zip(messages, customer_ids, strict=True)
                )
            ):
                _remember(cache, facts, stored)
    for update in events:
        if isinstance(update, DeliveryUpdate):
            await outbox.apply_delivery_update(db, facts.id, update)
    return WebhookAnswer(status=200, body="ok")


INTAKE_CACHE: Part[IntakeCache] = Part("intake_cache")
