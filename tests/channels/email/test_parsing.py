"""The pure parts of the email channel, on their own: what a mail's text is
made of, how replies are addressed, how the relay is named."""

from __future__ import annotations

import pytest

from app.channels.base import ChannelPermanentError, OutboundMessage, PriorMessage, Sender
from app.channels.email.htmlmail import sanitise, to_text
from app.channels.email.outbound import Relay, compose, reply_subject
from app.channels.email.parsing import decode_words, normalise_id, parse_mail
from app.channels.email.quoting import split_quoted
from app.channels.email.relay_pool import RelayPool, send
from app.kit.clock import clock


@pytest.mark.parametrize(
    ("text", "new"),
    [
        ("Thanks!\n\nOn Mon, 16 Nov 2026 at 10:00, Support <s@x> wrote:\n> hi", "Thanks!"),
        ("Thanks!\nOn Mon, 16 Nov 2026 at 10:00, Support <\ns@x> wrote:\n> hi\n> there", "Thanks!"),
        (
            "了解しました。\n\n2026年11月16日(月) 10:00 Support <s@x>:\n> ご確認ください",
            "了解しました。",
        ),
        ("OK\n\n山田さんは書きました:\n> 元の文", "OK"),
        ("Done.\n\nFrom: Support <s@x>\nSent: Monday\nTo: me\nSubject: x\n\nold", "Done."),
        ("Done.\n\n-----Original Message-----\nold", "Done."),
        ("Fine\n\n> quoted\n>\n> more", "Fine"),
    ],
)
def test_the_new_text_is_split_from_the_quoted_history(text: str, new: str) -> None:
    found, quoted = split_quoted(text)
    assert found == new
    assert quoted
    assert text.startswith(found)


@pytest.mark.parametrize(
    "text",
    [
        "My order 2026年11月16日に届く予定でした：\nまだです",
        "> a quote at the top\nand my answer below it",
        "As my colleague wrote: it is broken.\nPlease fix.",
    ],
)
def test_text_that_only_looks_like_a_quote_is_kept_whole(text: str) -> None:
    assert split_quoted(text) == (text.strip(), "")


def test_html_is_made_safe_and_readable() -> None:
    markup = (
        '<p onclick="x()">Hi <b>there</b></p><script>alert(1)</script>'
        '<a href="javascript:alert(2)">a</a><a href="https://shop.example/help">help</a>'
        '<img src="https://tracker.example/p.gif"><style>p{}</style>'
    )
    safe = sanitise(markup)
    for unsafe in ("onclick", "<script", "javascript:", "tracker", "<style"):
        assert unsafe not in safe
    assert 'href="https://shop.example/help"' in safe
    assert to_text(markup) == "Hi there\nahelp"


def test_encoded_words_in_windows_code_pages() -> None:
    # ① exists in cp932 only, though the mail says Shift_JIS.
    assert decode_words("=?Shift_JIS?B?h0A=?= =?utf-8?Q?caf=C3=A9?=") == "①café"
    assert decode_words("=?utf-8?B?!!!broken?= tail") == "!!!broken tail"


def test_message_ids_are_bracket_free_and_bounded() -> None:
    assert normalise_id(" <abc@x.test> ") == "abc@x.test"
    assert normalise_id("") is None
    long_id = normalise_id(f"<{'a' * 500}@x>")
    assert long_id is not None
    assert len(long_id) < 100


def test_a_mail_without_message_id_has_the_same_id_however_it_arrives() -> None:
    body = (
        b"From: a@example.com\r\nSubject: hi\r\n"
        b"Date: Mon, 16 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n"
    )
    via_imap = b"Return-Path: <a@example.com>\r\nReceived: from mx by imap\r\n" + body
    assert parse_mail(body).message_id == parse_mail(via_imap).message_id
    assert parse_mail(body).message_id.startswith("nomid.")


def test_reply_subjects_never_stack() -> None:
    assert reply_subject("Order") == "Re: Order"
    assert reply_subject("RE: Re: AW: Order") == "Re: Order"
    assert reply_subject("返信: 注文") == "Re: 注文"
    assert reply_subject(None) == "Re: your message"


def test_the_relay_url() -> None:
    relay = Relay.from_url("smtp://us%40er:p%3Ass@relay.example:587?starttls=1&timeout=5")
    assert (relay.host, relay.port, relay.username, relay.password) == (
        "relay.example",
        587,
        "us@er",
        "p:ss",
    )
    assert relay.start_tls is True
    assert relay.timeout == 5
    assert "p:ss" not in relay.describe()
    tls = Relay.from_url("smtps://relay.example")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, None)
    assert Relay.from_url("smtp://localhost?starttls=0").start_tls is False
    with pytest.raises(ValueError, match="MADOGUCHI_SMTP_RELAY"):
        Relay.from_url("http://relay.example")


def test_a_reply_names_the_thread_and_keeps_its_message_id_on_retry() -> None:
    message = OutboundMessage(
        conversation_id=7,
        message_id=42,
        recipient=Sender(external_id="c@example.com", name="Café Owner", email="c@example.com"),
        text="Line one\n<b>not markup</b>",
        author_name="青木 愛子",
        thread_key="root@example.com",
        subject="Re: Order",
        references=("second@example.com", "nomid.abc"),
        last_inbound=PriorMessage("second@example.com", clock.now()),
    )
    first, first_id = compose("support@shop.example", message)
    again, again_id = compose("support@shop.example", message)
    assert first_id == again_id
    assert first_id.endswith("@shop.example")
    assert first["In-Reply-To"] == "<second@example.com>"
    assert first["References"] == "<root@example.com> <second@example.com>"
    assert first["Subject"] == "Re: Order"
    assert first["From"].addresses[0].display_name == "青木 愛子"
    html = first.get_body(("html",))
    assert html is not None
    assert "&lt;b&gt;not markup&lt;/b&gt;" in html.get_content()  # type: ignore[attr-defined]


def test_an_automatic_reply_says_so_and_a_persons_does_not() -> None:
    person = OutboundMessage(
        conversation_id=1,
        message_id=2,
        recipient=Sender(external_id="c@example.com", email="c@example.com"),
        text="Thanks for writing",
    )
    sent, _ = compose("support@shop.example", person)
    assert sent["Auto-Submitted"] is None
    robot = OutboundMessage(
        conversation_id=1,
        message_id=3,
        recipient=Sender(external_id="c@example.com", email="c@example.com"),
        text="We got your mail",
        author_name="Madoguchi",
        automatic=True,
    )
    sent, _ = compose("support@shop.example", robot)
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    # Read back by our own parser, it is automatic mail.
    assert parse_mail(sent.as_bytes()).automatic


@pytest.mark.parametrize("envelope_from", ["", "<>", " <> "])
def test_the_null_sender_makes_a_mail_automatic(envelope_from: str) -> None:
    raw = b"From: a@example.com\r\nMessage-ID: <n@x>\r\n\r\nhello\r\n"
    assert parse_mail(raw, envelope_from=envelope_from).automatic
    assert not parse_mail(raw, envelope_from="a@example.com").automatic
    assert not parse_mail(raw).automatic


def test_a_subject_or_name_with_line_breaks_stays_one_header() -> None:
    crafted = OutboundMessage(
        conversation_id=1,
        message_id=4,
        recipient=Sender(
            external_id="c@example.com", name="Eve\r\nBcc: x@evil.example", email="c@example.com"
        ),
        text="Your order",
        author_name="Hana\nSato",
        subject="Order 42\r\nBcc: victim@example.com",
    )
    sent, _ = compose("support@shop.example", crafted)
    assert sent["Subject"] == "Re: Order 42 Bcc: victim@example.com"
    assert sent["Bcc"] is None
    assert sent["From"].addresses[0].display_name == "Hana Sato"
    assert sent["To"].addresses[0].display_name == "Eve Bcc: x@evil.example"
    raw = sent.as_bytes()
    assert b"\nBcc:" not in raw


async def test_a_reply_no_retry_can_write_fails_at_once() -> None:
    impossible = OutboundMessage(
        conversation_id=1,
        message_id=5,
        recipient=Sender(external_id="x", email="not an address\n@example.com"),
        text="hello",
    )
    with pytest.raises(ChannelPermanentError):
        await send(RelayPool(Relay("127.0.0.1", 9)), "support@shop.example", impossible)
