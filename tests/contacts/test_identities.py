"""How identities are written down, and the signed chat link's token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.contacts import chat_link
from app.contacts.identities import e164, email_key


@pytest.mark.parametrize(
    ("given", "region", "expected"),
    [
        ("819012345678", None, "+819012345678"),  # WhatsApp's wa_id: digits, no "+"
        ("+81 90-1234-5678", None, "+819012345678"),
        ("090-1234-5678", "JP", "+819012345678"),
        ("+1 (555) 078-3881", None, "+15550783881"),
        ("not a number", None, None),
        ("12", None, None),
        ("", None, None),
    ],
)
def test_phone_numbers_are_e164(given: str, region: str | None, expected: str | None) -> None:
    assert e164(given, region) == expected


def test_email_addresses_meet_themselves_whatever_their_case() -> None:
    assert email_key("  Kenji@Example.COM ") == email_key("kenji@example.com")


NOW = datetime(2026, 12, 12, 9, 0, tzinfo=UTC)


def test_a_chat_link_names_its_customer_until_it_expires() -> None:
    token = chat_link.sign("s3cret", 42, NOW, timedelta(hours=1))
    link = chat_link.verify("s3cret", token, NOW + timedelta(minutes=59))
    assert link is not None
    assert (link.customer_id, link.expires_at) == (42, int((NOW + timedelta(hours=1)).timestamp()))
    # Each link is used up on its own: two for one customer differ.
    again = chat_link.verify("s3cret", chat_link.sign("s3cret", 42, NOW, timedelta(hours=1)), NOW)
    assert again is not None
    assert again.nonce != link.nonce
    assert chat_link.verify("s3cret", token, NOW + timedelta(hours=2)) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("42.", "43.", 1),  # another customer
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # another signature
        lambda t: t.split(".", 1)[1],  # a part missing
        lambda t: "42.9999999999." + t.split(".", 2)[2],  # a later expiry
        lambda t: ".".join(t.split(".")[:2] + ["0" * 24] + t.split(".")[3:]),  # another nonce
        # The nonce left out: the old, reusable form.
        lambda t: t.split(".", 2)[0] + "." + t.split(".", 2)[1] + "." + t.rsplit(".", 1)[1],
        lambda t: "",
        lambda t: "a.b.c",
    ],
)
def test_a_tampered_chat_link_names_no_one(tamper: object) -> None:
    token = chat_link.sign("s3cret", 42, NOW, timedelta(hours=1))
    assert callable(tamper)
    assert chat_link.verify("s3cret", tamper(token), NOW) is None
    assert chat_link.verify("another secret", token, NOW) is None
