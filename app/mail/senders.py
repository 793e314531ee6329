"""Who wrote the mails, and whose mail they answer, for many mails at once.

Under load most mail comes from someone new, and each database round trip
costs several thread hops (aiosqlite), each waiting for the GIL while the
writer's thread works. Mails that arrive together therefore share one read
(the senders' customers and the owners of the mails they name) and, for the
senders not known yet, one write transaction, as the message writer groups
its commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.channels.base import Sender
from app.contacts import merge as merges
from app.contacts.identities import e164, email_key
from app.db import Database
from app.kit.coalesce import Coalescer
from app.kit.text import make_storable
from app.mail import repository as mail_repo

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class Found:
    customer_id: int
    # Customers whose conversations hold a mail this one names.
    reference_owners: frozenset[int]


@dataclass(frozen=True, slots=True)
class _Wanted:
    inbox_id: int
    sender: Sender
    references: Sequence[str]


class SenderLookup:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._batches: Coalescer[_Wanted, Found] = Coalescer(self._resolve_all)

    async def find(self, inbox_id: int, sender: Sender, references: Sequence[str]) -> Found:
        """The sender's customer (a new one for a sender nobody vouches for),
        and the owners of the mails that `references` name in this inbox."""
        return await self._batches.submit(_Wanted(inbox_id, sender, references))

    async def _resolve_all(self, wanted: list[_Wanted]) -> list[Found]:
        found: list[Found] = []
        for start in range(0, len(wanted), MAX_BATCH):
            found += await self._resolve(wanted[start : start + MAX_BATCH])
        return found

    async def _resolve(self, batch: list[_Wanted]) -> list[Found]:
        senders = [w.sender for w in batch]
        verified = sorted({s.external_id for s in senders if s.verified})
        unverified = [i for i, s in enumerate(senders) if not s.verified]
        # An unverified sender's address is a claim: one an owner holds
        # becomes a merge suggestion for an agent (contacts.customer_for_sender).
        claims = {i: email_key(senders[i].email or "") for i in unverified if senders[i].email}
        references: dict[int, set[str]] = {}
        for wanted in batch:
            references.setdefault(wanted.inbox_id, set()).update(wanted.references)
        known: dict[str, int] = {}
        owners: dict[tuple[int, str], set[int]] = {}
        if verified or claims or any(references.values()):
            async with self._db.read() as session:
                if verified or claims:
                    addresses = sorted({*verified, *claims.values()})
                    known = await mail_repo.customers_by_address(session, addresses)
                for inbox_id, ids in references.items():
                    if ids:
                        for ref, owner in await mail_repo.reference_owners(session, inbox_id, ids):
                            owners.setdefault((inbox_id, ref), set()).add(owner)
        new = {
            s.external_id: (s.external_id, s.name, s.email)
            for s in senders
            if s.verified and s.external_id not in known
        }
        others: dict[int, int] = {}
        if new or unverified:
            async with self._db.write() as session:
                known.update(await mail_repo.create_customers(session, list(new.values())))
                people = [(_storable(senders[i].name), e164(senders[i].phone)) for i in unverified]
                created = await mail_repo.create_unverified_customers(session, people)
                others = dict(zip(unverified, created, strict=True))
                for index, address in claims.items():
                    if address in known:
                        await merges.suggest(
                            session, known[address], others[index], "claimed_email"
                        )
        return [
            Found(
                customer_id=known[w.sender.external_id] if w.sender.verified else others[i],
                reference_owners=frozenset(
                    owner for ref in w.references for owner in owners.get((w.inbox_id, ref), ())
                ),
            )
            for i, w in enumerate(batch)
        ]


def _storable(name: str | None) -> str | None:
    return make_storable(name) if name else None
