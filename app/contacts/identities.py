"""How identities are written down, so the same fact always meets itself:
email addresses compared case-insensitively, phone numbers in E.164."""

from __future__ import annotations

import phonenumbers

# The channel of identities that are not a platform's own ids.
EMAIL = "email"
PHONE = "phone"


def email_key(address: str) -> str:
    """An email address as identities hold it: stripped and lowercased (the
    email channel keys senders the same way)."""
    return address.strip().lower()


def e164(value: str | None, default_region: str | None = None) -> str | None:
    """The number in E.164 ("+819012345678"), or None when it is not a possible
    phone number. Platforms give numbers without the "+" (WhatsApp's wa_id):
    a bare run of digits is read as international."""
    if not value or not value.strip():
        return None
    text = value.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and default_region is None and digits:
        text = f"+{digits}"
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
