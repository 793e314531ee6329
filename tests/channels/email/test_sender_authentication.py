"""Who really sent a mail, as an attacker tries it: a forged From is stored but
never verified, whatever headers it brings; SPF from the connecting address
and a real DKIM signature, aligned with the From domain, verify it; the
acknowledgement to an unverified sender says nothing the sender wrote and
is rationed. DNS is the test's own (fake_dns.py): each test publishes
records for domains nobody else uses."""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest

from app.mail.authentication import (
    MailAuthenticator,
    SmtpFacts,
    Verdict,
    parse_results,
    upstream_verdict,
)
from app.mail.dmarc import aligned, parse_record
from app.mail.resolver import DnsTempError
from tests.channels.conftest import conversations_of
from tests.channels.email.conftest import (
    TRUSTED_AUTHSERV_ID,
    Sink,
    create_email_inbox,
    mail,
    only_conversation,
    send_mail,
)
from tests.channels.email.fake_dns import FileResolver, publish
from tests.harness import Api

HERE = Path(__file__).parent
PRIVATE_KEY = (HERE / "dkim-test-key.pem").read_bytes()
PUBLIC_KEY = (HERE / "dkim-test-key.pub").read_text().strip()
ATTACKER_NAME = "Security Team of Your Bank"
ATTACKER_SUBJECT = "Verify your account at http://evil.example/login now"


def _domain(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}.test"


def _publish(api: Api, records: dict[str, Any]) -> None:
    publish(Path(api.server.env["MADOGUCHI_TEST_DNS_FILE"]), records)


def _bank(api: Api) -> str:
    """A domain that sends from one address that is not ours, and asks that
    mail failing DMARC be rejected."""
    domain = _domain("bank")
    _publish(
        api,
        {
            "TXT": {
                domain: ["v=spf1 ip4:192.0.2.10 -all"],
                f"_dmarc.{domain}": ["v=DMARC1; p=reject; rua=mailto:dmarc@" + domain],
            }
        },
    )
    return domain


def _forged(to: str, domain: str, headers: dict[str, str] | None = None) -> bytes:
    return mail(
        to,
        sender=f"{ATTACKER_NAME} <ceo@{domain}>",
        subject=ATTACKER_SUBJECT,
        body="Click http://evil.example/login to keep your account.",
        headers=headers,
    )


async def _email_view(api: Api, message_id: int) -> dict[str, Any]:
    r = await api.http.get(
        f"/api/v1/messages/{message_id}/email", headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _stored(api: Api, inbox: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The inbox's one conversation and the customer's one message in it."""
    conversation = await only_conversation(api, inbox)
    (message,) = [
        m for m in await api.messages(conversation["id"]) if m["author"]["kind"] == "customer"
    ]
    return conversation, message


def _verified(conversation: dict[str, Any], message: dict[str, Any], address: str) -> bool:
    flagged = "unverified_sender" in message.get("flags", [])
    # Only a verified sender's address becomes the customer's own.
    assert (conversation["customer"]["email"] == address) is not flagged
    return not flagged


def _text(sent: EmailMessage) -> str:
    body = sent.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


@pytest.mark.parametrize("mail_from", ["ceo", "bounces@attacker"])
async def test_a_forged_from_is_stored_unverified_and_its_ack_repeats_nothing(
    mail_api: Api, sink: Sink, mail_from: str
) -> None:
    """The bank's own address in MAIL FROM fails its SPF; the attacker's own
    domain passes SPF but is not the From domain: DMARC fails either way."""
    inbox = await create_email_inbox(mail_api, acknowledge=True)
    address = inbox["config"]["address"]
    bank = _bank(mail_api)
    envelope = f"ceo@{bank}" if mail_from == "ceo" else f"bounces@{_domain('attacker')}"
    await send_mail(mail_api, _forged(address, bank), address, mail_from=envelope)
    conversation, message = await _stored(mail_api, inbox)
    assert not _verified(conversation, message, f"ceo@{bank}")
    assert conversation["subject"] == ATTACKER_SUBJECT  # the agent sees what came
    view = await _email_view(mail_api, message["id"])
    assert view["authentication"].startswith("spf=fail" if mail_from == "ceo" else "spf=pass")
    assert "dmarc=fail (p=reject)" in view["authentication"]
    (ack,) = await sink.wait_for(f"ceo@{bank}")
    assert ack["Auto-Submitted"] == "auto-replied"
    assert str(ack["To"]) == f"ceo@{bank}"
    assert str(ack["Subject"]) == "Re: your message"
    whole = ack.as_string()
    for echoed in (ATTACKER_NAME, "Security Team", "evil.example", "Verify your account"):
        assert echoed not in whole, echoed
    assert _text(ack).startswith("Hello there,")


async def test_a_forged_authentication_results_from_an_untrusted_host_counts_for_nothing(
    mail_api: Api,
) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    bank = _bank(mail_api)
    forged = _forged(
        address,
        bank,
        headers={
            "Authentication-Results": f"evil.example; spf=pass smtp.mailfrom={bank};"
            f" dkim=pass header.d={bank}; dmarc=pass header.from={bank}"
        },
    )
    await send_mail(mail_api, forged, address)
    conversation, message = await _stored(mail_api, inbox)
    assert not _verified(conversation, message, f"ceo@{bank}")


async def test_the_trusted_mx_vouches_for_a_sender(mail_api: Api) -> None:
    """An MX in front of the listener (MADOGUCHI_TRUSTED_AUTHSERV_IDS) checked
    the mail: its word counts, though our own SPF check failed."""
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    bank = _bank(mail_api)
    vouched = _forged(
        address,
        bank,
        headers={
            "Authentication-Results": f"{TRUSTED_AUTHSERV_ID}; spf=pass smtp.mailfrom={bank};"
            f" dmarc=pass (p=REJECT) header.from={bank}"
        },
    )
    await send_mail(mail_api, vouched, address)
    conversation, message = await _stored(mail_api, inbox)
    assert _verified(conversation, message, f"ceo@{bank}")
    view = await _email_view(mail_api, message["id"])
    assert view["authentication"].endswith(f"by {TRUSTED_AUTHSERV_ID}")


async def test_a_forged_mail_in_an_owners_name_only_suggests_a_merge(mail_api: Api) -> None:
    """The owner's verified mail first, then a forgery from the same address:
    the forger gets a customer of their own, and an agent a suggestion."""
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    bank = _bank(mail_api)
    vouched = {"Authentication-Results": f"{TRUSTED_AUTHSERV_ID}; dmarc=pass header.from={bank}"}
    await send_mail(mail_api, _forged(address, bank, headers=vouched), address)
    (genuine,) = await conversations_of(mail_api, inbox)
    await send_mail(mail_api, _forged(address, bank), address)
    (forged,) = [c for c in await conversations_of(mail_api, inbox) if c["id"] != genuine["id"]]
    assert forged["customer_id"] != genuine["customer_id"]
    r = await mail_api.http.get(
        "/api/v1/merge-suggestions", headers=mail_api.auth(mail_api.admin_token)
    )
    assert r.status_code == 200, r.text
    (suggestion,) = [
        s for s in r.json()["items"] if s["other_customer_id"] == forged["customer_id"]
    ]
    assert (suggestion["customer_id"], suggestion["reason"]) == (
        genuine["customer_id"],
        "claimed_email",
    )


async def test_the_trusted_mx_saying_dmarc_failed_is_believed_too(mail_api: Api) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    domain = _domain("plain")  # SPF passes for it in the test world
    said = mail(
        address,
        sender=f"someone@{domain}",
        headers={
            "Authentication-Results": f"{TRUSTED_AUTHSERV_ID}; dmarc=fail header.from={domain}"
        },
    )
    await send_mail(mail_api, said, address)
    conversation, message = await _stored(mail_api, inbox)
    assert not _verified(conversation, message, f"someone@{domain}")


def _signed(to: str, domain: str, *, author: str | None = None) -> bytes:
    """A mail signed with DKIM by `domain` (From news@domain unless `author`)."""
    raw = mail(
        to, sender=f"Signer <{author or f'news@{domain}'}>", subject="Signed", body="Sealed."
    )
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signature = dkim.sign(
        raw,
        b"mail2024",
        domain.encode(),
        PRIVATE_KEY,
        include_headers=[b"from", b"to", b"subject", b"message-id"],
    )
    return bytes(signature) + raw


def _signing_domain(api: Api) -> str:
    """A domain whose SPF lets nobody send (only DKIM can vouch), with its key
    and a DMARC policy published."""
    domain = _domain("signed")
    _publish(
        api,
        {
            "TXT": {
                domain: ["v=spf1 -all"],
                f"_dmarc.{domain}": ["v=DMARC1; p=reject; adkim=s"],
                f"mail2024._domainkey.{domain}": [f"v=DKIM1; k=rsa; p={PUBLIC_KEY}"],
            }
        },
    )
    return domain


async def test_a_dkim_signed_mail_from_its_domain_is_verified(mail_api: Api) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    domain = _signing_domain(mail_api)
    await send_mail(mail_api, _signed(address, domain), address)
    conversation, message = await _stored(mail_api, inbox)
    assert _verified(conversation, message, f"news@{domain}")
    view = await _email_view(mail_api, message["id"])
    assert view["authentication"] == "spf=fail dkim=pass dmarc=pass (p=reject)"


async def test_a_dkim_signature_broken_on_the_way_verifies_nothing(mail_api: Api) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    domain = _signing_domain(mail_api)
    tampered = _signed(address, domain).replace(b"Sealed.", b"Pay to IBAN XX00 1234.")
    await send_mail(mail_api, tampered, address)
    conversation, message = await _stored(mail_api, inbox)
    assert not _verified(conversation, message, f"news@{domain}")
    view = await _email_view(mail_api, message["id"])
    assert view["authentication"] == "spf=fail dkim=fail dmarc=fail (p=reject)"


async def test_a_signature_by_another_domain_does_not_speak_for_the_from(mail_api: Api) -> None:
    """A valid signature of the attacker's own domain on a mail From the bank."""
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    signer = _signing_domain(mail_api)
    bank = _bank(mail_api)
    await send_mail(
        mail_api, _signed(address, signer, author=f"news@{bank}"), address, mail_from=f"x@{signer}"
    )
    conversation, message = await _stored(mail_api, inbox)
    assert not _verified(conversation, message, f"news@{bank}")
    view = await _email_view(mail_api, message["id"])
    assert view["authentication"] == "spf=fail dkim=pass dmarc=fail (p=reject)"


async def test_spf_from_the_allowed_address_and_aligned_verifies(mail_api: Api) -> None:
    """Relaxed alignment: MAIL FROM the bounce domain, From a subdomain of it."""
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    domain = _domain("spf")
    _publish(
        mail_api,
        {
            "TXT": {
                domain: ["v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"],
                f"_dmarc.{domain}": ["v=DMARC1; p=quarantine"],
            }
        },
    )
    sender = f"orders@shop.{domain}"
    await send_mail(mail_api, mail(address, sender=sender), address, mail_from=f"b@{domain}")
    conversation, message = await _stored(mail_api, inbox)
    assert _verified(conversation, message, sender)
    view = await _email_view(mail_api, message["id"])
    assert view["authentication"] == "spf=pass dkim=none dmarc=pass (p=quarantine)"


async def test_spf_pass_under_strict_alignment_needs_the_same_domain(mail_api: Api) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    domain = _domain("strict")
    _publish(
        mail_api,
        {
            "TXT": {
                domain: ["v=spf1 ip4:127.0.0.1 -all"],
                f"_dmarc.{domain}": ["v=DMARC1; p=none; aspf=s"],
            }
        },
    )
    sender = f"orders@shop.{domain}"
    await send_mail(mail_api, mail(address, sender=sender), address, mail_from=f"b@{domain}")
    conversation, message = await _stored(mail_api, inbox)
    assert not _verified(conversation, message, sender)


async def test_a_dns_timeout_keeps_the_mail_and_verifies_nobody(mail_api: Api) -> None:
    inbox = await create_email_inbox(mail_api)
    address = inbox["config"]["address"]
    domain = _domain("slow")
    _publish(mail_api, {"timeout": [domain, f"_dmarc.{domain}"]})
    await send_mail(mail_api, mail(address, sender=f"a@{domain}", body="kept"), address)
    conversation, message = await _stored(mail_api, inbox)
    assert message["body"] == "kept"
    assert not _verified(conversation, message, f"a@{domain}")
    view = await _email_view(mail_api, message["id"])
    assert view["authentication"] == "spf=temperror dkim=none dmarc=temperror"


async def test_acks_to_an_unverified_address_and_domain_are_rationed(
    mail_api: Api, sink: Sink
) -> None:
    inbox = await create_email_inbox(mail_api, acknowledge=True)
    address = inbox["config"]["address"]
    bank = _bank(mail_api)
    for _ in range(3):
        await send_mail(mail_api, _forged(address, bank), address, mail_from=f"ceo@{bank}")
    await sink.wait_for(f"ceo@{bank}")
    # Eleven more people at the bank: the domain's tenth ack is the last this hour.
    others = [f"clerk{i}@{bank}" for i in range(11)]
    for other in others:
        await send_mail(mail_api, mail(address, sender=other), address)
    for _ in range(100):
        if sum(len(sink.to(other)) for other in others) >= 9:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(2)  # what else would have come by now
    assert len(sink.to(f"ceo@{bank}")) == 1
    assert sum(len(sink.to(other)) for other in others) == 9
    # Every mail is stored all the same.
    assert len(await conversations_of(mail_api, inbox)) == 14


async def test_a_verified_sender_is_acknowledged_by_name_as_before(
    mail_api: Api, sink: Sink
) -> None:
    inbox = await create_email_inbox(mail_api, acknowledge=True)
    address = inbox["config"]["address"]
    domain = _domain("customer")  # SPF passes for it in the test world
    sender = f"hanako@{domain}"
    await send_mail(
        mail_api, mail(address, sender=f"Hanako Yamada <{sender}>", subject="Order 12"), address
    )
    (ack,) = await sink.wait_for(sender)
    assert _text(ack).startswith("Hello Hanako Yamada,")
    assert str(ack["Subject"]) == "Re: Order 12"


# -- the verdict's parts, in this process ---------------------------------------


def test_an_upstream_header_is_read_as_gmail_writes_it() -> None:
    header = (
        "mx.google.com; dkim=pass header.i=@example.com header.s=s1 header.b=abc;"
        " spf=pass (google.com: domain of a@example.com designates 192.0.2.1 as permitted"
        " sender) smtp.mailfrom=a@example.com; dmarc=pass (p=REJECT sp=REJECT dis=NONE)"
        " header.from=example.com"
    )
    authserv_id, results = parse_results(header)
    assert authserv_id == "mx.google.com"
    assert [(r.method, r.result) for r in results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    found = upstream_verdict([header], {"mx.google.com"}, "example.com")
    assert found is not None
    assert found.verified
    # About another From domain, or from a host nobody trusts: nothing.
    other = upstream_verdict([header], {"mx.google.com"}, "bank.example")
    assert other is not None
    assert not other.verified
    assert upstream_verdict([header], {"mx.example.net"}, "example.com") is None


def test_only_the_topmost_trusted_header_counts() -> None:
    """The trusted MTA adds its own on top; one further down may be forged."""
    genuine = "mx.trusted.test; spf=fail smtp.mailfrom=bank.example; dmarc=fail"
    forged = "mx.trusted.test; dmarc=pass header.from=bank.example"
    found = upstream_verdict([genuine, forged], {"mx.trusted.test"}, "bank.example")
    assert found is not None
    assert not found.verified
    # A header without an authserv-id (as Microsoft 365 writes) names nobody.
    assert upstream_verdict(["dmarc=pass header.from=bank.example"], {"dmarc=pass"}, "x") is None


async def test_mailbox_mail_is_vouched_for_only_by_a_trusted_header() -> None:
    """A mailbox's mail did not come through our listener: SPF of a client
    we never saw means nothing, so only the mailbox provider's header counts."""
    checker = MailAuthenticator(FileResolver(), trusted_authserv_ids=["mx.trusted.test"])
    try:
        raw = mail("support@shop.example", sender="a@example.com")
        plain = await checker.verdict(raw, author="a@example.com", results=(), smtp=None)
        assert not plain.verified
        vouched = await checker.verdict(
            raw,
            author="a@example.com",
            results=("mx.trusted.test; dmarc=pass header.from=example.com",),
            smtp=None,
        )
        assert vouched.verified
    finally:
        checker.close()


class _Zone:
    """DNS in this process: a dict, and names that never answer."""

    def __init__(self, txt: dict[str, list[str]], silent: tuple[str, ...] = ()) -> None:
        self.txt = txt
        self.silent = silent

    async def query(self, name: str, rdtype: str) -> list[str]:
        if name in self.silent:
            raise DnsTempError(name)
        return list(self.txt.get(name, [])) if rdtype == "TXT" else []


async def test_the_checks_run_off_the_loop_with_their_own_dns() -> None:
    domain = "signed.example"
    zone = _Zone(
        {
            domain: ["v=spf1 ip4:192.0.2.1 -all"],
            f"_dmarc.{domain}": ["v=DMARC1; p=reject"],
            f"mail2024._domainkey.{domain}": [f"v=DKIM1; k=rsa; p={PUBLIC_KEY}"],
        },
        silent=("slow.example", "_dmarc.slow.example"),
    )
    checker = MailAuthenticator(zone, lookup_timeout=1)
    smtp = SmtpFacts(client_ip="::ffff:127.0.0.1", helo="client.test", mail_from=f"b@{domain}")
    try:
        signed = await checker.verdict(
            _signed("to@shop.example", domain), author=f"news@{domain}", results=(), smtp=smtp
        )
        assert signed == Verdict(True, spf="fail", dkim="pass", dmarc="pass", policy="reject")
        slow = await checker.verdict(
            mail("to@shop.example", sender="a@slow.example"),
            author="a@slow.example",
            results=(),
            smtp=SmtpFacts("127.0.0.1", "client.test", "a@slow.example"),
        )
        assert slow == Verdict(False, spf="temperror", dkim="none", dmarc="temperror")
    finally:
        checker.close()


def test_the_organizational_domain_decides_relaxed_alignment() -> None:
    assert aligned("bounce.example.co.uk", "news.example.co.uk", "r")
    assert not aligned("example.co.uk", "other.co.uk", "r")
    assert not aligned("bounce.example.com", "example.com", "s")
    assert parse_record("v=DMARC1; p=reject; adkim=s") == {
        "v": "DMARC1",
        "p": "reject",
        "adkim": "s",
    }
    assert parse_record("v=spf1 -all") is None
