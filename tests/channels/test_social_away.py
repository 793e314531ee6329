"""A platform chat outside business hours: the customer gets the away message
on that platform, in their language, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.channels.conftest import message_event, post_webhook, webhook_body
from tests.channels.fake_platform import FakePlatform
from tests.harness import Api
from tests.responders.conftest import minute, now, one_slot, set_hours


async def test_a_platform_chat_outside_hours_gets_the_away_message_once(
    channel_api: Api, platform: FakePlatform, fake_inbox: dict[str, Any]
) -> None:
    opens = minute(now()) + timedelta(hours=3)
    await set_hours(channel_api, fake_inbox, one_slot(opens, opens + timedelta(hours=1)))
    for text in ("こんにちは、注文について", "まだですか"):
        r = await post_webhook(channel_api, fake_inbox, webhook_body(message_event("u-77", text)))
        assert r.status_code == 200, r.text
    (sent,) = await platform.wait_for(1)
    assert sent["chat_id"] == "u-77"
    assert "ただいま営業時間外です" in sent["text"]
    assert f"{opens.hour}:{opens.minute:02d} (UTC)" in sent["text"]
    await asyncio.sleep(1.0)
    assert len(platform.received) == 1
