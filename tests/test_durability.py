"""kill -9 after a burst of acked messages: every acked message survives, once."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.conftest import StartServer


async def test_acked_messages_survive_kill_9(start_server: StartServer) -> None:
    api = await start_server()
    inbox = await api.create_inbox()
    sessions = [await api.new_session(inbox) for _ in range(4)]
    acked: dict[str, dict[str, int]] = {}

    async def burst(token: str, prefix: str) -> None:
        url = f"{api.server.ws_url}/ws/widget?token={token}"
        try:
            async with websockets.connect(url) as ws:
                for i in range(400):
                    await ws.send(
                        json.dumps(
                            {
                                "type": "message",
                                "client_id": f"{prefix}-{i}",
                                "body": f"{prefix} {i}",
                            }
                        )
                    )
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame["type"] == "ack":
                        acked[frame["client_id"]] = frame
        except (websockets.ConnectionClosed, OSError, TimeoutError):
            return

    bursts = [
        asyncio.create_task(burst(s["session_token"], f"s{n}")) for n, s in enumerate(sessions)
    ]
    # Kill while acks are still flowing, so some messages are mid-flight.
    while len(acked) < 300:
        await asyncio.sleep(0.005)
    api.server.kill()
    await asyncio.gather(*bursts)
    assert len(acked) >= 300

    await api.server.start()
    api.admin_token = await api.login("admin@example.com", "correct horse battery")
    conversations = {a["conversation_id"] for a in acked.values()}
    stored: dict[str, dict[str, int]] = {}
    for conversation_id in conversations:
        messages = await api.messages(conversation_id)
        seqs = [m["seq"] for m in messages]
        assert seqs == list(range(1, len(seqs) + 1)), "seq must be gap-free"
        for m in messages:
            assert m["client_id"] not in stored, "a message was stored twice"
            stored[m["client_id"]] = m
    for client_id, ack in acked.items():
        assert client_id in stored, f"acked message {client_id} was lost"
        assert stored[client_id]["id"] == ack["id"]
        assert stored[client_id]["seq"] == ack["seq"]
