"""The router: listens to the bus and runs assignment passes as things change.

No periodic sweep: a conversation opened, reopened, resolved, transferred or
unassigned, an agent coming online, choosing online or away, going offline
(after the presence grace period), or changed or deactivated by an admin
(`AgentChanged`), an inbox's business hours changed, or a closed inbox
opening (a timer the pass left) each wake the router, and one pass serves
everything that changed meanwhile. While an inbox is closed
(`calendar.is_open`, the same answer the away responder and the widget's
availability give) nothing of it is assigned automatically: its
conversations wait in the queue, where agents may take them by hand.
Passes in this process run one at a time (one task); across processes the
database's row locks keep them apart (app/routing/assign.py).

After each pass the waiting customers whose place in the queue or expected
wait changed are told, through a `QueueChanged` event that the hub renders as
`status` frames.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Iterable
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository as agents_repo
from app.conversations import access
from app.conversations.publishing import change_event, conversation_changed
from app.db import Database
from app.events.bus import EventBus
from app.events.domain import (
    AgentChanged,
    AgentPresenceChanged,
    ConversationChanged,
    Event,
    InboxSettingsChanged,
    JobsQueued,
    MessageStored,
    QueueChanged,
    QueuePlace,
)
from app.kit.background import BackgroundLoop
from app.kit.clock import clock
from app.responders.estimate import (
    DEFAULT_HANDLING_SECONDS,
    HANDLING_SAMPLES,
    HANDLING_WINDOW,
    QueueNow,
    queue_wait,
)
from app.routing import repository as routing_repo
from app.routing.assign import Assigner, PassOutcome
from app.routing.pass_store import InboxRouting
from app.routing.policies import Candidate
from app.runtime import Part

log = logging.getLogger(__name__)

# The estimate changes slowly; reading it once a minute per inbox is plenty.
HANDLING_CACHE_SECONDS = 60.0
# Telling the queue reads all of it: with 10 000 waiting a tell costs about
# 30 ms more than with 20 (bench/routing.py), and in a burst of first
# contacts every pass would tell it again. At most this often in a burst;
# the first change after a quiet spell is told at once.
QUEUE_TELL_SECONDS = 0.5
# The one estimator (app/responders/estimate.py), under routing's old name.
expected_wait = queue_wait

_Place = tuple[int, int, int, int]


class OnlineAgents(Protocol):
    """Presence as routing reads it: in this process's memory now
    (app/agents/presence.py); a shared store can stand in for it later."""

    def status(self, agent_id: int) -> Literal["online", "away", "offline"]: ...

    def online_agent_ids(self) -> list[int]: ...


class Router:
    def __init__(self, db: Database, bus: EventBus, presence: OnlineAgents) -> None:
        self.db = db
        self.bus = bus
        self.presence = presence
        self.assigner = Assigner(is_postgres=not db.is_sqlite)
        self.lock = asyncio.Lock()
        self.passes = 0
        self.assignments = 0
        self.answer_timeouts = 0
        self._queue_changed = True
        self._queue_untold = False
        self._queue_told_at = -QUEUE_TELL_SECONDS
        self._loop = BackgroundLoop(
            self._pass,
            name="router",
            # A lock timeout or a lost connection: try again soon, not in a spin.
            backoff=lambda failures: min(5.0, 0.05 * 2**failures),
            log=log,
        )
        # Agents who went offline, and reopened conversations whose assignee
        # is offline: taken back at the start of the next pass.
        self._departed: set[int] = set()
        self._deactivated: set[int] = set()
        self._orphans: set[tuple[int, int]] = set()
        # Assignments this router made, whose events need no further pass.
        self._own: set[tuple[int, int]] = set()
        # conversation id → (inbox id, customer id, position, expected wait)
        self._places: dict[int, _Place] = {}
        self._slots_key: object = None
        self._slots_cache: dict[int, int] = {}
        self._handling: dict[int, tuple[float, float]] = {}
        # The last pass's online agents and inboxes: the queue as promises see it.
        self._online: list[Candidate] = []
        self._inboxes: dict[int, InboxRouting] = {}

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        self.kick()
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def kick(self, *, queue_changed: bool = True) -> None:
        """Asks for a pass; any number of kicks before it starts make one.
        `queue_changed`: the queue's places need telling again afterwards."""
        self._queue_changed = self._queue_changed or queue_changed
        self._loop.wake()

    def agent_changed(self, agent_id: int) -> None:
        """An agent's capacity, skills or teams changed: read them again, route."""
        self.assigner.agent_changed(agent_id)
        self.kick()

    def on_event(self, event: Event) -> None:
        """Bus subscriber (synchronous): notes what changed and wakes the task."""
        if isinstance(event, ConversationChanged):
            scope = event.scope
            if scope.assignee_id is not None or scope.status != "open":
                # Out of the queue: its place goes now, not at the next
                # telling (a widget connecting meanwhile reads `place_of`).
                self._places.pop(scope.conversation_id, None)
            changed = {a for a in (scope.assignee_id, *event.notify_agent_ids) if a is not None}
            self.assigner.load_changed(changed)
            if event.change == "assigned" and scope.assignee_id is not None:
                own = (scope.conversation_id, scope.assignee_id)
                if own in self._own:
                    self._own.discard(own)
                    return
            if (
                event.change == "reopened"
                and scope.assignee_id is not None
                and self.presence.status(scope.assignee_id) == "offline"
            ):
                self._orphans.add((scope.conversation_id, scope.assignee_id))
            self.kick()
        elif (
            isinstance(event, MessageStored)
            and not self.db.is_sqlite
            and event.scope.assignee_id is None
            and event.scope.status == "open"
        ):
            # PostgreSQL: a pass skips a waiting conversation whose row the
            # message writer holds (SKIP LOCKED). Its commit is this event:
            # look again, so a skipped conversation does not wait for the
            # next change to be served.
            self.kick(queue_changed=False)
        elif isinstance(event, AgentPresenceChanged):
            # Coming or going, read them afresh: teams may have changed meanwhile.
            self.assigner.agent_changed(event.agent_id)
            if event.status == "offline":
                self._departed.add(event.agent_id)
            self.kick()
        elif isinstance(event, InboxSettingsChanged):
            # New business hours may open (or close) an inbox to routing now.
            self.assigner.inboxes_changed()
            self.kick()
        elif isinstance(event, AgentChanged):
            # An admin changed them: room, skills or teams may let waiting
            # conversations go now. A deactivated agent's go back at once,
            # whatever presence says while their sockets close.
            self.assigner.agent_changed(event.agent_id)
            if not event.active:
                self._deactivated.add(event.agent_id)
            self.kick()

    def place_of(self, conversation_id: int) -> QueuePlace | None:
        """Where a waiting conversation stands, as of the last pass."""
        place = self._places.get(conversation_id)
        return QueuePlace(conversation_id, *place) if place is not None else None

    @property
    def waiting(self) -> int:
        """Conversations in the queue, as of the last pass."""
        return len(self._places)

    async def queue_now(self, inbox_id: int) -> QueueNow:
        """The inbox's queue and the room its online agents have, as of the
        last pass, for the promise made to a customer who writes now."""
        waiting = sum(1 for place in self._places.values() if place[0] == inbox_id)
        inbox = self._inboxes.get(inbox_id)
        serving = [c for c in self._online if inbox is not None and _serves(c, inbox)]
        handling = self._cached_handling(inbox_id)
        if handling is None:  # read once a minute; every widget socket opening asks
            async with self.db.read() as session:
                handling = await self._handling_seconds(session, inbox_id)
        return QueueNow(
            waiting=waiting,
            slots=sum(c.capacity for c in serving),
            free_slots=sum(max(0, c.capacity - c.load) for c in serving),
            handling_seconds=handling,
        )

    async def _pass(self) -> float | None:
        await self.run_once(hold_queue=True)
        if self._queue_untold:
            return max(0.0, self._queue_told_at + QUEUE_TELL_SECONDS - time.monotonic())
        return None

    # -- one round -----------------------------------------------------------

    async def run_once(self, *, hold_queue: bool = False) -> PassOutcome:
        """Takes back what departed agents held, assigns, tells the queue.
        `hold_queue`: a tell within QUEUE_TELL_SECONDS of the last one waits
        (`_queue_untold`) for a later pass."""
        async with self.lock:
            queue_changed, self._queue_changed = self._queue_changed, False
            departed, self._departed = self._departed, set()
            for agent_id in sorted(departed):
                await self._take_back(agent_id)
            deactivated, self._deactivated = self._deactivated, set()
            for agent_id in sorted(deactivated):
                await self._take_back(agent_id, deactivated=True)
            departed |= deactivated
            orphans, self._orphans = self._orphans, set()
            if orphans:
                await self._release_orphans(orphans)
            outcome = await self._assign()
            if queue_changed or outcome.assigned or departed or orphans:
                self._queue_untold = True
            if self._queue_untold and (
                not hold_queue or time.monotonic() >= self._queue_told_at + QUEUE_TELL_SECONDS
            ):
                self._queue_untold = False
                self._queue_told_at = time.monotonic()
                await self._tell_queue(outcome)
            return outcome

    async def _take_back(self, agent_id: int, *, deactivated: bool = False) -> None:
        """An agent went offline, or was deactivated: their conversations go
        back to the queue, each at its old place."""
        async with self.db.write() as session:
            # Not while a pass (of any process) may be giving them more.
            await routing_repo.one_pass_at_a_time(session)
            if deactivated:
                # Reactivated since: they keep what they have.
                agent = await agents_repo.get(session, agent_id)
                if agent is not None and agent.is_active:
                    return
            # Back within the grace period after all (or online elsewhere).
            elif self.presence.status(agent_id) != "offline":
                return
            ids = await routing_repo.take_back(session, agent_id, clock.now())
            for conversation_id in ids:
                await conversation_changed(
                    session, "assigned", conversation_id, notify_agents=(agent_id,)
                )
        if ids:
            log.info(
                "agent %s %s: %s conversations back in the queue",
                agent_id,
                "was deactivated" if deactivated else "went offline",
                len(ids),
            )

    async def _release_orphans(self, orphans: Iterable[tuple[int, int]]) -> None:
        async with self.db.write() as session:
            for conversation_id, agent_id in sorted(orphans):
                if self.presence.status(agent_id) != "offline":
                    continue
                if await routing_repo.release(session, conversation_id, agent_id, clock.now()):
                    await conversation_changed(
                        session, "assigned", conversation_id, notify_agents=(agent_id,)
                    )

    async def _assign(self) -> PassOutcome:
        online = self.presence.online_agent_ids()
        changes = self.assigner.take_changes()
        try:
            # One call: on SQLite the whole pass runs in the writer's thread.
            outcome = await self.db.write_batch(
                lambda conn: self.assigner.run(conn, online, clock.now(), changes=changes)
            )
        except BaseException:
            # Rolled back: what this pass learnt of loads is not so.
            self.assigner.reset()
            raise
        self.passes += 1
        self.assignments += len(outcome.assigned)
        self._online, self._inboxes = outcome.online, outcome.inboxes
        # Committed: now the events, each with the conversation as it is.
        if outcome.assigned:
            async with self.db.read() as session:
                events = [
                    await change_event(session, "assigned", made.conversation_id)
                    for made in outcome.assigned
                ]
            for made in outcome.assigned:
                self._own.add((made.conversation_id, made.agent_id))
            for event in events:
                await self.bus.publish(event)
        if outcome.timers:
            await self.bus.publish(JobsQueued())
        return outcome

    # -- the queue as customers see it ---------------------------------------

    async def _tell_queue(self, outcome: PassOutcome) -> None:
        async with self.db.read() as session:
            waiting = await routing_repo.queue(session)
            inboxes = outcome.inboxes
            if not {inbox_id for _, inbox_id, _ in waiting} <= inboxes.keys():
                # An inbox made since the settings were read.
                inboxes = await session.run_sync(
                    lambda sync: self.assigner.inbox_map(sync.connection(), fresh=True)
                )
            handling = {
                inbox_id: await self._handling_seconds(session, inbox_id)
                for inbox_id in {inbox_id for _, inbox_id, _ in waiting}
                if inbox_id in inboxes
            }
        slots = self._slots(outcome, inboxes)
        places: dict[int, _Place] = {}
        positions: dict[int, int] = {}
        changed: list[QueuePlace] = []
        before = self._places
        for conversation_id, inbox_id, customer_id in waiting:
            handling_seconds = handling.get(inbox_id)
            if handling_seconds is None or not inboxes[inbox_id].live:
                continue
            position = positions[inbox_id] = positions.get(inbox_id, 0) + 1
            place = (
                inbox_id,
                customer_id,
                position,
                queue_wait(position, handling_seconds, slots.get(inbox_id, 0)),
            )
            places[conversation_id] = place
            if before.get(conversation_id) != place:
                changed.append(QueuePlace(conversation_id, *place))
        self._places = places
        if changed:
            await self.bus.publish(QueueChanged(tuple(changed)))

    def _slots(self, outcome: PassOutcome, inboxes: dict[int, InboxRouting]) -> dict[int, int]:
        """The capacity of the online agents serving each inbox, kept while
        neither who is online nor the inboxes changed."""
        key = (self.assigner.generation, tuple(sorted((i, x.team_ids) for i, x in inboxes.items())))
        if self._slots_key != key:
            self._slots_cache = {
                inbox_id: _slots(outcome.online, inbox) for inbox_id, inbox in inboxes.items()
            }
            self._slots_key = key
        return self._slots_cache

    def _cached_handling(self, inbox_id: int) -> float | None:
        cached = self._handling.get(inbox_id)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    async def _handling_seconds(self, session: AsyncSession, inbox_id: int) -> float:
        """The median time from assignment to resolve in the inbox, lately."""
        cached = self._cached_handling(inbox_id)
        if cached is not None:
            return cached
        now = time.monotonic()
        samples = await routing_repo.handling_seconds(
            session, inbox_id, clock.now() - HANDLING_WINDOW, limit=500
        )
        value = (
            statistics.median(samples)
            if len(samples) >= HANDLING_SAMPLES
            else DEFAULT_HANDLING_SECONDS
        )
        self._handling[inbox_id] = (now + HANDLING_CACHE_SECONDS, value)
        return value


def _slots(online: list[Candidate], inbox: InboxRouting) -> int:
    """The capacity of the online agents who serve the inbox."""
    return sum(c.capacity for c in online if _serves(c, inbox))


def _serves(candidate: Candidate, inbox: InboxRouting) -> bool:
    return access.serves_inbox(candidate.team_ids, inbox.team_ids)


ROUTER: Part[Router] = Part("router")
