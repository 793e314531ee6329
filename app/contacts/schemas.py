"""Request bodies of the customers API, and the customer's one shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.contacts.identities import EMAIL, PHONE
from app.conversations.schemas import Body
from app.kit.email_address import EmailAddress
from app.kit.numbers import DbId
from app.kit.text import Storable
from app.models import Customer, Identity

SuggestionState = Literal["pending", "accepted", "rejected"]


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_customer_id: DbId


class ConversationStart(BaseModel):
    """An agent's first message to the customer on another channel."""

    model_config = ConfigDict(extra="forbid")

    inbox_id: DbId
    body: Body
    subject: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Storable] | None
    ) = None
    # Email: which of the customer's addresses (default: a verified one, else
    # the one they gave).
    email: Annotated[EmailAddress, Storable] | None = None


def customer_out(customer: Customer, identities: Sequence[Identity]) -> dict[str, Any]:
    emails = sorted(
        {i.external_id for i in identities if i.channel == EMAIL and i.verified}
        | ({customer.email} if customer.email else set())
    )
    phones = sorted(
        {i.external_id for i in identities if i.channel == PHONE}
        | ({customer.phone} if customer.phone else set())
    )
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "emails": emails,
        # What the customer typed in and nobody verified: shown, never matched on.
        "claimed_email": customer.claimed_email,
        "phones": phones,
        "identities": [
            {"channel": i.channel, "external_id": i.external_id, "verified": i.verified}
            for i in identities
        ],
        "merged_into_id": customer.merged_into_id,
        "erased": customer.erased_at is not None,
        "created_at": customer.created_at.isoformat(),
    }
