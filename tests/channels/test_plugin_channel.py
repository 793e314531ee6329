"""A plug-in channel is known everywhere a built-in one is: the redirect text
names it by its own label and address, the reports filter by it, and what it
does not state falls back to something sensible. All of it is read from the
channel registry, so nothing outside the plug-in's module lists it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from app.channels.base import InboundMessage, Sender, channel_label, public_address
from app.channels.registry import ChannelRegistry, build_registry
from app.config import Settings
from app.responders import planner, templates
from app.responders.planner import InboxResponders
from app.responders.templates import Responder
from tests.channels.conftest import SECRET, message_event, post_webhook, webhook_body
from tests.channels.fake_channel import PUBLIC_BASE, FakeChat
from tests.channels.fake_platform import FakePlatform
from tests.conftest import StartServer
from tests.harness import Api

PLUGIN = "tests.channels.fake_channel:FakeChat"


@pytest.fixture(scope="module")
async def plugin_api(start_module_server: StartServer, platform: FakePlatform) -> Api:
    """A server of its own: the redirect text lists every live inbox."""
    return await start_module_server({"MADOGUCHI_CHANNEL_PLUGINS": PLUGIN})


async def _fakechat_inbox(
    api: Api, platform: FakePlatform, *, mode: str = "live", **config: Any
) -> dict[str, Any]:
    r = await api.http.post(
        "/api/v1/inboxes",
        json={
            "name": f"FakeChat {mode}",
            "channel": "fakechat",
            "mode": mode,
            "config": {
                "secret": SECRET,
                "bot_token": platform.bot_token,
                "api_base": platform.url,
                **config,
            },
        },
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _sent_to(platform: FakePlatform, chat_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for sent in platform.received:
            if sent["chat_id"] == chat_id:
                return sent
        await asyncio.sleep(0.05)
    raise TimeoutError(f"nothing was sent to {chat_id}")


async def test_the_redirect_names_a_plugin_channel_by_its_label_and_address(
    plugin_api: Api, platform: FakePlatform
) -> None:
    await _fakechat_inbox(plugin_api, platform, handle="madoguchi_shop")
    old = await _fakechat_inbox(plugin_api, platform, mode="redirect")
    body = webhook_body(message_event("redirected-1", "is anyone there?"))
    assert (await post_webhook(plugin_api, old, body)).status_code == 200

    answer = await _sent_to(platform, "redirected-1")
    # The built-in channels know nothing of FakeChat: only its adapter, in the
    # server's registry, can give this line.
    assert answer["text"] == (
        "Thank you for your message. We don't answer messages here; please reach us on one"
        f" of these channels:\n- FakeChat: {PUBLIC_BASE}/madoguchi_shop"
    )


async def test_the_reports_filter_by_a_plugin_channel_and_refuse_an_unknown_one(
    plugin_api: Api,
) -> None:
    headers = plugin_api.auth(plugin_api.admin_token)
    plugin = await plugin_api.http.get(
        "/api/v1/reports/summary", params={"channel": "fakechat"}, headers=headers
    )
    assert plugin.status_code == 200, plugin.text
    unknown = await plugin_api.http.get(
        "/api/v1/reports/summary", params={"channel": "pigeon"}, headers=headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "invalid_request"
    assert "fakechat" in unknown.json()["detail"]
    assert "pigeon" in unknown.json()["detail"]

    spec = (await plugin_api.http.get("/openapi.json")).json()
    (channel,) = [
        p
        for p in spec["paths"]["/api/v1/reports/summary"]["get"]["parameters"]
        if p["name"] == "channel"
    ]
    assert {"type": "string", "minLength": 1, "maxLength": 20} in channel["schema"]["anyOf"]
    assert "email" in channel["schema"]["examples"]


class Bare:
    """A plug-in that states nothing beyond the protocol."""

    class Config(BaseModel):
        token: str

    kind: ClassVar[str] = "bare"
    config_model: ClassVar[type[Config]] = Config


def test_the_registry_answers_for_plugins_and_falls_back_for_what_they_leave_out() -> None:
    registry = build_registry(Settings(channel_plugins=[PLUGIN]))
    builtin = build_registry(Settings())
    assert registry.kinds() == (*builtin.kinds(), "fakechat")
    assert "fakechat" in registry
    assert "fakechat" not in builtin
    assert registry.label("fakechat") == registry.label("fakechat", "ja") == "FakeChat"
    assert registry.label("email", "ja") == "メール"
    assert registry.label("line", "ja") == "LINE"
    assert registry.async_kinds() == frozenset({"email"})
    config = {"secret": SECRET, "bot_token": "bot-token-1", "api_base": "http://x"}
    assert registry.public_address("fakechat", {**config, "handle": "shop"}) == (
        f"{PUBLIC_BASE}/shop"
    )
    assert registry.public_address("fakechat", config) is None
    # A config the channel cannot read names nothing rather than failing.
    assert registry.public_address("fakechat", {"handle": "shop"}) is None

    bare = ChannelRegistry([Bare()])  # type: ignore[list-item]
    assert bare.label("bare") == channel_label(Bare()) == "bare"
    assert bare.async_kinds() == frozenset()
    assert public_address(Bare(), {"token": "t"}) is None
    assert bare.label("unknown") == "unknown"


def test_the_labels_and_the_asynchronous_channels_come_from_the_registry() -> None:
    registry = ChannelRegistry([FakeChat()])
    assert templates.channel_lines([("fakechat", "x")], "en", registry) == "- FakeChat: x"
    builtin = build_registry(Settings())
    assert templates.channel_lines([("web", "y")], "ja", builtin) == "- チャット: y"

    settings = InboxResponders(
        hours=None,
        templates={},
        window_seconds=3600,
        enabled=frozenset({Responder.GREETING, Responder.ACKNOWLEDGEMENT}),
    )
    message = InboundMessage(external_id="m1", thread_key="", sender=Sender("u1"), text="hi")
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)

    def responder(channel: str, **kwargs: Any) -> str:
        (job,) = planner.plan(channel, settings, message, now, **kwargs)
        return str(job.payload["responder"])

    assert builtin.async_kinds() == frozenset({"email"})
    assert (
        responder("email", async_channels=builtin.async_kinds())
        == responder("fakechat", async_channels={"fakechat"})
        == ("acknowledgement")
    )
    assert (
        responder("fakechat", async_channels=builtin.async_kinds())
        == responder("email", async_channels=())
        == "greeting"
    )
