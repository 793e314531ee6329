"""One truth for "open" and "next opening": the availability (endpoint,
widget session, `availability` frame) names the inbox's zone and words the
next opening exactly as the away message does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.harness import Api
from tests.responders.conftest import minute, now, one_slot, set_hours, set_responders


async def _availability(api: Api, inbox: dict[str, Any]) -> dict[str, Any]:
    r = await api.http.get(f"/api/v1/inboxes/{inbox['id']}/availability")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_the_widget_is_told_the_next_opening_in_the_away_messages_words(
    api: Api, inbox: dict[str, Any]
) -> None:
    opens = minute(now()) + timedelta(hours=2)
    await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=3), "Asia/Tokyo"))
    told = await _availability(api, inbox)
    assert told["open"] is False
    assert told["time_zone"] == "Asia/Tokyo"
    assert told["next_open_text"].endswith("(JST)")
    session = await api.new_session(inbox, name="Ada")
    assert session["availability"]["time_zone"] == "Asia/Tokyo"
    assert session["availability"]["next_open_text"] == told["next_open_text"]
    async with api.widget(session["session_token"]) as widget:
        frame = await widget.expect("availability")
        assert frame["next_open_text"] == told["next_open_text"]
        await widget.send({"type": "message", "client_id": "c-1", "body": "anyone there?"})
        await widget.expect("ack")
        away = await widget.expect("message")
    # The header and the away message say the same moment in the same words.
    assert f"back at {told['next_open_text']}" in away["body"]
    assert told["next_open_texts"]["en"] == told["next_open_text"]


async def test_a_japanese_shopper_reads_the_japanese_words_the_away_message_uses(
    api: Api, inbox: dict[str, Any]
) -> None:
    opens = minute(now()) + timedelta(hours=2)
    await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=1), "Asia/Tokyo"))
    session = await api.new_session(inbox, language="ja-JP")
    words = session["availability"]["next_open_texts"]["ja"]
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "こんにちは"})
        await widget.expect("ack")
        away = await widget.expect("message")
    assert words in away["body"]


async def test_an_inbox_that_speaks_japanese_words_it_in_japanese(
    api: Api, inbox: dict[str, Any]
) -> None:
    await set_responders(api, inbox, language="ja")
    opens = minute(now()) + timedelta(hours=5)
    await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=1), "Asia/Tokyo"))
    told = await _availability(api, inbox)
    local = opens.astimezone(ZoneInfo("Asia/Tokyo"))
    assert told["next_open_text"].startswith(f"{local.month}月{local.day}日(")
    assert told["next_open_text"].endswith(f"{local.hour}:{local.minute:02d} (JST)")


async def test_open_or_without_hours_there_is_no_next_opening_to_tell(
    api: Api, inbox: dict[str, Any]
) -> None:
    # Without business hours: the contract's three fields, nothing added.
    assert set(await _availability(api, inbox)) == {
        "open",
        "next_open_at",
        "expected_reply_seconds",
    }
    start = minute(now()) - timedelta(hours=1)
    await set_hours(api, inbox, one_slot(start, start + timedelta(hours=3), "Europe/Paris"))
    told = await _availability(api, inbox)
    assert (told["open"], told["next_open_at"], told["time_zone"]) == (True, None, "Europe/Paris")
    assert "next_open_text" not in told
    assert "next_open_texts" not in told


async def test_the_frame_of_a_change_carries_the_zone_and_the_words(
    api: Api, inbox: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        assert "time_zone" not in await widget.expect("availability")
        opens = minute(now()) + timedelta(hours=3)
        await set_hours(api, inbox, one_slot(opens, opens + timedelta(hours=1), "Asia/Tokyo"))
        closed = await widget.expect("availability")
    told = await _availability(api, inbox)
    assert closed["open"] is False
    assert closed["time_zone"] == "Asia/Tokyo"
    assert closed["next_open_text"] == told["next_open_text"]
    assert closed["next_open_texts"] == told["next_open_texts"]
