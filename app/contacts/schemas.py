"""Request bodies of the customers API, and the customer's one shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.contacts.identities import EMAIL, PHONE
from app.conversations.schemas import (
    Body,
    ConversationOut,
    CustomerContext,
    MessageOut,
    Out,
    StrictDbId,
    Timestamp,
)
from app.kit.api_schema import NoNul
from app.kit.email_address import EmailAddress
from app.kit.text import Storable
from app.models import Customer, Identity

SuggestionState = Literal["pending", "accepted", "rejected"]


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_customer_id: StrictDbId = Field(description="not the customer of the path")


class ConversationStart(BaseModel):
    """An agent's first message to the customer on another channel."""

    model_config = ConfigDict(extra="forbid")

    inbox_id: StrictDbId
    body: Body
    subject: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Storable, NoNul]
        | None
    ) = None
    # Email: which of the customer's addresses (default: a verified one, else
    # the one they gave).
    email: Annotated[EmailAddress, Storable, NoNul] | None = None


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


# -- answers -------------------------------------------------------------------


class IdentityOut(Out):
    channel: str
    external_id: str
    verified: bool


class CustomerOut(Out):
    id: int
    name: str | None
    email: str | None
    emails: list[str] = Field(description="verified addresses, and the one on file")
    claimed_email: str | None = Field(
        description="what the customer typed in and nobody verified: shown, never matched on"
    )
    phones: list[str]
    identities: list[IdentityOut]
    merged_into_id: int | None
    erased: bool
    created_at: Timestamp


class MergeOut(Out):
    id: int
    customer_id: int = Field(description="the customer kept")
    other_customer_id: int = Field(description="the customer folded into it")
    reason: str = Field(description="`agent`, `suggestion` or `verified_email`")
    actor_agent_id: int | None
    identity_ids: list[int]
    conversation_ids: list[int]
    resolved_conversation_ids: list[int]
    fields: list[str] = Field(description="the kept customer's empty fields filled by the merge")
    created_at: Timestamp
    undone_at: Timestamp | None


class CustomerMerged(CustomerOut):
    merge: MergeOut


class MergePage(Out):
    items: list[MergeOut]
    next_cursor: str | None


class SuggestionOut(Out):
    id: int
    customer_id: int
    other_customer_id: int
    reason: str
    state: SuggestionState
    created_at: Timestamp
    decided_at: Timestamp | None
    merge_id: int | None


class SuggestionPage(Out):
    items: list[SuggestionOut]
    next_cursor: str | None


class ConversationStarted(Out):
    conversation: ConversationOut
    message: MessageOut


class ExportedCustomer(Out):
    id: int
    name: str | None
    email: str | None
    claimed_email: str | None
    phone: str | None
    language: str | None
    created_at: Timestamp
    erased_at: Timestamp | None
    last_context: CustomerContext | None = Field(
        description="the page, browser, language and time zone the widget last reported"
    )


class ExportedIdentity(Out):
    channel: str
    namespace: str
    external_id: str
    verified: bool
    created_at: Timestamp


class ExportedRating(Out):
    rating: int
    comment: str | None


class ExportedConversation(Out):
    id: int
    inbox_id: int
    channel: str
    status: str
    subject: str | None
    created_at: Timestamp
    messages: list[MessageOut]
    csat: ExportedRating | None


class ExportedFile(Out):
    id: str
    message_id: int
    filename: str
    content_type: str
    size: int


class CustomerExport(Out):
    """Everything held about the customer and those merged into them."""

    customer: ExportedCustomer
    merged_customers: list[ExportedCustomer]
    identities: list[ExportedIdentity]
    conversations: list[ExportedConversation]
    attachments: list[ExportedFile]
    merges: list[MergeOut]
    exported_at: Timestamp


class Erasure(Out):
    id: int
    customer_id: int
    counts: dict[str, int] = Field(description="how many rows of each kind were erased")
    erased_at: Timestamp
