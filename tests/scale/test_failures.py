"""Losing a process or Redis loses no acknowledged message, and a client that
resumes by seq gets each message once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from tests.harness import Api, Socket
from tests.scale.conftest import Cluster, eventually

MESSAGES = 1000


async def _resume(api: Api, session_token: str, after_seq: int) -> tuple[Socket, list[Any]]:
    """A widget socket on `api`, resumed after `after_seq`: the replayed frames."""
    ws = await websockets.connect(f"{api.server.ws_url}/ws/widget?token={session_token}")
    widget = Socket(ws)
    await widget.send({"type": "resume", "after_seq": after_seq})
    replayed = []
    while (frame := await widget.next()).get("type") != "resumed":
        if frame.get("type") == "message":
            replayed.append(frame)
    return widget, replayed


async def test_kill_9_mid_burst_loses_no_acked_message(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    inbox = await a.create_inbox()
    agent = await a.create_agent(capacity=5)
    session = await a.new_session(inbox, name="Burst")
    token = session["session_token"]
    acked: dict[str, tuple[int, int]] = {}
    conversation_id: int | None = None
    async with b.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        ws = await websockets.connect(f"{a.server.ws_url}/ws/widget?token={token}")
        for i in range(MESSAGES):
            await ws.send(json.dumps({"type": "message", "client_id": f"m-{i}", "body": f"{i}"}))
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "ack":
                    acked[frame["client_id"]] = (frame["id"], frame["seq"])
                    conversation_id = frame["conversation_id"]
                    if len(acked) == MESSAGES // 3:
                        a.server.kill()  # SIGKILL, mid-burst
        except websockets.ConnectionClosed:
            pass
        assert MESSAGES // 3 <= len(acked) < MESSAGES
        assert conversation_id is not None

        # A may have died between committing messages and publishing them:
        # B sees A's liveness key expire without A having left cleanly, and
        # tells its sockets to reconnect and catch up (1012).
        assert await _closed_code(console) == 1012

    # B's agent saw each message at most once live, until the 1012.
    live = [f["message"] for f in console.seen if f.get("type") == "message.created"]
    assert len({m["id"] for m in live}) == len(live)
    contiguous = 0
    for seq in sorted(m["seq"] for m in live):
        if seq != contiguous + 1:
            break
        contiguous = seq
    # The console reconnects and fetches what it missed after the last seq it
    # saw in order; from then on it hears the rest live.
    async with b.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        caught_up = [
            m for m in await b.messages(conversation_id, agent["token"]) if m["seq"] > contiguous
        ]
        agent_view = [m["id"] for m in live if m["seq"] <= contiguous]
        agent_view += [m["id"] for m in caught_up]

        # The widget reconnects to B, resumes and sends again what was not acked.
        widget, replayed = await _resume(b, token, 0)
        for frame in replayed:
            if frame.get("client_id") in acked:
                assert (frame["id"], frame["seq"]) == acked[frame["client_id"]]
        for i in range(MESSAGES):
            if f"m-{i}" not in acked:
                await widget.send({"type": "message", "client_id": f"m-{i}", "body": f"{i}"})
        while len(acked) < MESSAGES:
            frame = await widget.next()
            if frame["type"] == "ack":
                earlier = acked.setdefault(frame["client_id"], (frame["id"], frame["seq"]))
                assert earlier == (frame["id"], frame["seq"])
        await widget.ws.close()

        while len(agent_view) < MESSAGES:
            frame = await console.next()
            if frame.get("type") == "message.created":
                agent_view.append(frame["message"]["id"])
        # Nothing more comes: a second copy of any message would show here.
        late = await console.quiet(0.5)
        agent_view += [f["message"]["id"] for f in late if f.get("type") == "message.created"]

    stored = await b.messages(conversation_id)
    assert [m["seq"] for m in stored] == list(range(1, MESSAGES + 1))
    assert sorted(m["client_id"] for m in stored) == sorted(f"m-{i}" for i in range(MESSAGES))
    assert {m["client_id"]: (m["id"], m["seq"]) for m in stored} == acked
    # B's agent has every acked message exactly once.
    assert sorted(agent_view) == sorted(m["id"] for m in stored)


async def test_a_process_that_stops_cleanly_makes_nobody_reconnect(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    inbox = await a.create_inbox()
    agent = await a.create_agent(capacity=5)
    session = await a.new_session(inbox, name="Goodbye")
    async with b.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        async with a.widget(session["session_token"]) as widget:
            await widget.expect("status")
            await widget.send({"type": "message", "client_id": "last", "body": "last words"})
            ack = await widget.expect("ack")
        await asyncio.to_thread(a.server.stop)  # SIGTERM: a clean shutdown
        # What A published before it left reaches B; A's liveness key going
        # is no death, so B's sockets stay open past when a death would show.
        await console.expect_for("message.created", ack["conversation_id"])
        await console.quiet(4.0)
        assert console.ws.close_code is None


async def test_redis_restart_mid_chat_loses_nothing_and_resumes_once(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    inbox = await a.create_inbox()
    agent = await a.create_agent(capacity=5)
    session = await a.new_session(inbox, name="Outage")
    token = session["session_token"]
    async with a.widget(token) as widget, b.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        await widget.expect("status")
        await widget.send({"type": "message", "client_id": "before", "body": "before"})
        ack = await widget.expect("ack")
        conversation_id = ack["conversation_id"]
        await console.expect_for("message.created", conversation_id)

        cluster.redis.kill()

        async def degraded(api: Api) -> bool:
            return (await api.http.get("/healthz")).json()["status"] == "degraded"

        await eventually(lambda: degraded(a), timeout=15)
        await eventually(lambda: degraded(b), timeout=15)

        # Both processes keep storing: the customer's message on A, the agent's on B.
        await widget.send({"type": "message", "client_id": "during", "body": "during"})
        during = await widget.expect("ack")
        r = await b.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"body": "reply during", "client_id": "agent-during"},
            headers=b.auth(agent["token"]),
        )
        assert r.status_code in (200, 201), r.text

        cluster.redis.start()

        async def healthy(api: Api) -> bool:
            return (await api.http.get("/healthz")).json()["status"] == "ok"

        await eventually(lambda: healthy(a), timeout=20)
        await eventually(lambda: healthy(b), timeout=20)
        # The sockets are told to reconnect and resume (1012).
        closed = await _closed_code(widget)
        assert closed == 1012

    # The customer resumes after the highest seq it saw: each later message once.
    highest = max(
        [f["seq"] for f in widget.seen if f.get("type") == "message"] + [ack["seq"], during["seq"]]
    )
    resumed, replayed = await _resume(b, token, highest)
    await resumed.ws.close()
    stored = await a.messages(conversation_id)
    shown = [f["seq"] for f in widget.seen if f.get("type") == "message"] + [
        f["seq"] for f in replayed
    ]
    acks = [ack["seq"], during["seq"]]
    assert sorted(shown + acks) == [m["seq"] for m in stored]
    assert [m["body"] for m in stored] == ["before", "during", "reply during"]


async def _closed_code(socket: Socket) -> int | None:
    """Reads on until the server closes the socket: its close code."""
    try:
        while True:
            await socket.next(timeout=15)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


__all__ = ["httpx", "asyncio"]
