"""A raw mail read into what the help desk needs, with the standard `email`
package (`policy.default`). Pure: bytes in, values out, nothing looked up.

Mail is hostile input. Whatever arrives is read as well as it can be and
never raises: broken encodings fall back to the next charset, a broken
structure to its headers and raw text. Time and memory stay bounded: the
parser's cost grows with the number of MIME parts (about a millisecond
each), so a mail with more parts or deeper nesting than any real mail has
is read in the degraded way, from its headers and raw body.

Charsets and encoded words are read in `charsets`, the MIME walk and the
attachments in `mime`, delivery reports in `bounces`.

Whether the author is who the From header says is not read here: a parsed
mail's sender is unverified until the mail service, which checked SPF, DKIM
and DMARC (app/mail/authentication.py), says otherwise with `authenticated`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import EmailPolicy
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from app.channels.base import (
    Attachment,
    DeliveryUpdate,
    InboundEvent,
    InboundMessage,
    Sender,
)
from app.channels.email import mime
from app.channels.email.bounces import bounce
from app.channels.email.charsets import LANGUAGE_OF_CHARSET, clean_text, header, header_text
from app.channels.email.charsets import decode_words as decode_words  # re-exported
from app.channels.email.quoting import split_quoted
from app.kit.email_address import normalise_email

# Beyond this, or beyond mime.MAX_PARTS parts, a mail is read in the degraded
# way (see the module's doc).
MAX_MULTIPART_MARKERS = 60
# Message-IDs fit the messages.external_id column (400) with room to spare.
MAX_ID_LENGTH = 380
MAX_REFERENCES = 50
MAX_HEADER_CHARS = 2000
TRUNCATED = "\n\n[…]"

_ID = re.compile(r"<([^<>\s]+)>")
# Authentication-Results headers read for the verdict (app/mail/authentication.py).
MAX_AUTHENTICATION_RESULTS = 20
UNVERIFIED = "unverified_sender"
# Headers responders and agents use, kept with the message.
KEPT_HEADERS = (
    "Message-ID",
    "Subject",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Date",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "Precedence",
    "List-Id",
    "Return-Path",
    "X-Auto-Response-Suppress",
    "Authentication-Results",
    "Content-Language",
)


class _ParsedHeadersCached(EmailPolicy):
    """`policy.default`, remembering parsed header values: the header registry
    costs ~0.4 ms a parse, the parser asks for a part's Content-Type several
    times, and most values ("text/plain; charset=utf-8") recur mail after
    mail. Header objects are immutable, so sharing them changes nothing."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name") or len(value) > 1000:
            return super().header_fetch_parse(name, value)
        return _parsed_header(name, value)


@lru_cache(maxsize=4096)
def _parsed_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


POLICY = _ParsedHeadersCached()


def normalise_id(value: str) -> str | None:
    """A Message-ID without its angle brackets; None when there is none."""
    found = _ID.search(value)
    mid = found.group(1) if found else value.strip()
    if not mid or any(c.isspace() for c in mid):
        return None
    mid = clean_text(mid)
    if len(mid) > MAX_ID_LENGTH:
        return "long." + hashlib.sha256(mid.encode()).hexdigest()
    return mid


def ids_in(value: str) -> list[str]:
    found = _ID.findall(value) or value.split()
    ids = []
    for raw in found[: MAX_REFERENCES * 2]:
        mid = normalise_id(f"<{raw.strip('<>')}>")
        if mid is not None and mid not in ids:
            ids.append(mid)
    return ids


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str  # normalised: the idempotency key
    from_address: str | None  # normalised (domain lowercased); None when unusable
    from_name: str | None
    subject: str
    sent_at: datetime | None
    # In-Reply-To first, then References, newest last.
    references: tuple[str, ...]
    thread_key: str
    text: str  # the whole text, quoted history included
    new_text: str  # what the customer wrote this time
    html: str | None  # sanitised
    attachments: tuple[mime.MailAttachment, ...]
    automatic: bool
    language: str | None
    headers: dict[str, str]
    # A delivery report about a mail we sent: its Message-ID and why.
    bounce_of: str | None = None
    bounce_error: str | None = None
    is_bounce: bool = False
    # Read from the headers and raw text only (broken or oversized structure).
    degraded: bool = False
    flags: tuple[str, ...] = field(default=())
    # Every Authentication-Results header, topmost (the latest hop's) first.
    authentication_results: tuple[str, ...] = ()
    # One From header naming one address: the only From that DMARC can verify.
    single_author: bool = True
    # Set by the mail service once SPF, DKIM and DMARC vouched for the From
    # domain (see `authenticated`); a mail read here alone is unverified.
    sender_verified: bool = False

    def authenticated(self, verified: bool) -> ParsedMail:
        """This mail with the mail service's verdict on its author."""
        verified = verified and self.from_address is not None and self.single_author
        flags = [flag for flag in self.flags if flag != UNVERIFIED]
        if not verified:
            flags.append(UNVERIFIED)
        return dataclasses.replace(self, sender_verified=verified, flags=tuple(flags))

    def sender(self) -> Sender:
        if self.from_address is None:
            # Nobody can be found by an address we could not read.
            return Sender(external_id="", name=self.from_name, verified=False)
        return Sender(
            # Identities compare case-insensitively, as the rest of the
            # platform records verified addresses (contacts.claim_verified_email).
            external_id=self.from_address.lower(),
            name=self.from_name,
            email=self.from_address,
            language=self.language,
            verified=self.sender_verified,
        )

    def inbound(
        self, *, max_body_chars: int, attachment_urls: Sequence[str | None] = ()
    ) -> InboundMessage:
        body = self.new_text
        if len(body) > max_body_chars:
            body = body[: max_body_chars - len(TRUNCATED)] + TRUNCATED
        urls = list(attachment_urls) + [None] * (len(self.attachments) - len(attachment_urls))
        return InboundMessage(
            external_id=self.message_id,
            thread_key=self.thread_key,
            sender=self.sender(),
            text=body,
            sent_at=self.sent_at,
            subject=self.subject or None,
            in_reply_to=self.references,
            attachments=tuple(
                Attachment(a.filename, a.content_type, a.size, url)
                for a, url in zip(self.attachments, urls, strict=True)
            ),
            headers=self.headers,
            automatic=self.automatic,
        )

    def events(self, *, max_body_chars: int) -> list[InboundEvent]:
        found: list[InboundEvent] = [self.inbound(max_body_chars=max_body_chars)]
        if self.bounce_of is not None:
            found.append(DeliveryUpdate(self.bounce_of, "failed", self.bounce_error))
        return found


def parse_mail(
    raw: bytes,
    *,
    envelope_from: str | None = None,
    max_attachment_bytes: int = 10 * 1024 * 1024,
) -> ParsedMail:
    """Reads a raw RFC 5322 mail; `envelope_from` is SMTP's MAIL FROM ("" for
    a bounce's null sender, None when unknown, as from IMAP)."""
    degraded = _too_complex(raw)
    message: Message
    try:
        if degraded:
            message = BytesHeaderParser(policy=POLICY).parsebytes(raw)
        else:
            message = BytesParser(policy=POLICY).parsebytes(raw)
    except Exception:  # noqa: BLE001 - hostile input may break the parser anywhere
        degraded = True
        message = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    try:
        return _read(message, raw, envelope_from, max_attachment_bytes, degraded)
    except (RecursionError, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - a part we cannot read must not lose the mail
        message = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        return _read(message, raw, envelope_from, max_attachment_bytes, True)


def _too_complex(raw: bytes) -> bool:
    return (
        raw.count(b"\n--") > mime.MAX_PARTS * 2
        or raw.lower().count(b"multipart/") > MAX_MULTIPART_MARKERS
    )


def _read(
    message: Message,
    raw: bytes,
    envelope_from: str | None,
    max_attachment_bytes: int,
    degraded: bool,
) -> ParsedMail:
    name, address = _from(message)
    message_id = normalise_id(header(message, "Message-ID")) or _stable_id(message, raw)
    in_reply_to = ids_in(header(message, "In-Reply-To"))
    references = ids_in(header(message, "References"))
    chain = [mid for mid in in_reply_to + references if mid != message_id]
    chain = list(dict.fromkeys(chain))[:MAX_REFERENCES]
    root = references[0] if references else (in_reply_to[0] if in_reply_to else message_id)
    if degraded:
        text, html, attachments = mime.raw_body(message, raw), None, []
        is_bounce, bounce_of, bounce_error = False, None, None
    else:
        text, html = mime.bodies(message)
        attachments = mime.attachments(message, max_attachment_bytes)
        is_bounce, bounce_of, bounce_error = bounce(message, message_id, normalise_id)
    new_text, _ = split_quoted(text)
    headers = {
        name_: value
        for name_ in KEPT_HEADERS
        if (value := header(message, name_, limit=MAX_HEADER_CHARS))
    }
    if envelope_from is not None:
        headers["X-Envelope-From"] = envelope_from
    automatic = is_bounce or _is_automatic(message, envelope_from)
    flags = []
    if automatic:
        flags.append("automatic")
    if is_bounce:
        flags.append("bounce")
    # Until the mail service's verdict says otherwise (ParsedMail.authenticated).
    flags.append(UNVERIFIED)
    if degraded:
        flags.append("unreadable_structure")
    return ParsedMail(
        message_id=message_id,
        from_address=address,
        from_name=name,
        subject=(
            header_text(message, "Subject", _body_charset(message)) or header(message, "Subject")
        )[:998],
        sent_at=_date(message),
        references=tuple(chain),
        thread_key=root,
        text=text,
        new_text=new_text,
        html=html,
        attachments=tuple(attachments),
        automatic=automatic,
        language=_language(message),
        headers=headers,
        bounce_of=bounce_of,
        bounce_error=bounce_error,
        is_bounce=is_bounce,
        degraded=degraded,
        flags=tuple(flags),
        authentication_results=tuple(
            _all_headers(message, "Authentication-Results")[:MAX_AUTHENTICATION_RESULTS]
        ),
        single_author=_single_author(message),
    )


# -- headers -------------------------------------------------------------------


def _all_headers(message: Message, name: str) -> list[str]:
    try:
        return [clean_text(str(v)) for v in message.get_all(name) or ()]
    except Exception:  # noqa: BLE001 - same as charsets.header
        return []


def _from(message: Message) -> tuple[str | None, str | None]:
    """(display name, address) of the author; the address None when unusable."""
    name: str | None = None
    address: str | None = None
    try:
        from_header: Any = message.get("From")
        for found in getattr(from_header, "addresses", ()):
            if found.addr_spec and "@" in found.addr_spec:
                name, address = found.display_name or None, found.addr_spec
                break
    except Exception:  # noqa: BLE001, S110 - the plain parser below tries again
        pass
    if address is None:
        name_, address_ = parseaddr(header(message, "From"))
        name, address = name_ or None, address_ or None
    if address is not None:
        try:
            address = normalise_email(clean_text(address))
        except ValueError:
            address = None
    source = header_text(message, "From", _body_charset(message))
    if source is not None:
        better = parseaddr(source)[0]
        name = better or name
    if name is not None:
        name = clean_text(" ".join(name.split()))[:200] or None
    return name, address


def _single_author(message: Message) -> bool:
    """Exactly one From header with exactly one address: DMARC verifies one
    domain, and a second author could be the one a reader sees."""
    try:
        found = message.get_all("From") or []
        if len(found) != 1:
            return False
        addresses = getattr(found[0], "addresses", None)
        if addresses is not None:
            return len(addresses) == 1
        return len(getaddresses([str(found[0])])) == 1
    except Exception:  # noqa: BLE001 - an unreadable From verifies nothing
        return False


def _body_charset(message: Message) -> str | None:
    """The charset of the first text part: what raw 8-bit headers are most
    likely written in."""
    for part in mime.leaves(message):
        if mime.ctype(part).startswith("text/"):
            return mime.param(part, "Content-Type", "charset")
    return None


def _date(message: Message) -> datetime | None:
    value = header(message, "Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


def _language(message: Message) -> str | None:
    tag = header(message, "Content-Language").split(",")[0].strip()
    if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", tag):
        return tag.split("-")[0].lower()
    for part in mime.leaves(message):
        if mime.ctype(part).startswith("text/"):
            language = LANGUAGE_OF_CHARSET.get(
                (mime.param(part, "Content-Type", "charset") or "").lower()
            )
            if language:
                return language
    return None


def _stable_id(message: Message, raw: bytes) -> str:
    """An id for a mail without Message-ID, the same however it reaches us (SMTP
    or IMAP, whose servers add trace headers at the top): its author, date,
    subject and body."""
    digest = hashlib.sha256()
    for name in ("From", "Date", "Subject", "To"):
        digest.update(header(message, name).encode("utf-8", "replace") + b"\0")
    body_start = raw.find(b"\r\n\r\n")
    if body_start < 0:
        body_start = raw.find(b"\n\n")
    digest.update(raw[body_start:].replace(b"\r\n", b"\n") if body_start >= 0 else b"")
    return f"nomid.{digest.hexdigest()[:40]}"


def _is_automatic(message: Message, envelope_from: str | None) -> bool:
    """Machine mail that no responder may answer (RFC 3834 and common practice)."""
    auto_submitted = header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if header(message, "Precedence").lower() in ("bulk", "junk", "list"):
        return True
    if header(message, "List-Id"):
        return True
    suppress = header(message, "X-Auto-Response-Suppress").lower()
    if any(token in suppress for token in ("all", "oof", "autoreply")):
        return True
    return_path = header(message, "Return-Path")
    # The null sender of bounces and other reports: aiosmtpd hands "<>" on.
    null_sender = envelope_from is not None and not envelope_from.strip().strip("<>").strip()
    return null_sender or return_path.replace(" ", "") == "<>"
