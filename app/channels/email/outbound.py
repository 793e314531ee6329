"""Agent replies as mail: composed to thread under the customer's mail, and
handed to the relay that `MADOGUCHI_SMTP_RELAY` names.

The relay URL is `smtp://[user[:password]@]host[:port][?starttls=1|0][&verify=0][&timeout=S]`
or `smtps://...` for TLS from the first byte (port 465). Without `starttls`,
STARTTLS is used when the relay offers it; `starttls=1` requires it, and
`starttls=0` never uses it. User and password are percent-encoded.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import parse_qs, unquote, urlsplit

from app.channels.base import ChannelPermanentError, OutboundMessage
from app.kit.clock import clock

_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|antw|fwd?|返信|回复|답장)\s*(\[\d+\])?\s*[:：]\s*)+", re.I
)
# Message-IDs are stable per reply: a retry after a relay that took the mail
# but timed out before saying so sends the same Message-ID, which the
# customer's mail provider folds into one.
_MESSAGE_ID_NAMESPACE = uuid.UUID("5b0b7f55-1f0e-4a43-9f44-6f6d61646f67")


@dataclass(frozen=True, slots=True)
class Relay:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    # None: STARTTLS when offered; True: required; False: never.
    start_tls: bool | None = None
    validate_certs: bool = True
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> Relay:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "MADOGUCHI_SMTP_RELAY is smtp://[user[:password]@]host[:port][?starttls=1]"
                " or smtps://..."
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        tls = parts.scheme == "smtps"

        def flag(name: str) -> bool | None:
            value = query.get(name)
            if value is None:
                return None
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"MADOGUCHI_SMTP_RELAY: {name} is 1 or 0, not {value!r}")

        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=tls,
            start_tls=None if tls else flag("starttls"),
            validate_certs=flag("verify") is not False,
            timeout=float(query.get("timeout", "30")),
        )

    def describe(self) -> str:
        """Where mail goes, for logs and errors: never the password."""
        return f"{'smtps' if self.use_tls else 'smtp'}://{self.host}:{self.port}"


def message_id_for(address: str, message: OutboundMessage) -> str:
    domain = address.rpartition("@")[2]
    name = f"{address}/{message.conversation_id}/{message.message_id}"
    return f"{uuid.uuid5(_MESSAGE_ID_NAMESPACE, name).hex}@{domain}"


def reply_subject(subject: str | None) -> str:
    bare = _REPLY_PREFIX.sub("", one_line(subject or "")).strip()
    return f"Re: {bare}" if bare else "Re: your message"


def one_line(value: str) -> str:
    """Header text from what people typed: a subject or a name with line
    breaks (a pasted subject, a crafted one carrying `Bcc:`) stays one line
    of its words, never a header of its own."""
    return " ".join(value.split())


def _is_message_id(value: str | None) -> bool:
    # Our stand-ins for mail without a Message-ID are not ids anyone knows.
    return bool(value) and "@" in str(value) and not str(value).startswith("nomid.")


def compose(address: str, message: OutboundMessage) -> tuple[EmailMessage, str]:
    """The reply as a mail, and its Message-ID (without brackets)."""
    recipient = message.recipient.email
    if not recipient:
        raise ChannelPermanentError("the customer has no email address to reply to")
    message_id = message_id_for(address, message)
    author = one_line(message.author_name or "")
    mail = EmailMessage()
    mail["From"] = Address(display_name=author, addr_spec=address)
    to_local, _, to_domain = recipient.rpartition("@")
    mail["To"] = Address(
        display_name=one_line(message.recipient.name or ""), username=to_local, domain=to_domain
    )
    mail["Subject"] = reply_subject(message.subject)
    mail["Date"] = format_datetime(clock.now())
    mail["Message-ID"] = f"<{message_id}>"
    prior = message.last_inbound.external_id if message.last_inbound else None
    references = [r for r in message.references if _is_message_id(r) and r != message_id]
    if _is_message_id(message.thread_key) and message.thread_key not in references:
        references.insert(0, message.thread_key)  # the root, however long the thread
    if _is_message_id(prior):
        mail["In-Reply-To"] = f"<{prior}>"
        if prior not in references:
            references.append(str(prior))
    if references:
        mail["References"] = " ".join(f"<{r}>" for r in references)
    if message.automatic:
        # RFC 3834: no robot answers this (their out-of-office, our responders);
        # Exchange honours only its own header.
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    signature = f"\n\n-- \n{author}" if author else ""
    mail.set_content(f"{message.text}{signature}\n")
    escaped = html.escape(message.text).replace("\n", "<br>\n")
    signed = f'<p style="color:#555">-- <br>\n{html.escape(author)}</p>' if author else ""
    mail.add_alternative(
        f'<!DOCTYPE html><html><body><div style="white-space:pre-wrap">{escaped}</div>'
        f"{signed}</body></html>\n",
        subtype="html",
    )
    return mail, message_id


NO_RELAY = "not sent: this server has no outbound mail relay (the admin sets MADOGUCHI_SMTP_RELAY)"
