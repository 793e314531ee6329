"""A customer on one process and an agent on another chat as if on one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.harness import free_port
from tests.scale.conftest import Cluster, eventually


async def test_customer_on_a_and_agent_on_b_chat_both_ways(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    inbox = await a.create_inbox()
    agent = await a.create_agent(capacity=3)
    session = await a.new_session(inbox, name="Alice")
    async with b.agent_socket(agent["token"]) as console:
        await console.expect("hello")

        # Online on B is online for routing on A, which takes the first message.
        async def online_on_a() -> bool:
            r = await a.http.get("/api/v1/agents", headers=a.auth(a.admin_token))
            items = r.json()["items"]
            return any(x["id"] == agent["id"] and x["status"] == "online" for x in items)

        await eventually(online_on_a, timeout=10)

        async with a.widget(session["session_token"]) as widget:
            await widget.expect("status")
            await widget.send({"type": "message", "client_id": "c-1", "body": "Hello from A"})
            ack = await widget.expect("ack")
            conversation_id = ack["conversation_id"]
            created = await console.expect_for("message.created", conversation_id)
            assert created["message"]["body"] == "Hello from A"
            assigned = await console.expect_for("conversation.assigned", conversation_id)
            assert assigned["conversation"]["assignee"]["id"] == agent["id"]
            # The widget on A hears of the assignment routing made.
            await widget.expect("status", assignee={"name": agent["name"]})

            await widget.send({"type": "typing", "on": True})
            typing = await console.expect_for("typing", conversation_id)
            assert typing["author"]["kind"] == "customer"
            assert typing["on"] is True

            await console.send({"type": "typing", "conversation_id": conversation_id, "on": True})
            agent_typing = await widget.expect("typing")
            assert agent_typing["author"] == {"kind": "agent", "name": agent["name"]}

            await console.send(
                {
                    "type": "message",
                    "conversation_id": conversation_id,
                    "client_id": "a-1",
                    "body": "Hello from B",
                }
            )
            assert (await console.expect("ack"))["seq"] == 2
            reply = await widget.expect("message")
            assert (reply["seq"], reply["body"]) == (2, "Hello from B")

            await widget.send({"type": "read", "seq": 2})
            read = await console.expect_for("conversation.read", conversation_id)
            assert read["seq"] == 2

            # Each frame once: nothing came round twice through Redis.
            rest = await console.quiet(0.5) + await widget.quiet(0.1)
            assert not [f for f in rest if f.get("type") in ("message", "message.created")]
    assert [f["message"]["seq"] for f in console.seen if f["type"] == "message.created"] == [1, 2]


async def test_serve_workers_runs_n_processes_on_one_port_and_refuses_without_them(
    cluster: Cluster,
) -> None:
    (a,) = await cluster.start(1)
    assert (await a.http.get("/healthz")).json() == {"status": "ok"}
    port = free_port()
    env = dict(a.server.env)
    with (a.server.data_dir / "workers.log").open("ab") as log:
        parent = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(port)]
            + ["--smtp-port", "0"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/healthz")).json() == {"status": "ok"}
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=60, every=0.2)
            children = psutil_children(parent.pid)
            assert len(children) == 2
    finally:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0

    a.server.env = {k: v for k, v in env.items() if k != "MADOGUCHI_REDIS_URL"}
    no_redis = a.server.cli("serve", "--workers", "2", "--port", "0")
    a.server.env.pop("MADOGUCHI_DATABASE_URL")
    no_postgres = a.server.cli("serve", "--workers", "2", "--port", "0")
    a.server.env = env
    assert no_redis.returncode == 2
    assert "needs Redis" in no_redis.stderr
    assert no_postgres.returncode == 2
    assert "needs PostgreSQL" in no_postgres.stderr


def psutil_children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: Linux, as SO_REUSEPORT)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found
