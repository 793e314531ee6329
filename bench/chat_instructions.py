"""Instructions the server executes per chat message and per widget handshake,
counted by valgrind's callgrind: a figure that a loaded or shared machine does
not distort (CPU seconds per message move by ±30 % there, with the batching).

The server runs under `valgrind --tool=callgrind --instr-atstart=no`, so
start-up and the REST set-up run uninstrumented; instrumentation is switched on
(`callgrind_control -i on`) only around each measured step, and the counters
are dumped after it. Every thread of the process is counted.

Steps, each on a fresh counter:
  handshake   `--handshakes` widget sockets opened one after another (each
              waits for its `availability` and `status` frames);
  one-by-one  `--messages` customer messages, one in flight at a time (each is
              a group commit of its own), each complete once the customer has
              its ack and the assigned agent its `message.created`;
  burst       the same number in bursts of one message per customer (`--customers`
              in flight: the group commit takes them together).

    python bench/chat_instructions.py                 # this checkout's server
    python bench/chat_instructions.py --app-dir /path/to/other/checkout

Needs valgrind (callgrind_control on PATH). Takes about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import harness
from websockets.asyncio.client import ClientConnection, connect


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)  # noqa: S603, S607


def dumped_total(out_dir: Path, before: set[Path]) -> int:
    """Instructions in the dump files written since `before` (one per thread
    group dump), summed."""
    total = 0
    for path in sorted(set(out_dir.glob("cg.*")) - before):
        match = re.search(r"^(?:summary|totals): (\d+)", path.read_text(errors="replace"), re.M)
        if match:
            total += int(match.group(1))
    return total


class Counter:
    """Switches instrumentation on around a step and reads what it cost."""

    def __init__(self, pid: int, out_dir: Path) -> None:
        self.pid = pid
        self.out_dir = out_dir

    def start(self) -> set[Path]:
        callgrind(self.pid, "-i", "on")
        callgrind(self.pid, "-z")
        return set(self.out_dir.glob("cg.*"))

    def stop(self, before: set[Path]) -> int:
        callgrind(self.pid, "-d")
        callgrind(self.pid, "-i", "off")
        return dumped_total(self.out_dir, before)


async def dial(port: int, path: str, token: str) -> ClientConnection:
    return await connect(
        f"ws://{harness.HOST}:{port}{path}?token={token}",
        compression=None,
        proxy=None,
        ping_interval=None,
        open_timeout=120,
        close_timeout=1,
    )


async def until(ws: ClientConnection, kinds: set[str]) -> None:
    seen: set[str] = set()
    while not kinds <= seen:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
        seen.add(frame.get("type"))


class Chat:
    def __init__(self, customers: list[ClientConnection], agents: list[ClientConnection]) -> None:
        self.customers = customers
        self.agents = agents
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.halves: dict[str, int] = {}
        self.count = 0
        self.readers = [asyncio.create_task(self.read(ws)) for ws in [*customers, *agents]]

    async def read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "ack":
                self.half(str(frame["client_id"]))
            elif frame.get("type") == "message.created":
                self.half(str(frame["message"].get("client_id")))

    def half(self, client_id: str) -> None:
        if client_id not in self.waiting:
            return
        self.halves[client_id] = self.halves.get(client_id, 0) + 1
        if self.halves[client_id] == 2:
            self.waiting.pop(client_id).set_result(None)

    async def send(self, customer: int) -> None:
        self.count += 1
        client_id = f"m{self.count}"
        done = asyncio.get_running_loop().create_future()
        self.waiting[client_id] = done
        await self.customers[customer].send(
            json.dumps({"type": "message", "client_id": client_id, "body": "x" * 64})
        )
        await asyncio.wait_for(done, 120)


async def run(args: argparse.Namespace) -> dict[str, float]:
    data_dir = harness.new_data_dir("madoguchi-instr-")
    out_dir = data_dir / "callgrind"
    out_dir.mkdir()
    app_dir = Path(args.app_dir).resolve()
    env = dict(os.environ)
    env.update(harness.BENCH_ENV)
    env.update(
        {
            "MADOGUCHI_SQLITE_SYNCHRONOUS": "NORMAL",
            "MADOGUCHI_DATA_DIR": str(data_dir),
            # Same hashing in every run: set and dict orders, and so the work, repeat.
            "PYTHONHASHSEED": "0",
        }
    )
    python = args.python
    subprocess.run(  # noqa: S603
        [python, "-m", "app.cli", "create-admin", "--email", harness.ADMIN_EMAIL, "--password",
         harness.ADMIN_PASSWORD, "--data-dir", str(data_dir)],
        cwd=app_dir, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    port = harness.free_port()
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        *(["--separate-threads=yes"] if args.threads else []),
        f"--callgrind-out-file={out_dir}/cg.%p",
        python,
        "-m",
        "app.cli",
        "serve",
        "--host",
        harness.HOST,
        "--port",
        str(port),
        "--smtp-port",
        "0",
        "--data-dir",
        str(data_dir),
    ]
    server = harness.ServerProcess(
        "madoguchi", argv, port, args.server_core, env=env, cwd=app_dir,
        log_path=data_dir / "server.log",
    )  # fmt: skip
    server.start()
    results: dict[str, float] = {}
    api = harness.Api(port)
    try:
        await server.wait_ready(timeout=600)
        counter = Counter(server.pid, out_dir)
        await api.login_admin()
        agent_ids, agent_tokens = [], []
        for j in range(2):
            agent_id, token = await api.create_agent(j)
            agent_ids.append(agent_id)
            agent_tokens.append(token)
        _, widget_key = await api.create_web_inbox(responders_off=True)
        tokens = await api.create_sessions(widget_key, args.customers + args.handshakes, 4)
        agents = [await dial(port, "/ws/agent", t) for t in agent_tokens]
        customers = []
        for token in tokens[: args.customers]:
            ws = await dial(port, "/ws/widget", token)
            await until(ws, {"availability", "status"})
            customers.append(ws)
        chat = Chat(customers, agents)
        for i in range(args.customers):  # each customer's conversation opens
            await chat.send(i)
        for k, conversation_id in enumerate(await api.unassigned_conversations()):
            await api.assign(conversation_id, agent_ids[k % len(agent_ids)])
        for i in range(args.customers):  # warm: every path has run once
            await chat.send(i)
        await asyncio.sleep(1)

        before = counter.start()
        opened = []
        for token in tokens[args.customers :]:
            ws = await dial(port, "/ws/widget", token)
            await until(ws, {"availability", "status"})
            opened.append(ws)
        results["handshake"] = counter.stop(before) / args.handshakes
        for ws in opened:
            await ws.close()
        await asyncio.sleep(1)

        before = counter.start()
        for k in range(args.messages):
            await chat.send(k % args.customers)
        results["one-by-one"] = counter.stop(before) / args.messages

        before = counter.start()
        sent = 0
        while sent < args.messages:
            burst = min(args.customers, args.messages - sent)
            await asyncio.gather(*(chat.send(i) for i in range(burst)))
            sent += burst
        results["burst"] = counter.stop(before) / args.messages
        for task in chat.readers:
            task.cancel()
    finally:
        await api.close()
        server.stop(grace=30)
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--app-dir", default=str(harness.REPO_DIR), help="checkout to serve")
    parser.add_argument("--python", default=os.environ.get("MADOGUCHI_BENCH_PYTHON", "python"))
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--handshakes", type=int, default=20)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--json-out", default="")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument(
        "--threads", action="store_true", help="one dump per thread (kept with --keep-data)"
    )
    args = parser.parse_args()
    if shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (callgrind_control not on PATH)")
    started = time.monotonic()
    results = asyncio.run(run(args))
    print(f"server: {args.app_dir} ({harness.code_version()})")
    for step, instructions in results.items():
        unit = "handshake" if step == "handshake" else "message"
        print(f"{step:12s} {instructions / 1e6:8.2f} M instructions per {unit}")
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
