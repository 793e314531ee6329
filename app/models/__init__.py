"""Every table, imported here so Alembic and the app see one metadata."""

from app.models.agent import AccessToken, Agent, AgentTeam, Team
from app.models.base import Base
from app.models.canned_response import CannedResponse
from app.models.chat_link import ChatLinkUse
from app.models.conversation import Conversation
from app.models.customer import Customer, Identity, WidgetSession
from app.models.customer_merge import CustomerErasure, CustomerMerge, MergeSuggestion
from app.models.email_confirmation import EmailConfirmation
from app.models.inbox import Inbox, InboxTeam
from app.models.job import Job
from app.models.mail import Attachment, ImapCursor, MailSource
from app.models.message import CsatResponse, Message
from app.models.report import (
    CsatRequest,
    ReportCursor,
    ReportMeasurement,
    ServicePolicy,
    SlaEvent,
)

__all__ = [
    "AccessToken",
    "Agent",
    "AgentTeam",
    "Attachment",
    "Base",
    "CannedResponse",
    "ChatLinkUse",
    "Conversation",
    "CsatRequest",
    "CsatResponse",
    "Customer",
    "CustomerErasure",
    "CustomerMerge",
    "EmailConfirmation",
    "Identity",
    "ImapCursor",
    "Inbox",
    "InboxTeam",
    "Job",
    "MailSource",
    "MergeSuggestion",
    "Message",
    "ReportCursor",
    "ReportMeasurement",
    "ServicePolicy",
    "SlaEvent",
    "Team",
    "WidgetSession",
]
