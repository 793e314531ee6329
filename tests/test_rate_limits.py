"""Past a limit: 429 with Retry-After, or an error frame; nothing acked is lost."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.app_in_process import app_in_process
from tests.conftest import StartServer
from tests.redis_alone import (  # noqa: F401 - fixtures
    lone_redis_server_fixture,
    start_of_a_minute_fixture,
)
from tests.scale.conftest import RedisServer, eventually


async def test_widget_sessions_and_messages_are_rate_limited(start_server: StartServer) -> None:
    api = await start_server(
        {"MADOGUCHI_RATE_WIDGET_SESSIONS": "3", "MADOGUCHI_RATE_WIDGET_MESSAGES": "5"}
    )
    inbox = await api.create_inbox()
    sessions = [await api.new_session(inbox) for _ in range(3)]
    r = await api.http.post("/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"]})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    # Resuming an existing session is not a new session.
    resumed = await api.new_session(inbox, session_token=sessions[0]["session_token"])
    assert resumed["customer_id"] == sessions[0]["customer_id"]

    acked: list[str] = []
    limited: list[str] = []
    async with api.widget(sessions[0]["session_token"]) as widget:
        for i in range(8):
            await widget.send({"type": "message", "client_id": f"m-{i}", "body": f"message {i}"})
        for _ in range(8):
            frame = await widget.next()
            while frame["type"] not in ("ack", "error"):
                frame = await widget.next()
            if frame["type"] == "ack":
                acked.append(frame["client_id"])
                conversation_id = frame["conversation_id"]
            else:
                assert frame["code"] == "rate_limited"
                assert frame["retry_after"] > 0
                limited.append(frame["client_id"])
    assert sorted(acked) == [f"m-{i}" for i in range(5)]
    assert sorted(limited) == [f"m-{i}" for i in range(5, 8)]
    stored = await api.messages(conversation_id)
    assert sorted(m["client_id"] for m in stored) == sorted(acked)


async def test_typing_and_read_frames_are_rate_limited(start_server: StartServer) -> None:
    """Each typing or read frame costs a database round trip: they have a limit too."""
    api = await start_server({"MADOGUCHI_RATE_WIDGET_SIGNALS": "4"})
    inbox = await api.create_inbox()
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "m-1", "body": "hello"})
        ack = await widget.expect("ack")
        for _ in range(3):
            await widget.send({"type": "typing", "on": True})
        await widget.send({"type": "read", "seq": 1})
        assert not [f for f in await widget.quiet(0.5) if f["type"] == "error"]
        await widget.send({"type": "typing", "on": False})
        error = await widget.expect("error")
        assert error["code"] == "rate_limited"
        assert error["retry_after"] > 0
        await widget.send({"type": "read", "seq": 1})
        assert (await widget.expect("error"))["code"] == "rate_limited"
        # Messages have their own limit and still go through.
        await widget.send({"type": "message", "client_id": "m-2", "body": "still here"})
        assert (await widget.expect("ack"))["client_id"] == "m-2"
    assert len(await api.messages(ack["conversation_id"])) == 2


async def shared_limits_degraded(metrics: httpx.AsyncClient) -> float:
    text = (await metrics.get("/metrics")).text
    found = re.search(r"^madoguchi_shared_limits_degraded (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return float(found[1])


@pytest.mark.usefixtures("start_of_a_minute")
async def test_login_limit_holds_at_a_share_per_process_while_redis_is_down(
    tmp_path: Path, lone_redis_server: RedisServer
) -> None:
    """Two processes share the limit of 4 through Redis. While Redis is down
    each one allows 2 (its share) and says so on /metrics; once it is back,
    the whole limit is shared again."""
    async with app_in_process(
        tmp_path, redis_url=lone_redis_server.url, rate_login=4, server_processes=2
    ) as app:
        metrics = await app.client("127.0.0.1")

        async def wrong_logins(address: str, email: str, count: int) -> list[int]:
            client = await app.client(address)
            body = {"email": email, "password": "a guess"}
            return [
                (await client.post("/api/v1/auth/token", json=body)).status_code
                for _ in range(count)
            ]

        assert await shared_limits_degraded(metrics) == 0

        lone_redis_server.kill()
        # The first count sent after the outage began finds it out.
        assert await wrong_logins("192.0.2.1", "probe@example.com", 1) == [401]

        async def outage_shown() -> bool:
            return await shared_limits_degraded(metrics) == 1

        await eventually(outage_shown)
        assert await wrong_logins("203.0.113.7", "target@example.com", 4) == [401, 401, 429, 429]

        lone_redis_server.start()

        async def outage_over() -> bool:
            return await shared_limits_degraded(metrics) == 0

        await eventually(outage_over)
        assert await wrong_logins("203.0.113.8", "other@example.com", 6) == [401] * 4 + [429] * 2
