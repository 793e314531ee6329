"""A raw mail read into what the help desk needs, with the standard `email`
package (`policy.default`). Pure: bytes in, values out, nothing looked up.

Mail is hostile input. Whatever arrives is read as well as it can be and
never raises: broken encodings fall back to the next charset, a broken
structure to its headers and raw text. Time and memory stay bounded: the
parser's cost grows with the number of MIME parts (about a millisecond
each), so a mail with more parts or deeper nesting than any real mail has
is read in the degraded way, from its headers and raw body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import quopri
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import EmailPolicy
from email.utils import parseaddr, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from app.channels.base import (
    Attachment,
    DeliveryUpdate,
    InboundEvent,
    InboundMessage,
    Sender,
)
from app.channels.email import htmlmail
from app.channels.email.quoting import split_quoted
from app.kit.email_address import normalise_email

# Beyond these a mail is read in the degraded way (see the module's doc).
MAX_PARTS = 300
MAX_MULTIPART_MARKERS = 60
MAX_DEPTH = 20
MAX_ATTACHMENTS = 100
# Message-IDs fit the messages.external_id column (400) with room to spare.
MAX_ID_LENGTH = 380
MAX_REFERENCES = 50
MAX_HEADER_CHARS = 2000
TRUNCATED = "\n\n[…]"

# Charsets as mail really labels them, read as the superset the sender's
# software actually wrote (Windows' code pages for Shift_JIS and Latin-1).
_CHARSETS: dict[str, tuple[str, ...]] = {
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_2004", "iso2022_jp_ext", "iso2022_jp_2"),
    "csiso2022jp": ("iso2022_jp", "iso2022_jp_2004", "iso2022_jp_ext"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "windows-31j": ("cp932",),
    "cp932": ("cp932",),
    "euc-jp": ("euc_jp", "euc_jis_2004", "cp932"),
    "x-euc-jp": ("euc_jp", "euc_jis_2004"),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "us-ascii": ("ascii",),
    "ascii": ("ascii",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "ks_c_5601-1987": ("cp949",),
    "euc-kr": ("cp949",),
    "big5": ("big5hkscs",),
}
_LANGUAGE_OF_CHARSET = {
    "iso-2022-jp": "ja",
    "csiso2022jp": "ja",
    "shift_jis": "ja",
    "shift-jis": "ja",
    "sjis": "ja",
    "x-sjis": "ja",
    "windows-31j": "ja",
    "cp932": "ja",
    "euc-jp": "ja",
    "x-euc-jp": "ja",
    "ks_c_5601-1987": "ko",
    "euc-kr": "ko",
    "gb2312": "zh",
    "gbk": "zh",
    "gb18030": "zh",
    "big5": "zh",
}
_ID = re.compile(r"<([^<>\s]+)>")
_AUTH_FAIL = re.compile(r"\b(dmarc|spf|dkim)\s*=\s*fail\b", re.IGNORECASE)
_MESSAGE_ID_LINE = re.compile(r"^Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)
_SAFE_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Storable, showable text: no NUL (PostgreSQL refuses it) or other control
    characters, no lone surrogates (what undecodable header bytes become),
    which no database encodes as UTF-8."""
    value = _CONTROL.sub("", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in the charset the mail named, else the likeliest others; never raises."""
    label = (charset or "").strip().strip('"').lower()
    candidates = list(_CHARSETS.get(label, (label,) if label else ()))
    if b"\x1b$" in data and "iso2022_jp" not in candidates:
        candidates.append("iso2022_jp")  # unlabelled JIS, as old Japanese mailers sent it
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")  # pragma: no cover - cp1252 decodes nearly all


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
class MailAttachment:
    filename: str
    content_type: str
    size: int
    # None when over the size limit: then it is in the raw mail only.
    content: bytes | None


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
    attachments: tuple[MailAttachment, ...]
    automatic: bool
    auth_failed: bool
    language: str | None
    headers: dict[str, str]
    # A delivery report about a mail we sent: its Message-ID and why.
    bounce_of: str | None = None
    bounce_error: str | None = None
    is_bounce: bool = False
    # Read from the headers and raw text only (broken or oversized structure).
    degraded: bool = False
    flags: tuple[str, ...] = field(default=())

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
            verified=not self.auth_failed,
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
        raw.count(b"\n--") > MAX_PARTS * 2
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
    message_id = normalise_id(_header(message, "Message-ID")) or _stable_id(message, raw)
    in_reply_to = ids_in(_header(message, "In-Reply-To"))
    references = ids_in(_header(message, "References"))
    chain = [mid for mid in in_reply_to + references if mid != message_id]
    chain = list(dict.fromkeys(chain))[:MAX_REFERENCES]
    root = references[0] if references else (in_reply_to[0] if in_reply_to else message_id)
    if degraded:
        text, html, attachments = _raw_body(message, raw), None, []
        is_bounce, bounce_of, bounce_error = False, None, None
    else:
        text, html = _bodies(message)
        attachments = _attachments(message, max_attachment_bytes)
        is_bounce, bounce_of, bounce_error = _bounce(message, message_id)
    new_text, _ = split_quoted(text)
    headers = {
        name_: value
        for name_ in KEPT_HEADERS
        if (value := _header(message, name_, limit=MAX_HEADER_CHARS))
    }
    if envelope_from is not None:
        headers["X-Envelope-From"] = envelope_from
    auth_failed = any(
        _AUTH_FAIL.search(str(value)) for value in _all_headers(message, "Authentication-Results")
    )
    automatic = is_bounce or _is_automatic(message, envelope_from)
    flags = []
    if automatic:
        flags.append("automatic")
    if is_bounce:
        flags.append("bounce")
    if auth_failed or address is None:
        flags.append("unverified_sender")
    if degraded:
        flags.append("unreadable_structure")
    return ParsedMail(
        message_id=message_id,
        from_address=address,
        from_name=name,
        subject=(
            _header_text(message, "Subject", _body_charset(message)) or _header(message, "Subject")
        )[:998],
        sent_at=_date(message),
        references=tuple(chain),
        thread_key=root,
        text=text,
        new_text=new_text,
        html=html,
        attachments=tuple(attachments),
        automatic=automatic,
        auth_failed=auth_failed,
        language=_language(message),
        headers=headers,
        bounce_of=bounce_of,
        bounce_error=bounce_error,
        is_bounce=is_bounce,
        degraded=degraded,
        flags=tuple(flags),
    )


# -- headers -------------------------------------------------------------------


def _raw(message: Message, name: str) -> str | None:
    """A header's source text, unfolded, without the header registry: parsing
    a header with policy.default costs ~0.4 ms each time it is read, and most
    headers need no structure."""
    wanted = name.lower()
    try:
        for key, value in message.raw_items():
            if key.lower() == wanted:
                return re.sub(r"\r?\n[ \t]", " ", str(value)).strip()
    except Exception:  # noqa: BLE001 - hostile headers
        return None
    return None


def _header(message: Message, name: str, *, limit: int = MAX_ID_LENGTH * 40) -> str:
    value = _raw(message, name)
    if not value:
        return ""
    if not value.isascii():
        # Raw 8-bit bytes (undecodable ones arrive as surrogates): UTF-8 or Latin-1.
        value = decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    if "=?" in value:
        value = decode_words(value)
    return " ".join(clean_text(value).split())[:limit]


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded with our charset fallbacks: the email
    package reads "=?Shift_JIS?..." with Python's strict Shift_JIS and loses
    what Windows wrote in code page 932 (①, ㈱, IBM extensions)."""
    out: list[str] = []
    last_end = 0
    for word in _ENCODED_WORD.finditer(value):
        between = value[last_end : word.start()]
        if not (last_end and not between.strip()):  # space between two words is dropped
            out.append(between)
        data = word.group(3)
        try:
            if word.group(2) in "bB":
                decoded = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
            else:
                decoded = quopri.decodestring(data.encode("ascii", "replace"), header=True)
        except (binascii.Error, ValueError):
            out.append(data)  # as the email package does: the text, undecoded
        else:
            out.append(decode_bytes(decoded, word.group(1).split("*")[0]))
        last_end = word.end()
    out.append(value[last_end:])
    return "".join(out)


def _header_text(message: Message, name: str, charset: str | None) -> str | None:
    """A text header read from its source when the email package would lose
    characters: encoded words (see decode_words) or raw 8-bit bytes, which
    Japanese mailers send in the body's charset. None: the parsed value is right."""
    try:
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    except Exception:  # noqa: BLE001 - hostile headers
        return None
    if not isinstance(raw, str):
        return None
    raw = re.sub(r"\r?\n[ \t]", " ", raw).strip()
    if not raw.isascii():
        # Undecodable bytes arrive as surrogates: get the bytes back.
        raw = decode_bytes(raw.encode("utf-8", "surrogateescape"), charset)
    elif "=?" not in raw:
        return None
    return " ".join(clean_text(decode_words(raw)).split())


def _all_headers(message: Message, name: str) -> list[str]:
    try:
        return [clean_text(str(v)) for v in message.get_all(name) or ()]
    except Exception:  # noqa: BLE001 - same as _header
        return []


def _from(message: Message) -> tuple[str | None, str | None]:
    """(display name, address) of the author; the address None when unusable."""
    name: str | None = None
    address: str | None = None
    try:
        header: Any = message.get("From")
        for found in getattr(header, "addresses", ()):
            if found.addr_spec and "@" in found.addr_spec:
                name, address = found.display_name or None, found.addr_spec
                break
    except Exception:  # noqa: BLE001, S110 - the plain parser below tries again
        pass
    if address is None:
        name_, address_ = parseaddr(_header(message, "From"))
        name, address = name_ or None, address_ or None
    if address is not None:
        try:
            address = normalise_email(clean_text(address))
        except ValueError:
            address = None
    source = _header_text(message, "From", _body_charset(message))
    if source is not None:
        better = parseaddr(source)[0]
        name = better or name
    if name is not None:
        name = clean_text(" ".join(name.split()))[:200] or None
    return name, address


def _body_charset(message: Message) -> str | None:
    """The charset of the first text part: what raw 8-bit headers are most
    likely written in."""
    for part in _leaves(message):
        if _ctype(part).startswith("text/"):
            return _param(part, "Content-Type", "charset")
    return None


def _date(message: Message) -> datetime | None:
    value = _header(message, "Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


def _language(message: Message) -> str | None:
    tag = _header(message, "Content-Language").split(",")[0].strip()
    if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*", tag):
        return tag.split("-")[0].lower()
    for part in _leaves(message):
        if _ctype(part).startswith("text/"):
            language = _LANGUAGE_OF_CHARSET.get(
                (_param(part, "Content-Type", "charset") or "").lower()
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
        digest.update(_header(message, name).encode("utf-8", "replace") + b"\0")
    body_start = raw.find(b"\r\n\r\n")
    if body_start < 0:
        body_start = raw.find(b"\n\n")
    digest.update(raw[body_start:].replace(b"\r\n", b"\n") if body_start >= 0 else b"")
    return f"nomid.{digest.hexdigest()[:40]}"


def _is_automatic(message: Message, envelope_from: str | None) -> bool:
    """Machine mail that no responder may answer (RFC 3834 and common practice)."""
    auto_submitted = _header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if _header(message, "Precedence").lower() in ("bulk", "junk", "list"):
        return True
    if _header(message, "List-Id"):
        return True
    suppress = _header(message, "X-Auto-Response-Suppress").lower()
    if any(token in suppress for token in ("all", "oof", "autoreply")):
        return True
    return_path = _header(message, "Return-Path")
    # The null sender of bounces and other reports: aiosmtpd hands "<>" on.
    null_sender = envelope_from is not None and not envelope_from.strip().strip("<>").strip()
    return null_sender or return_path.replace(" ", "") == "<>"


# -- bodies and parts ------------------------------------------------------------

_PARAM = re.compile(r';\s*([A-Za-z0-9*_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


def _ctype(part: Message) -> str:
    """The part's content type from its source, with RFC 2045's defaults."""
    value = _raw(part, "Content-Type")
    ctype = value.split(";", 1)[0].strip().lower() if value else ""
    if not _SAFE_TYPE.match(ctype):
        return part.get_default_type()
    return ctype


def _param(part: Message, header: str, name: str) -> str | None:
    value = _raw(part, header)
    if not value:
        return None
    for key, found in _PARAM.findall(value):
        if key.lower() == name:
            return found.strip('"') or None
    return None


def _disposition(part: Message) -> str:
    value = _raw(part, "Content-Disposition")
    return value.split(";", 1)[0].strip().lower() if value else ""


def _filename(part: Message) -> str | None:
    """The file's name; the email package's reading (RFC 2231, encoded words)
    only for the few parts that have one."""
    source = (_raw(part, "Content-Disposition") or "") + (_raw(part, "Content-Type") or "")
    if "name" not in source.lower():
        return None
    try:
        return part.get_filename()
    except Exception:  # noqa: BLE001 - unparsable parameters
        return None


def _leaves(message: Message, depth: int = 0) -> Iterator[Message]:
    """The leaf parts, depth first; an attached mail is one leaf."""
    if depth > MAX_DEPTH:
        return
    # An attached mail and a delivery report hold Message objects too: they
    # are one part each, read by whoever wants them (attachments, bounces).
    if message.is_multipart() and not _ctype(message).startswith("message/"):
        payload = message.get_payload()
        if isinstance(payload, list):
            for part in payload[:MAX_PARTS]:
                if isinstance(part, Message):
                    yield from _leaves(part, depth + 1)
        return
    yield message


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding: take what is there
        payload = None
    if any(type(d).__name__.startswith("InvalidBase64") for d in part.defects):
        # What a broken base64 decodes to is noise; the text as sent says more.
        payload = None
    if not isinstance(payload, bytes):
        raw_payload = part.get_payload()
        payload = (
            raw_payload.encode("utf-8", "surrogateescape") if isinstance(raw_payload, str) else b""
        )
    return clean_text(decode_bytes(payload, _param(part, "Content-Type", "charset")))


def _is_attachment(part: Message) -> bool:
    ctype = _ctype(part)
    if ctype in ("message/delivery-status", "text/rfc822-headers"):
        return False
    return (
        _disposition(part) == "attachment"
        or bool(_filename(part))
        or ctype.split("/")[0] not in ("text", "multipart")
    )


def _bodies(message: Message) -> tuple[str, str | None]:
    """(text, sanitised HTML): the text part if there is one, else the HTML read as text."""
    plain: str | None = None
    markup: str | None = None
    for part in _leaves(message):
        if _is_attachment(part):
            continue
        ctype = _ctype(part)
        if ctype == "text/plain" and plain is None:
            plain = _part_text(part)
        elif ctype == "text/html" and markup is None:
            markup = _part_text(part)
        elif plain is None and markup is None and ctype.startswith("text/"):
            plain = _part_text(part)  # text/enriched, text/x-unknown: text all the same
    html = clean_text(htmlmail.sanitise(markup)) if markup else None
    if plain is None or (not plain.strip() and markup):
        plain = htmlmail.to_text(markup) if markup else ""
    return plain.replace("\r\n", "\n").strip(), html


def _raw_body(message: Message, raw: bytes) -> str:
    """The text of a mail whose structure we do not walk: the body as it is."""
    start = raw.find(b"\r\n\r\n")
    start = start + 4 if start >= 0 else (raw.find(b"\n\n") + 2 if b"\n\n" in raw else len(raw))
    charset = _param(message, "Content-Type", "charset")
    return clean_text(decode_bytes(raw[start : start + 1024 * 1024], charset)).strip()


def _safe_filename(name: str | None, index: int, ctype: str) -> str:
    name = clean_text(name or "")
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", name).strip(" .")
    if not name:
        extension = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}
        name = f"attachment-{index}{extension.get(ctype, '')}"
    return name[-200:]


def _attachments(message: Message, max_bytes: int) -> list[MailAttachment]:
    found: list[MailAttachment] = []
    for part in _leaves(message):
        if len(found) >= MAX_ATTACHMENTS or not _is_attachment(part):
            continue
        ctype = _ctype(part)
        if ctype == "message/rfc822":
            inner = part.get_payload()
            inner_message = inner[0] if isinstance(inner, list) and inner else None
            content = inner_message.as_bytes() if isinstance(inner_message, Message) else b""
            default_name = "attached-mail.eml"
        else:
            try:
                decoded = part.get_payload(decode=True)
            except Exception:  # noqa: BLE001 - a broken transfer encoding
                decoded = None
            content = decoded if isinstance(decoded, bytes) else b""
            default_name = None
        filename = _filename(part) or default_name
        found.append(
            MailAttachment(
                filename=_safe_filename(filename, len(found) + 1, ctype),
                content_type=ctype if _SAFE_TYPE.match(ctype) else "application/octet-stream",
                size=len(content),
                content=content if len(content) <= max_bytes else None,
            )
        )
    return found


# -- delivery reports ------------------------------------------------------------


def _bounce(message: Message, own_id: str) -> tuple[bool, str | None, str | None]:
    """(is a delivery report, the Message-ID it reports on, why it failed)."""
    is_report = _ctype(message) == "multipart/report"
    original: str | None = None
    reasons: list[str] = []
    failed = False
    for part in _leaves(message):
        ctype = _ctype(part)
        if ctype == "message/delivery-status":
            is_report = True
            failed, reasons = _delivery_status(part)
        elif ctype == "text/rfc822-headers" and original is None:
            headers = BytesHeaderParser(policy=policy.compat32).parsebytes(
                _part_text(part).encode("utf-8")
            )
            original = normalise_id(str(headers.get("Message-ID") or ""))
        elif ctype == "message/rfc822" and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = normalise_id(_header(inner[0], "Message-ID"))
    if not is_report:
        return False, None, None
    if original is None:
        # Some MTAs quote the original headers in the human-readable part only.
        for part in _leaves(message):
            if _ctype(part) == "text/plain":
                for mid in _MESSAGE_ID_LINE.findall(_part_text(part)):
                    if mid != own_id:
                        original = normalise_id(f"<{mid}>")
                        break
    if not failed:
        # A delay or success notice says nothing went wrong (yet).
        return True, None, None
    return True, original, "; ".join(reasons)[:1000] or "the mail bounced"


def _delivery_status(part: Message) -> tuple[bool, list[str]]:
    """Whether any recipient failed, and the report's words on it (RFC 3464)."""
    failed = False
    reasons: list[str] = []
    payload = part.get_payload()
    blocks = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    if not blocks:
        text = _part_text(part)
        blocks = [
            BytesHeaderParser(policy=policy.compat32).parsebytes(chunk.encode("utf-8"))
            for chunk in re.split(r"\n\s*\n", text)
        ]
    for block in blocks:
        action = str(block.get("Action") or "").strip().lower()
        status = str(block.get("Status") or "").strip()
        if action == "failed" or status.startswith("5"):
            failed = True
            recipient = str(block.get("Final-Recipient") or "").split(";")[-1].strip()
            diagnostic = " ".join(str(block.get("Diagnostic-Code") or "").split())
            reasons.append(
                " ".join(x for x in (recipient, status, diagnostic.split(";")[-1].strip()) if x)
            )
    return failed, [clean_text(r) for r in reasons if r]
