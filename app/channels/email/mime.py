"""The MIME walk: a parsed mail's leaf parts, its text and HTML bodies and
its attachments, read from the parts' header sources and bounded in depth,
number of parts and number of attachments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from app.channels.email import htmlmail
from app.channels.email.charsets import clean_text, decode_bytes, raw_header

# Beyond MAX_PARTS parts parsing reads a mail in the degraded way (see its
# module doc); the walk and the attachments stop at these, whatever they get.
MAX_PARTS = 300
MAX_DEPTH = 20
MAX_ATTACHMENTS = 100

_SAFE_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
_PARAM = re.compile(r';\s*([A-Za-z0-9*_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')


@dataclass(frozen=True, slots=True)
class MailAttachment:
    filename: str
    content_type: str
    size: int
    # None when over the size limit: then it is in the raw mail only.
    content: bytes | None


def ctype(part: Message) -> str:
    """The part's content type from its source, with RFC 2045's defaults."""
    value = raw_header(part, "Content-Type")
    found = value.split(";", 1)[0].strip().lower() if value else ""
    if not _SAFE_TYPE.match(found):
        return part.get_default_type()
    return found


def param(part: Message, header: str, name: str) -> str | None:
    value = raw_header(part, header)
    if not value:
        return None
    for key, found in _PARAM.findall(value):
        if key.lower() == name:
            return found.strip('"') or None
    return None


def _disposition(part: Message) -> str:
    value = raw_header(part, "Content-Disposition")
    return value.split(";", 1)[0].strip().lower() if value else ""


def _filename(part: Message) -> str | None:
    """The file's name; the email package's reading (RFC 2231, encoded words)
    only for the few parts that have one."""
    source = (raw_header(part, "Content-Disposition") or "") + (
        raw_header(part, "Content-Type") or ""
    )
    if "name" not in source.lower():
        return None
    try:
        return part.get_filename()
    except Exception:  # noqa: BLE001 - unparsable parameters
        return None


def leaves(message: Message, depth: int = 0) -> Iterator[Message]:
    """The leaf parts, depth first; an attached mail is one leaf."""
    if depth > MAX_DEPTH:
        return
    # An attached mail and a delivery report hold Message objects too: they
    # are one part each, read by whoever wants them (attachments, bounces).
    if message.is_multipart() and not ctype(message).startswith("message/"):
        payload = message.get_payload()
        if isinstance(payload, list):
            for part in payload[:MAX_PARTS]:
                if isinstance(part, Message):
                    yield from leaves(part, depth + 1)
        return
    yield message


def part_text(part: Message) -> str:
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
    return clean_text(decode_bytes(payload, param(part, "Content-Type", "charset")))


def _is_attachment(part: Message) -> bool:
    part_type = ctype(part)
    if part_type in ("message/delivery-status", "text/rfc822-headers"):
        return False
    return (
        _disposition(part) == "attachment"
        or bool(_filename(part))
        or part_type.split("/")[0] not in ("text", "multipart")
    )


def bodies(message: Message) -> tuple[str, str | None]:
    """(text, sanitised HTML): the text part if there is one, else the HTML read as text."""
    plain: str | None = None
    markup: str | None = None
    for part in leaves(message):
        if _is_attachment(part):
            continue
        part_type = ctype(part)
        if part_type == "text/plain" and plain is None:
            plain = part_text(part)
        elif part_type == "text/html" and markup is None:
            markup = part_text(part)
        elif plain is None and markup is None and part_type.startswith("text/"):
            plain = part_text(part)  # text/enriched, text/x-unknown: text all the same
    html = clean_text(htmlmail.sanitise(markup)) if markup else None
    if plain is None or (not plain.strip() and markup):
        plain = htmlmail.to_text(markup) if markup else ""
    return plain.replace("\r\n", "\n").strip(), html


def raw_body(message: Message, raw: bytes) -> str:
    """The text of a mail whose structure we do not walk: the body as it is."""
    start = raw.find(b"\r\n\r\n")
    start = start + 4 if start >= 0 else (raw.find(b"\n\n") + 2 if b"\n\n" in raw else len(raw))
    charset = param(message, "Content-Type", "charset")
    return clean_text(decode_bytes(raw[start : start + 1024 * 1024], charset)).strip()


def _safe_filename(name: str | None, index: int, content_type: str) -> str:
    name = clean_text(name or "")
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", name).strip(" .")
    if not name:
        extension = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}
        name = f"attachment-{index}{extension.get(content_type, '')}"
    return name[-200:]


def attachments(message: Message, max_bytes: int) -> list[MailAttachment]:
    found: list[MailAttachment] = []
    for part in leaves(message):
        if len(found) >= MAX_ATTACHMENTS or not _is_attachment(part):
            continue
        part_type = ctype(part)
        if part_type == "message/rfc822":
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
                filename=_safe_filename(filename, len(found) + 1, part_type),
                content_type=(
                    part_type if _SAFE_TYPE.match(part_type) else "application/octet-stream"
                ),
                size=len(content),
                content=content if len(content) <= max_bytes else None,
            )
        )
    return found
