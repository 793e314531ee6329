"""Work that must happen once happens once, whichever process does it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.worker.runner import enqueue
from tests.harness import Socket
from tests.scale.conftest import Cluster, eventually
from tests.scale.job_runner import KIND

JOBS = 300


async def test_each_job_runs_once_with_three_processes_polling(
    cluster: Cluster, tmp_path: Path
) -> None:
    await cluster.start(1)  # migrates the database
    db = Database(Settings(database_url=cluster.database_url), MemoryBus())
    async with db.write() as session:
        for n in range(JOBS):
            await enqueue(session, KIND, {"n": n})
    await db.dispose()
    out = tmp_path / "ran.txt"
    processes = [
        subprocess.Popen(  # noqa: S603 - the test's own script
            [
                sys.executable,
                "-m",
                "tests.scale.job_runner",
                cluster.database_url,
                str(out),
                str(JOBS),
            ]
        )
        for _ in range(3)
    ]
    # Polling starts together, once all three are up: a slow import under
    # load must not leave one process with nothing to do.
    for _ in range(1200):
        if len(list(tmp_path.glob("ready-*"))) == 3:
            break
        await asyncio.sleep(0.05)
    (tmp_path / "go").touch()
    for process in processes:
        assert await asyncio.to_thread(process.wait, 60) == 0
    lines = [line.split() for line in out.read_text().splitlines()]
    runs = Counter(int(n) for n, _ in lines)
    assert sorted(runs) == list(range(JOBS))
    assert set(runs.values()) == {1}
    # All three took part: the leases were shared, not serialised behind one.
    assert len({pid for _, pid in lines}) == 3


async def test_two_processes_racing_never_double_assign_or_exceed_capacity(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start(2)
    inbox = await a.create_inbox()
    agents = [await a.create_agent(capacity=3) for _ in range(10)]
    consoles: list[Socket] = []
    contexts: list[Any] = []
    for i, agent in enumerate(agents):
        context = (a if i % 2 else b).agent_socket(agent["token"])
        contexts.append(context)
        consoles.append(await context.__aenter__())
    try:
        for console in consoles:
            await console.expect("hello")

        async def all_online() -> bool:
            r = await b.http.get("/api/v1/agents", headers=b.auth(b.admin_token))
            online = {x["id"] for x in r.json()["items"] if x["status"] == "online"}
            return {agent["id"] for agent in agents} <= online

        await eventually(all_online, timeout=15)

        async def open_conversation(i: int) -> None:
            api = a if i % 2 else b
            session = await api.new_session(inbox, name=f"Customer {i}")
            async with api.widget(session["session_token"]) as widget:
                await widget.send({"type": "message", "client_id": "1", "body": "help"})
                await widget.expect("ack")

        for start in range(0, 200, 20):
            await asyncio.gather(*(open_conversation(i) for i in range(start, start + 20)))

        async def assigned() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                r = await a.http.get(
                    "/api/v1/conversations", params=params, headers=a.auth(a.admin_token)
                )
                page = r.json()
                items += [c for c in page["items"] if c["assignee_id"] is not None]
                cursor = page["next_cursor"]
                if not cursor:
                    return items

        async def full() -> bool:
            return len(await assigned()) == 30

        await eventually(full, timeout=30)
        await asyncio.sleep(1.0)  # any pass still running would show by now
        final = await assigned()
        assert len(final) == 30
        load = Counter(c["assignee_id"] for c in final)
        assert set(load) == {agent["id"] for agent in agents}
        assert max(load.values()) == 3

        # Each conversation was handed to one agent only.
        handed: dict[int, set[int]] = {}
        for agent, console in zip(agents, consoles, strict=True):
            for frame in await console.quiet(0.2) + console.seen:
                if frame.get("type") == "conversation.assigned":
                    conversation = frame["conversation"]
                    if (conversation.get("assignee") or {}).get("id") == agent["id"]:
                        handed.setdefault(conversation["id"], set()).add(agent["id"])
        assert all(len(who) == 1 for who in handed.values())
        assert len(handed) == 30
    finally:
        for context in contexts:
            await context.__aexit__(None, None, None)
