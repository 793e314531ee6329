"""What holds for every platform's webhook: bad input is refused and stores
nothing, an event is stored once however often it comes, and history is in
the order the customer wrote even when a retry arrives late."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.channels.social.conftest import Inbox
from tests.channels.social.payloads import (
    encode,
    line_body,
    line_event,
    messaging_body,
    now_ms,
    signed_headers,
    telegram_update,
    unique,
    whatsapp_body,
)
from tests.harness import Api

CHANNELS = ("telegram", "line", "messenger", "instagram", "whatsapp")


def one_message(inbox: Inbox, text: str = "hello", **ids: Any) -> dict[str, Any]:
    """A webhook with one customer message for this inbox's platform."""
    if inbox.channel == "telegram":
        return telegram_update(ids.get("user", unique()), text, **ids.get("telegram", {}))
    if inbox.channel == "line":
        return line_body(
            line_event(ids.get("user", f"U{uuid.uuid4().hex}"), text, **ids.get("line", {}))
        )
    if inbox.channel == "whatsapp":
        return whatsapp_body(
            inbox.config["phone_number_id"],
            str(ids.get("user", unique())),
            text,
            **ids.get("whatsapp", {}),
        )
    owner = inbox.config["page_id"]
    return messaging_body(
        inbox.channel, owner, str(ids.get("user", unique())), text, **ids.get("meta", {})
    )


@pytest.mark.parametrize("channel", CHANNELS)
async def test_malformed_json_is_a_400_and_stores_nothing(new_inbox: Any, channel: str) -> None:
    inbox = await new_inbox(channel)
    for body in (b"{not json", b"[]", b'{"unrelated": true}'):
        r = await inbox.post(body)  # signed: only the content is wrong
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"] == "bad_request"
    assert await inbox.conversations() == []


@pytest.mark.parametrize("slug", ["telegram", "line", "meta"])
async def test_an_unknown_inbox_is_a_404(social_api: Api, slug: str) -> None:
    assert (
        await social_api.http.post(f"/webhooks/{slug}/999999", content=b"{}")
    ).status_code == 404
    r = await social_api.http.get(
        f"/webhooks/{slug}/999999", params={"hub.mode": "subscribe", "hub.verify_token": "x"}
    )
    assert r.status_code == 404


async def test_a_webhook_at_another_platforms_path_is_a_404(
    new_inbox: Any, social_api: Api
) -> None:
    telegram = await new_inbox("telegram")
    body = encode(one_message(telegram))
    headers = signed_headers("telegram", telegram.config, body)
    for slug in ("line", "meta"):
        r = await social_api.http.post(
            f"/webhooks/{slug}/{telegram.id}", content=body, headers=headers
        )
        assert r.status_code == 404
    assert await telegram.conversations() == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_the_same_event_ten_times_at_once_is_stored_once(
    social_api: Api, new_inbox: Any, channel: str
) -> None:
    inbox = await new_inbox(channel)
    body = encode(one_message(inbox, "only once"))
    answers = await asyncio.gather(*(inbox.post(body) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    conversation = await inbox.only_conversation()
    assert [m["body"] for m in await social_api.messages(conversation["id"])] == ["only once"]
    assert (await inbox.post(body)).status_code == 200  # and a retry later
    assert len(await social_api.messages(conversation["id"])) == 1


async def test_a_body_over_one_megabyte_is_a_413_and_stores_nothing(
    social_api: Api, new_inbox: Any
) -> None:
    inbox = await new_inbox("line")
    body = encode(one_message(inbox, "x" * (1024 * 1024 + 1)))
    r = await inbox.post(body)  # signed, and otherwise a fine webhook
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    # Sent in chunks without a length, it is cut off as it arrives.
    headers = signed_headers("line", inbox.config, body)

    async def chunks() -> Any:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    r = await social_api.http.post(inbox.url, content=chunks(), headers=headers)
    assert r.status_code == 413
    assert await inbox.conversations() == []


async def test_history_follows_the_platforms_clock_when_a_retry_arrives_late(
    social_api: Api, new_inbox: Any
) -> None:
    inbox = await new_inbox("whatsapp")
    number, customer = inbox.config["phone_number_id"], str(unique())
    now = int(time.time())
    first = whatsapp_body(number, customer, "my address is 1-2-3 Umeda", timestamp=now - 120)
    second = whatsapp_body(number, customer, "sorry, and the flat is 402", timestamp=now - 60)
    # Our answer to the first delivery was lost: WhatsApp retries it after
    # the customer's next message has already come.
    assert (await inbox.post(second)).status_code == 200
    assert (await inbox.post(first)).status_code == 200
    conversation = await inbox.only_conversation()

    # The conversation's messages keep seq: the order they were stored, which
    # live clients resume by. Each carries when the customer sent it.
    stored = await social_api.messages(conversation["id"])
    assert [(m["seq"], m["body"]) for m in stored] == [
        (1, "sorry, and the flat is 402"),
        (2, "my address is 1-2-3 Umeda"),
    ]
    assert stored[1]["sent_at"] < stored[0]["sent_at"]
    # The customer's history is in the order they wrote.
    timeline = await social_api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}/timeline",
        params={"limit": 1},
        headers=social_api.auth(social_api.admin_token),
    )
    page = timeline.json()
    assert [m["body"] for m in page["items"]] == ["my address is 1-2-3 Umeda"]
    rest = await social_api.http.get(
        f"/api/v1/customers/{conversation['customer_id']}/timeline",
        params={"limit": 10, "cursor": page["next_cursor"]},
        headers=social_api.auth(social_api.admin_token),
    )
    assert [m["body"] for m in rest.json()["items"]] == ["sorry, and the flat is 402"]


async def test_a_platform_clock_ahead_of_ours_never_dates_a_message_after_its_arrival(
    social_api: Api, new_inbox: Any
) -> None:
    inbox = await new_inbox("messenger")
    body = one_message(inbox, "from the future", meta={"timestamp": now_ms(3600)})
    assert (await inbox.post(body)).status_code == 200
    conversation = await inbox.only_conversation()
    (stored,) = await social_api.messages(conversation["id"])
    assert stored["sent_at"] == stored["created_at"]
