"""Templates, languages and the reply-time estimate, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.inboxes.calendar import from_json
from app.responders import estimate, templates
from app.responders.estimate import QueueNow
from app.responders.templates import Responder


def test_only_known_placeholders_are_filled() -> None:
    text = templates.render(
        "Hi {customer_name} {0.__class__} {missing} {", {"customer_name": "Ada"}
    )
    assert text == "Hi Ada {0.__class__} {missing} {"


def test_the_language_comes_from_the_channel_then_the_text_then_the_inbox() -> None:
    assert templates.language_of("ja-JP", "hello") == "ja"
    assert templates.language_of("en-GB", "こんにちは") == "en"
    assert templates.language_of(None, "こんにちは") == "ja"
    assert templates.language_of(None, "hello", "ja") == "ja"
    assert templates.language_of(None, "hello") == "en"


def test_a_template_set_to_nothing_is_off() -> None:
    assert templates.template_for({"away": ""}, Responder.AWAY, "en") is None
    assert templates.template_for({"away": None}, Responder.AWAY, "en") is None
    assert (
        templates.template_for({}, Responder.AWAY, "ja") == templates.DEFAULTS[Responder.AWAY]["ja"]
    )


def test_the_week_in_one_line() -> None:
    hours = from_json(
        {
            "timezone": "Asia/Tokyo",
            "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
            | {"sat": [["10:00", "12:00"]]},
        }
    )
    assert templates.hours_summary(hours, "en") == (
        "Mon-Fri 09:00-18:00; Sat 10:00-12:00 (Asia/Tokyo)"
    )
    assert templates.hours_summary(hours, "ja") == "月-金 09:00-18:00、土 10:00-12:00 (Asia/Tokyo)"
    assert templates.hours_summary(None, "en") == "around the clock"


def test_routing_and_the_promise_share_one_queue_estimate() -> None:
    # Routing's status frames: the wait for the conversation at a place in line.
    assert estimate.queue_wait(1, 300, 2) == 150
    # Room now: the first-answer time; no room: the wait in line, at least that.
    assert estimate.reply_seconds(QueueNow(waiting=0, slots=2, free_slots=1), 300) == 300
    busy = QueueNow(waiting=3, slots=2, free_slots=0, handling_seconds=600)
    assert estimate.reply_seconds(busy, 300) == estimate.queue_wait(4, 600, 2) == 1200


def test_closed_now_the_promise_starts_at_the_next_opening() -> None:
    hours = from_json({"timezone": "Asia/Tokyo", "weekly": {"mon": [["09:00", "18:00"]]}})
    sunday_night = datetime(2026, 3, 1, 14, tzinfo=UTC)  # 23:00 in Tokyo
    found = estimate.promise(hours, sunday_night, QueueNow(0, 0, 0), 300)
    monday_nine = datetime(2026, 3, 2, 0, tzinfo=UTC)
    assert found.open is False
    assert found.next_open_at == monday_nine
    assert found.reply_by == monday_nine + timedelta(seconds=300)
    assert found.expected_reply_seconds == 10 * 3600 + 300
    # Always open, nobody waiting: the default first answer (the availability
    # endpoint's 300 seconds).
    assert (
        estimate.promise(None, sunday_night, QueueNow(0, 0, 0), 300).expected_reply_seconds == 300
    )
