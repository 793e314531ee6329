"""Delivery reports: whether a mail is a bounce or other delivery status
notice (RFC 3464), which of our mails it reports on, and why it failed."""

from __future__ import annotations

import re
from collections.abc import Callable
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

from app.channels.email.charsets import clean_text, header
from app.channels.email.mime import ctype, leaves, part_text

_MESSAGE_ID_LINE = re.compile(r"^Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)


def bounce(
    message: Message, own_id: str, normalise_id: Callable[[str], str | None]
) -> tuple[bool, str | None, str | None]:
    """(is a delivery report, the Message-ID it reports on, why it failed).
    `normalise_id` is parsing's, passed in so that the id reported on reads as
    the mail we sent was recorded, without this module importing parsing."""
    is_report = ctype(message) == "multipart/report"
    original: str | None = None
    reasons: list[str] = []
    failed = False
    for part in leaves(message):
        part_type = ctype(part)
        if part_type == "message/delivery-status":
            is_report = True
            failed, reasons = _delivery_status(part)
        elif part_type == "text/rfc822-headers" and original is None:
            headers = BytesHeaderParser(policy=policy.compat32).parsebytes(
                part_text(part).encode("utf-8")
            )
            original = normalise_id(str(headers.get("Message-ID") or ""))
        elif part_type == "message/rfc822" and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = normalise_id(header(inner[0], "Message-ID"))
    if not is_report:
        return False, None, None
    if original is None:
        # Some MTAs quote the original headers in the human-readable part only.
        for part in leaves(message):
            if ctype(part) == "text/plain":
                for mid in _MESSAGE_ID_LINE.findall(part_text(part)):
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
        text = part_text(part)
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
