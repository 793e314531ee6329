"""The email channel's adapter: an inbox is an address; mail reaches it over
SMTP (the listener) or IMAP (a reader of its mailbox), and replies leave
through the relay. `parse` is pure; the transports (listener.py, imap.py)
hand raw mail to the email intake (intake.py), which calls the same parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from pydantic import BaseModel, Field, model_validator

from app.channels.base import (
    ChannelKind,
    DeliveryReceipt,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    WebhookAnswer,
)
from app.channels.email import outbound, relay_pool
from app.channels.email.parsing import parse_mail
from app.config import Settings
from app.errors import InvalidRequest
from app.kit.email_address import EmailAddress
from app.kit.network import HostAllowance, HostRefused, HostUnresolved, public_addresses


class ImapHostNotAllowed(InvalidRequest):
    code = "imap_host_not_allowed"


class ImapHostUnresolved(InvalidRequest):
    code = "imap_host_unresolved"


class ImapConfig(BaseModel):
    host: str = Field(min_length=1, max_length=253)
    # Default: 993 with TLS, 143 without.
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1000)
    # TLS from the first byte (IMAPS). False is plain IMAP: for a server on
    # the same host or a trusted network only.
    tls: bool = True
    folder: str = Field(default="INBOX", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _default_port(self) -> ImapConfig:
        if self.port is None:
            self.port = 993 if self.tls else 143
        return self


class EmailConfig(BaseModel):
    address: EmailAddress
    imap: ImapConfig | None = None


class EmailAdapter:
    kind: ClassVar[str] = ChannelKind.EMAIL.value
    config_model: ClassVar[type[EmailConfig]] = EmailConfig
    sends: ClassVar[bool] = True
    webhook_path: ClassVar[str | None] = None
    label: ClassVar[str] = "Email"
    localized_labels: ClassVar[Mapping[str, str]] = {"ja": "メール"}
    # A customer mails and waits: they get a receipt, not a chat's greeting.
    asynchronous: ClassVar[bool] = True

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.relay = outbound.Relay.from_url(settings.smtp_relay) if settings.smtp_relay else None
        # Replies reuse open sessions with the relay (relay_pool.py).
        self.relay_pool = relay_pool.RelayPool(self.relay) if self.relay else None
        self.max_attachment_bytes = settings.email_max_attachment_bytes
        self.max_body_chars = settings.max_message_chars
        self.imap_allowed_hosts = HostAllowance.parse(settings.imap_allowed_hosts)

    def public_address(
        self, config: EmailConfig, *, widget_key: str | None, public_url: str | None
    ) -> str | None:
        return str(config.address)

    async def check_config(self, config: EmailConfig) -> None:
        """Refuses an IMAP host inside our network (unless the setting
        `imap_allowed_hosts` exempts it); the reader checks again at each
        connection, as DNS may change."""
        if config.imap is None or config.imap.port is None:
            return
        try:
            await public_addresses(config.imap.host, config.imap.port, self.imap_allowed_hosts)
        # The addresses found are not told: the answer must not map our
        # internal DNS for whoever holds an admin's token.
        except HostRefused as exc:
            raise ImapHostNotAllowed(
                "config.imap.host: not a public address; a mail server inside the"
                " network must be named in MADOGUCHI_IMAP_ALLOWED_HOSTS"
            ) from exc
        except HostUnresolved as exc:
            raise ImapHostUnresolved("config.imap.host: the name does not resolve") from exc

    def verify(self, config: EmailConfig, request: InboundRequest) -> WebhookAnswer | None:
        # Mail is accepted by the listener for configured addresses only, or
        # read from the inbox's own mailbox: nothing else to check.
        return None

    def parse(self, config: EmailConfig, request: InboundRequest) -> Sequence[InboundEvent]:
        """`request.body` is the raw mail; `headers["mail-from"]` the envelope sender."""
        mail = parse_mail(
            request.body,
            envelope_from=request.headers.get("mail-from"),
            max_attachment_bytes=self.max_attachment_bytes,
        )
        return mail.events(max_body_chars=self.max_body_chars)

    async def send(self, config: EmailConfig, message: OutboundMessage) -> DeliveryReceipt:
        message_id = await relay_pool.send(self.relay_pool, config.address, message)
        return DeliveryReceipt(external_id=message_id)

    async def aclose(self) -> None:
        """Closes the sessions kept open with the relay (the process stops)."""
        if self.relay_pool is not None:
            await self.relay_pool.close()
