"""A socket that cannot keep up is closed, and loses nothing: what it got is a
gap-free prefix, and `resume` brings the rest, however long the history."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import StartServer
from tests.harness import Api

BIG = "x" * 15_000


async def _drain(ws: websockets.ClientConnection) -> list[dict[str, Any]]:
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    except (ConnectionClosed, TimeoutError):
        return frames


async def test_a_slow_socket_is_closed_and_misses_nothing(start_server: StartServer) -> None:
    api = await start_server({"MADOGUCHI_WS_MAX_QUEUED_FRAMES": "32"})
    inbox = await api.create_inbox()
    session = await api.new_session(inbox)
    token = session["session_token"]
    async with api.widget(token) as widget:
        await widget.send({"type": "message", "client_id": "c-0", "body": "hi"})
        conversation_id = (await widget.expect("ack"))["conversation_id"]
    agent = await api.create_agent()
    count = 400
    url = f"{api.server.ws_url}/ws/widget?token={token}"
    # The slow customer: its client stops reading after one queued frame, so
    # the server's writes back up through the kernel's buffers.
    slow = await websockets.connect(url, max_queue=1, max_size=None)
    async with api.agent_socket(agent["token"], max_size=None) as console:
        await console.expect("hello")

        async def read_acks() -> None:
            acks = 0
            while acks < count:
                if (await console.next(30))["type"] == "ack":
                    acks += 1

        # The agent reads as it writes: only the customer is slow.
        reader = asyncio.create_task(read_acks())
        for i in range(count):
            await console.send(
                {
                    "type": "message",
                    "conversation_id": conversation_id,
                    "client_id": f"a-{i}",
                    "body": f"{i} {BIG}",
                }
            )
            await asyncio.sleep(0)
        await reader
    await asyncio.sleep(1)
    frames = await _drain(slow)
    assert slow.close_code == 1013, "the slow socket was not closed"
    seqs = [f["seq"] for f in frames if f["type"] == "message"]
    assert seqs, "the slow socket got nothing at all"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap before the close"
    async with api.widget(token, max_size=None) as widget:
        await widget.expect("status")
        await widget.send({"type": "resume", "after_seq": seqs[-1]})
        rest = []
        while True:
            frame = await widget.next(15)
            if frame["type"] == "resumed":
                break
            rest.append(frame["seq"])
    assert seqs + rest == list(range(seqs[0], count + 2))


@pytest.mark.parametrize("history", [5000])
async def test_resume_of_a_long_history_is_complete_over_a_slow_socket(
    api: Api, inbox: dict[str, Any], history: int
) -> None:
    session = await api.new_session(inbox)
    token = session["session_token"]
    async with api.widget(token) as widget:
        for i in range(history):
            await widget.send({"type": "message", "client_id": f"h-{i}", "body": f"m{i}"})
        acks = [await widget.expect("ack", timeout=60) for _ in range(history)]
    conversation_id = acks[0]["conversation_id"]
    url = f"{api.server.ws_url}/ws/widget?token={token}"
    async with websockets.connect(url, max_queue=4) as ws:
        await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        replies: list[asyncio.Task[Any]] = []
        seqs: list[int] = []
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if frame["type"] == "message":
                seqs.append(frame["seq"])
                if len(seqs) % 250 == 0:
                    await asyncio.sleep(0.05)  # a slow reader
                if len(seqs) == 1000:
                    # Live replies while the replay is still going.
                    for body in ("live 1", "live 2", "live 3"):
                        replies.append(
                            asyncio.create_task(
                                api.http.post(
                                    f"/api/v1/conversations/{conversation_id}/messages",
                                    json={"body": body},
                                    headers=api.auth(api.admin_token),
                                )
                            )
                        )
            elif frame["type"] == "resumed":
                resumed = frame
                await asyncio.gather(*replies)
                # The live replies came in the replay (stored before its page
                # was read) or were held and follow `resumed`: never both.
                missing = history + 3 - len(seqs)
                seqs.extend(f["seq"] for f in await _drain_messages(ws, missing))
                break
    assert resumed["last_seq"] >= history
    assert seqs == list(range(1, history + 4)), "every message once, in order"


async def _drain_messages(ws: websockets.ClientConnection, count: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while len(frames) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if frame["type"] == "message":
            frames.append(frame)
    return frames
