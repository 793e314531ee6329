"""Which automatic reply a customer's message calls for, decided as it is
stored, so the reply's job commits with the message.

- greeting: a chat's (web or social) first message, while the inbox is open;
- away: a chat message while the inbox is closed;
- acknowledgement: every message on an asynchronous channel (mail: the
  adapters say which, app/channels/base.py), open or closed.

Nothing automatic is ever answered (the channels mark auto-replies, bounces,
lists and bots as `automatic`), and the jobs table's unique dedupe key lets
one reply of each kind per conversation through per window, however many
messages or redeliveries arrive. The job itself (auto_reply.py) checks the
window exactly and stays quiet while an agent is talking to the customer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.channels.base import InboundMessage
from app.conversations.writer import JobSpec
from app.db import Database
from app.inboxes import calendar
from app.inboxes import repository as inboxes_repo
from app.inboxes.calendar import BusinessHours
from app.responders.templates import Responder, told_language

AUTO_REPLY = "auto_reply"
# How stale an inbox's hours and templates may be in another process after an
# admin changes them (this process forgets them at once).
SETTINGS_CACHE_SECONDS = 10.0
SETTINGS_CACHE_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class InboxResponders:
    """An inbox's business hours and responder templates, as plain values."""

    hours: BusinessHours | None
    templates: dict[str, Any]
    # Seconds within which a conversation gets at most one reply of a kind.
    window_seconds: int
    # The responders that answer at all: decided when the settings are read,
    # not on every message.
    enabled: frozenset[Responder] = frozenset()

    def on(self, responder: Responder) -> bool:
        return responder in self.enabled


def _answers(responder: Responder, hours: BusinessHours | None, templates: dict[str, Any]) -> bool:
    if responder.value in templates:
        value = templates[responder.value]
        return isinstance(value, str) and bool(value.strip())
    # A greeting by default only where the admin set up business hours: an
    # around-the-clock inbox is a plain chat unless a greeting is written.
    return responder is not Responder.GREETING or hours is not None


# What a chat message may get; an inbox with neither needs no clock read.
CHAT_RESPONDERS = frozenset({Responder.GREETING, Responder.AWAY})


class ResponderSettings:
    """Each inbox's InboxResponders, kept in memory: every customer message
    asks, and must not wait for the database on the way to the writer (a
    chat's burst would be stored out of order). Entries are primed from rows
    already read (a widget socket's inbox, a webhook's) and from the change
    event itself; one older than SETTINGS_CACHE_SECONDS is still answered
    while it is read again in the background (an event another process
    missed heals that soon). Only an inbox never seen waits, once, and every
    message waiting for it resumes in arrival order."""

    def __init__(self, window_seconds: int, async_channels: Collection[str] | None = None) -> None:
        self.window_seconds = window_seconds
        # The channels customers write on and wait: the registry's async_kinds(),
        # set at start-up (responders/wiring.py).
        self.async_channels = frozenset(async_channels or ())
        self._entries: dict[int, tuple[float, InboxResponders]] = {}
        self._loading: dict[int, asyncio.Future[InboxResponders | None]] = {}

    def prime(
        self,
        inbox_id: int,
        business_hours: Mapping[str, Any] | None,
        responders: Mapping[str, Any] | None,
    ) -> InboxResponders:
        hours = calendar.from_json(business_hours)
        templates = dict(responders or {})
        found = InboxResponders(
            hours=hours,
            templates=templates,
            window_seconds=self.window_seconds,
            enabled=frozenset(r for r in Responder if _answers(r, hours, templates)),
        )
        if len(self._entries) >= SETTINGS_CACHE_ENTRIES and inbox_id not in self._entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[inbox_id] = (time.monotonic() + SETTINGS_CACHE_SECONDS, found)
        return found

    async def of(self, db: Database, inbox_id: int) -> InboxResponders | None:
        entry = self._entries.get(inbox_id)
        if entry is not None:
            if entry[0] < time.monotonic() and inbox_id not in self._loading:
                self._load(db, inbox_id)
            return entry[1]
        loading = self._loading.get(inbox_id) or self._load(db, inbox_id)
        return await asyncio.shield(loading)

    def _load(self, db: Database, inbox_id: int) -> asyncio.Future[InboxResponders | None]:
        future: asyncio.Future[InboxResponders | None] = asyncio.get_running_loop().create_future()
        self._loading[inbox_id] = future

        async def read() -> None:
            try:
                async with db.read() as session:
                    inbox = await inboxes_repo.get(session, inbox_id)
                found = (
                    self.prime(inbox.id, inbox.business_hours, inbox.responders)
                    if inbox is not None
                    else None
                )
                future.set_result(found)
            except Exception as exc:  # noqa: BLE001 - handed to every waiter
                future.set_exception(exc)
                if not future.cancelled():
                    future.exception()  # retrieved: a background refresh has no waiter
            finally:
                self._loading.pop(inbox_id, None)

        task = asyncio.create_task(read(), name=f"responder-settings-{inbox_id}")
        _background.add(task)
        task.add_done_callback(_background.discard)
        return future


_background: set[asyncio.Task[None]] = set()


# One per process, like the clock: the intake of every channel asks it, and
# responders/wiring.py sets the window from the settings and `async_channels`
# from the channel registry (asynchronous plug-ins included).
DEFAULT_WINDOW_SECONDS = 24 * 3600
responder_settings = ResponderSettings(DEFAULT_WINDOW_SECONDS)


def plan(
    channel: str,
    settings: InboxResponders,
    inbound: InboundMessage,
    now: datetime,
    *,
    async_channels: Collection[str] | None = None,
) -> tuple[JobSpec, ...]:
    """The automatic reply's job for a customer's message to a live inbox.
    `async_channels`: the registry's asynchronous kinds; by default the
    process's (`responder_settings.async_channels`)."""
    if inbound.automatic:
        return ()
    if async_channels is None:
        async_channels = responder_settings.async_channels
    if channel in async_channels:
        responder = Responder.ACKNOWLEDGEMENT
    elif not settings.enabled & CHAT_RESPONDERS:
        return ()
    elif calendar.is_open(settings.hours, now):
        responder = Responder.GREETING
    else:
        responder = Responder.AWAY
    if not settings.on(responder):
        return ()
    window = max(1, settings.window_seconds)
    # The window's number: the key lets one reply per conversation through
    # per window (the job checks the exact span since the last one).
    period = int(now.timestamp()) // window
    key = f"auto:{responder.value}:{{conversation_id}}:{period}"
    payload: dict[str, Any] = {"responder": responder.value, "period": period}
    language = told_language(inbound.sender.language, inbound.text)
    if language is not None:
        payload["language"] = language
    return (
        JobSpec(
            AUTO_REPLY,
            payload=payload,
            dedupe_key=key,
            only_if_opened=responder is Responder.GREETING,
            max_attempts=5,
        ),
    )
