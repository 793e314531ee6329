"""The customers of mail senders, found or created for many mails at once.

Under load most mail comes from someone new; creating each customer in a
transaction of its own serialises every mail on the database's write lock
(SQLite), several round trips each. Mails that arrive together share one
lookup and, for the senders not known yet, one write transaction, as the
message writer groups its commits.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from app.channels.base import Sender
from app.channels.email import repository as mail_repo
from app.contacts import service as contacts
from app.db import Database

log = logging.getLogger(__name__)

MAX_BATCH = 256


@dataclass(slots=True)
class _Wanted:
    sender: Sender
    future: asyncio.Future[int] = field(repr=False)


class SenderCustomers:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[_Wanted] = []
        self._flushing: asyncio.Task[None] | None = None

    async def customer_id(self, sender: Sender) -> int:
        """The sender's customer (a new one for a sender nobody vouches for)."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append(_Wanted(sender, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            # Let the mails that arrived in the same moment join the batch.
            await asyncio.sleep(0)
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                found = await self._resolve([w.sender for w in batch])
            except Exception as exc:  # noqa: BLE001 - each caller answers for its mail
                for wanted in batch:
                    if not wanted.future.done():
                        wanted.future.set_exception(exc)
                continue
            for wanted, customer_id in zip(batch, found, strict=True):
                if not wanted.future.done():
                    wanted.future.set_result(customer_id)

    async def _resolve(self, senders: list[Sender]) -> list[int]:
        verified = sorted({s.external_id for s in senders if s.verified})
        known: dict[str, int] = {}
        if verified:
            async with self._db.read() as session:
                known = await mail_repo.customers_by_address(session, verified)
        new = {
            s.external_id: (s.external_id, s.name, s.email)
            for s in senders
            if s.verified and s.external_id not in known
        }
        unverified = [i for i, s in enumerate(senders) if not s.verified]
        others: dict[int, int] = {}
        if new or unverified:
            async with self._db.write() as session:
                known.update(await mail_repo.create_customers(session, list(new.values())))
                for index in unverified:
                    customer = await contacts.customer_for_sender(
                        session, "email", "", senders[index]
                    )
                    others[index] = customer.id
        return [known[s.external_id] if s.verified else others[i] for i, s in enumerate(senders)]
