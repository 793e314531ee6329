"""Customer -> agent chat round trip over loopback: Madoguchi against a bare echo server.

N widget clients and M agents. Each customer message carries its scheduled
send time in its body; a message counts once the customer holds its `ack`
(stored) AND its agent holds the `message.created` (delivered). Latency is
delivery time minus *scheduled* time, so a stalled sender or server shows up
as latency (no coordinated omission).

Per target, two phases:
  (a) saturation: every customer keeps `--window` messages in flight
      (closed loop), or open loop at `--max-rate` when given;
  (b) open loop at half of Madoguchi's phase (a) throughput (or `--half-rate`),
      the same offered rate for the baseline.

The server runs pinned to core 0 (`--server-core`), this load generator to
core 1 (`--loadgen-core`). Rate limits and the access log are off.

    python bench/chat_roundtrip.py                      # N=200, M=10, 10 s phases
    python bench/chat_roundtrip.py --customers 500 --agents 20 --duration 20
    python bench/chat_roundtrip.py --sync FULL --baseline uvicorn
    python bench/chat_roundtrip.py --processes 1,2,4 --baseline none \
        --pg-url postgresql+asyncpg://USER@127.0.0.1:5432/postgres --redis-url redis://127.0.0.1:6379/0

`--database-url`: the same phases with the one pinned process on
PostgreSQL. `--processes`: after one process on SQLite, `serve --workers N` on
PostgreSQL + Redis for each N (a fresh database each), phase (a) only, not
pinned (the N processes need the cores).

`--processes 1,2 --scaled-rate R` (issue 32): only the same open-loop rate R
to one process on SQLite (the reference) and to `serve --workers N` on
PostgreSQL + Redis for each N, none pinned; for each, the CPU per delivered
message of the server's whole process tree, of Redis and of PostgreSQL (found
by their listening ports where local), the ratio --workers 2 / --workers 1 and
a calculated prediction for N processes on N cores:

    python bench/chat_roundtrip.py --processes 1,2,1,2 --scaled-rate 1000 \
        --pg-url postgresql+asyncpg://USER@127.0.0.1:5432/postgres --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness
from websockets.asyncio.client import ClientConnection, connect

loads = json.loads
dumps = json.dumps

now = time.monotonic


class Msg:
    """One customer message in flight: times on this process's monotonic clock."""

    __slots__ = ("acked", "customer", "deliveries", "delivered", "done", "sched", "sent")

    def __init__(self, customer: int, sched: float) -> None:
        self.customer = customer
        self.sched = sched
        self.sent = 0.0
        self.acked = 0.0
        self.delivered = 0.0
        self.done = 0.0
        self.deliveries = 0


@dataclass
class PhaseResult:
    target: str
    phase: str
    offered_rate: float | None  # msgs/s, None for closed loop
    window: int | None
    measured_s: float
    sent: int
    completed: int
    throughput: float  # completed per second within the measured window
    lost: int  # sent in the window, not complete when the drain ended
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ack_p50_ms: float
    ack_p99_ms: float
    send_lag_p99_ms: float
    fanout: float  # message.created frames per delivered message
    server_cpu: float  # fraction of one core
    loadgen_cpu: float
    other_cpu: float  # CPU taken by every other process on the machine, in cores
    steal: float  # CPU time the hypervisor took, in cores
    errors: dict[str, int] = field(default_factory=dict)
    done: int = 0  # messages completed within the measured window
    # Fractions of one core, where the target names their pids (--processes):
    redis_cpu: float = 0.0  # the redis-server process
    pg_cpu: float = 0.0  # the postmaster and every backend
    # --scaled-rate: the same three with the sockets open and no traffic (cores)
    idle_server_cpu: float = 0.0
    idle_redis_cpu: float = 0.0
    idle_pg_cpu: float = 0.0


@dataclass
class Target:
    name: str
    port: int
    pid: int
    widget_tokens: list[str]
    agent_tokens: list[str]
    redis_pid: int = 0  # measured too where known (0: not used or not local)
    pg_pid: int = 0  # the postmaster: its whole tree is measured


class LoadGen:
    """The clients of one target: N customer sockets, M agent sockets, readers."""

    def __init__(self, target: Target, body_size: int) -> None:
        self.target = target
        self.body_pad = "x" * max(0, body_size - 32)
        self.customers: list[ClientConnection] = []
        self.agents: list[ClientConnection] = []
        self.msgs: dict[str, Msg] = {}
        self.sems: list[asyncio.Semaphore] = []
        self.closed_loop = False
        self.errors: Counter[str] = Counter()
        self.conversation_of: dict[int, int] = {}  # customer index -> conversation id
        self.readers: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        base = f"ws://{harness.HOST}:{self.target.port}"

        async def dial(path: str, token: str) -> ClientConnection:
            return await connect(
                f"{base}{path}?token={token}",
                compression=None,
                proxy=None,
                ping_interval=None,
                max_queue=1024,
                open_timeout=30,
            )

        self.agents = [await dial("/ws/agent", t) for t in self.target.agent_tokens]
        sem = asyncio.Semaphore(50)

        async def dial_customer(token: str) -> ClientConnection:
            async with sem:
                return await dial("/ws/widget", token)

        self.customers = list(
            await asyncio.gather(*(dial_customer(t) for t in self.target.widget_tokens))
        )
        self.sems = [asyncio.Semaphore(0) for _ in self.customers]
        for ws in self.agents:
            self.readers.append(asyncio.create_task(self.read_agent(ws)))
        for ws in self.customers:
            self.readers.append(asyncio.create_task(self.read_customer(ws)))

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        for ws in [*self.customers, *self.agents]:
            ws.transport.abort()

    def complete(self, msg: Msg, t: float) -> None:
        msg.done = t
        if self.closed_loop:
            self.sems[msg.customer].release()

    async def read_customer(self, ws: ClientConnection) -> None:
        msgs = self.msgs
        async for raw in ws:
            frame = loads(raw)
            kind = frame.get("type")
            if kind == "ack":
                msg = msgs.get(frame.get("client_id"))
                if msg is not None and not msg.acked:
                    t = now()
                    msg.acked = t
                    if msg.delivered:
                        self.complete(msg, t)
            elif kind == "error":
                self.errors[str(frame.get("code"))] += 1

    async def read_agent(self, ws: ClientConnection) -> None:
        msgs = self.msgs
        async for raw in ws:
            frame = loads(raw)
            if frame.get("type") != "message.created":
                if frame.get("type") == "error":
                    self.errors["agent:" + str(frame.get("code"))] += 1
                continue
            message: dict[str, Any] = frame.get("message") or {}
            msg = msgs.get(str(message.get("client_id")))
            if msg is None:
                continue
            msg.deliveries += 1
            if msg.delivered:
                continue
            t = now()
            # The latency clock starts at the time written in the body.
            body = str(message.get("body", ""))
            if body.startswith("t="):
                msg.sched = float(body[2 : body.index(" ")])
            msg.delivered = t
            self.conversation_of.setdefault(msg.customer, int(frame["conversation_id"]))
            if msg.acked:
                self.complete(msg, t)

    async def send(self, customer: int, sched: float) -> Msg:
        client_id = str(uuid.uuid4())
        msg = Msg(customer, sched)
        self.msgs[client_id] = msg
        frame = dumps(
            {
                "type": "message",
                "client_id": client_id,
                "body": f"t={sched:.6f} c={customer} {self.body_pad}",
            }
        )
        msg.sent = now()
        await self.customers[customer].send(frame)
        return msg

    async def warm_up(self, timeout: float = 60.0) -> None:
        """One message per customer, to open every conversation before measuring."""
        self.msgs.clear()
        t = now()
        for i in range(len(self.customers)):
            await self.send(i, t)
        deadline = now() + timeout
        while now() < deadline:
            if all(m.acked and m.delivered for m in self.msgs.values()):
                break
            await asyncio.sleep(0.05)
        missing = sum(1 for m in self.msgs.values() if not (m.acked and m.delivered))
        if missing:
            raise RuntimeError(f"warm-up: {missing} of {len(self.msgs)} not acked+delivered")
        self.msgs.clear()

    async def run_phase(
        self,
        phase: str,
        *,
        rate: float | None,
        window: int,
        warm: float,
        duration: float,
        drain: float,
        on_measure_start: Callable[[], None] | None = None,
    ) -> PhaseResult:
        self.msgs.clear()
        self.errors.clear()
        n = len(self.customers)
        t0 = now() + 0.05
        tm0 = t0 + warm
        tm1 = tm0 + duration
        marks: dict[str, float] = {}

        def services(suffix: str) -> None:
            # The server's whole tree: `serve --workers N` is a master and N workers.
            marks["cpu_s" + suffix] = harness.tree_cpu_seconds(self.target.pid)
            if self.target.redis_pid:
                marks["redis" + suffix] = harness.tree_cpu_seconds(self.target.redis_pid)
            if self.target.pg_pid:
                marks["pg" + suffix] = harness.tree_cpu_seconds(self.target.pg_pid)

        async def mark_measure_window() -> None:
            await asyncio.sleep(max(0.0, tm0 - now()))
            services("0")
            marks["lg_s0"] = harness.self_cpu_seconds()
            marks["sys0"], marks["steal0"] = harness.system_cpu_seconds()
            marks["w0"] = now()
            if on_measure_start is not None:
                on_measure_start()
            await asyncio.sleep(max(0.0, tm1 - now()))
            services("1")
            marks["lg_s1"] = harness.self_cpu_seconds()
            marks["sys1"], marks["steal1"] = harness.system_cpu_seconds()
            marks["w1"] = now()

        marker = asyncio.create_task(mark_measure_window())
        if rate is None:
            self.closed_loop = True
            self.sems = [asyncio.Semaphore(window) for _ in self.customers]
            await self._closed_loop(t0, tm1)
        else:
            self.closed_loop = False
            await self._open_loop(t0, tm1, rate, n)
        await marker
        sent_in = [m for m in self.msgs.values() if tm0 <= m.sched < tm1]
        drain_deadline = now() + drain
        while now() < drain_deadline and any(not m.done for m in sent_in):
            await asyncio.sleep(0.05)
        self.closed_loop = False
        return self._summarise(phase, rate, window, sent_in, marks, tm0, tm1)

    async def _open_loop(self, t0: float, t_end: float, rate: float, n: int) -> None:
        await asyncio.sleep(max(0.0, t0 - now()))
        k = 0
        total = int((t_end - t0) * rate)
        while k < total:
            due = min(total, int((now() - t0) * rate) + 1)
            while k < due:
                await self.send(k % n, t0 + k / rate)
                k += 1
            # Sleep until the next message is due, 1 ms at least (the loop's
            # timer resolution: shorter sleeps spin). Overdue messages go out at
            # once and keep their scheduled time, so any lag counts as latency.
            await asyncio.sleep(max(0.001, t0 + k / rate - now()))

    async def _closed_loop(self, t0: float, t_end: float) -> None:
        await asyncio.sleep(max(0.0, t0 - now()))

        async def client(i: int) -> None:
            sem = self.sems[i]
            while True:
                await sem.acquire()
                t = now()
                if t >= t_end:
                    return
                await self.send(i, t)

        tasks = [asyncio.create_task(client(i)) for i in range(len(self.customers))]
        await asyncio.sleep(max(0.0, t_end - now()))
        await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _summarise(
        self,
        phase: str,
        rate: float | None,
        window: int,
        sent_in: list[Msg],
        marks: dict[str, float],
        tm0: float,
        tm1: float,
    ) -> PhaseResult:
        measured = marks["w1"] - marks["w0"]
        done_in = sum(1 for m in self.msgs.values() if m.done and tm0 <= m.done < tm1)
        complete = [m for m in sent_in if m.done]
        lat = sorted((m.delivered - m.sched) * 1000 for m in complete)
        ack = sorted((m.acked - m.sched) * 1000 for m in complete)
        lag = sorted((m.sent - m.sched) * 1000 for m in sent_in)
        lost = len(sent_in) - len(complete)
        delivered = [m for m in self.msgs.values() if m.delivered]
        fanout = sum(m.deliveries for m in delivered) / len(delivered) if delivered else 0.0
        # Lost messages have no latency; count them as worse than any measured one.
        inf = float("inf")
        lat_all = lat + [inf] * lost
        p = harness.percentile
        server_cpu = marks["cpu_s1"] - marks["cpu_s0"]
        loadgen_cpu = marks["lg_s1"] - marks["lg_s0"]
        redis_cpu = marks.get("redis1", 0.0) - marks.get("redis0", 0.0)
        pg_cpu = marks.get("pg1", 0.0) - marks.get("pg0", 0.0)
        other = marks["sys1"] - marks["sys0"] - server_cpu - loadgen_cpu - redis_cpu - pg_cpu
        return PhaseResult(
            target=self.target.name,
            phase=phase,
            offered_rate=rate,
            window=window if rate is None else None,
            measured_s=measured,
            sent=len(sent_in),
            completed=len(complete),
            throughput=done_in / measured if measured else 0.0,
            lost=lost,
            p50_ms=p(lat_all, 50),
            p90_ms=p(lat_all, 90),
            p99_ms=p(lat_all, 99),
            max_ms=lat_all[-1] if lat_all else float("nan"),
            ack_p50_ms=p(ack, 50),
            ack_p99_ms=p(ack, 99),
            send_lag_p99_ms=p(lag, 99),
            fanout=fanout,
            server_cpu=server_cpu / measured,
            loadgen_cpu=loadgen_cpu / measured,
            other_cpu=max(0.0, other) / measured,
            steal=(marks["steal1"] - marks["steal0"]) / measured,
            errors=dict(self.errors),
            done=done_in,
            redis_cpu=redis_cpu / measured if measured else 0.0,
            pg_cpu=pg_cpu / measured if measured else 0.0,
        )


# --------------------------------------------------------------------------
# Targets


async def setup_madoguchi(
    api: harness.Api, customers: int, agents: int, pid: int, port: int
) -> tuple[Target, list[int]]:
    await api.login_admin()
    agent_ids: list[int] = []
    agent_tokens: list[str] = []
    for j in range(agents):
        agent_id, token = await api.create_agent(j)
        agent_ids.append(agent_id)
        agent_tokens.append(token)
    _, widget_key = await api.create_web_inbox(responders_off=True)
    widget_tokens = await api.create_sessions(widget_key, customers)
    return Target("madoguchi", port, pid, widget_tokens, agent_tokens), agent_ids


async def assign_round_robin(api: harness.Api, gen: LoadGen, agent_ids: list[int]) -> int:
    """Give each still unassigned conversation to agent (customer index mod M)."""
    by_conversation = {conv: cust for cust, conv in gen.conversation_of.items()}
    unassigned = await api.unassigned_conversations()
    for k, conversation_id in enumerate(unassigned):
        customer = by_conversation.get(conversation_id, k)
        await api.assign(conversation_id, agent_ids[customer % len(agent_ids)])
    return len(unassigned)


async def run_target(
    args: argparse.Namespace,
    target: Target,
    half_rate: float | None,
    profile_out: Path | None = None,
) -> tuple[LoadGen, list[PhaseResult]]:
    gen = LoadGen(target, args.body_size)
    await gen.open()
    await gen.warm_up()
    return gen, await run_phases(args, gen, half_rate, profile_out)


async def run_phases(
    args: argparse.Namespace,
    gen: LoadGen,
    half_rate: float | None,
    profile_out: Path | None = None,
) -> list[PhaseResult]:
    results: list[PhaseResult] = []
    profilers: list[subprocess.Popen[bytes]] = []

    def profiler_for(phase: str) -> Callable[[], None]:
        def start() -> None:
            if profile_out is None:
                return
            out = profile_out.with_name(f"{profile_out.stem}.{phase}{profile_out.suffix}")
            proc = harness.start_profiler(gen.target.pid, args.duration, out)
            if proc is not None:
                profilers.append(proc)

        return start

    def wait_profilers() -> None:
        while profilers:
            profilers.pop().wait(timeout=args.duration + 30)

    sat = await gen.run_phase(
        "saturation",
        rate=args.max_rate,
        window=args.window,
        warm=args.warm,
        duration=args.duration,
        drain=args.drain,
        on_measure_start=profiler_for("saturation"),
    )
    results.append(sat)
    print_row(sat)
    wait_profilers()
    rate = half_rate if half_rate is not None else max(1.0, sat.throughput / 2)
    half = await gen.run_phase(
        "half-rate",
        rate=rate,
        window=args.window,
        warm=args.warm,
        duration=args.duration,
        drain=args.drain,
        on_measure_start=profiler_for("half-rate"),
    )
    wait_profilers()
    results.append(half)
    print_row(half)
    return results


# --------------------------------------------------------------------------
# Output


HEADER = (
    f"{'target':<22}{'phase':<11}{'offered/s':>10}{'done/s':>9}{'lost':>6}"
    f"{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>9}{'ack99':>7}{'lag99':>7}"
    f"{'fan':>5}{'srvCPU':>7}{'lgCPU':>6}{'other':>6}"
)


def fmt_ms(value: float) -> str:
    if value == float("inf"):
        return "lost"
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def print_row(r: PhaseResult) -> None:
    offered = f"{r.offered_rate:.0f}" if r.offered_rate is not None else f"w={r.window}"
    print(
        f"{r.target:<22}{r.phase:<11}{offered:>10}{r.throughput:>9.0f}{r.lost:>6}"
        f"{fmt_ms(r.p50_ms):>8}{fmt_ms(r.p90_ms):>8}{fmt_ms(r.p99_ms):>8}"
        f"{fmt_ms(r.max_ms):>9}{fmt_ms(r.ack_p99_ms):>7}{fmt_ms(r.send_lag_p99_ms):>7}"
        f"{r.fanout:>5.2f}{r.server_cpu:>7.0%}{r.loadgen_cpu:>6.0%}"
        f"{r.other_cpu + r.steal:>6.0%}" + (f"  errors={r.errors}" if r.errors else ""),
        flush=True,
    )


def ratio(a: float, b: float) -> str:
    if not b or b != b or a != a or b == float("inf") or a == float("inf"):
        return "n/a"
    return f"{a / b:.2f}"


def print_ratios(server: list[PhaseResult], base: list[PhaseResult]) -> None:
    s_sat, s_half = server
    b_sat, b_half = base
    print()
    print(f"ratios madoguchi / {b_sat.target}:")
    print(
        f"  saturation throughput      {ratio(s_sat.throughput, b_sat.throughput):>6}"
        f"   ({s_sat.throughput:.0f} vs {b_sat.throughput:.0f} msgs/s)"
    )
    print(
        f"  half-rate p50 latency      {ratio(s_half.p50_ms, b_half.p50_ms):>6}"
        f"   ({fmt_ms(s_half.p50_ms)} vs {fmt_ms(b_half.p50_ms)} ms"
        f" at {s_half.offered_rate or 0:.0f} msgs/s)"
    )
    print(
        f"  half-rate p99 latency      {ratio(s_half.p99_ms, b_half.p99_ms):>6}"
        f"   ({fmt_ms(s_half.p99_ms)} vs {fmt_ms(b_half.p99_ms)} ms)"
    )


def print_targets(server: list[PhaseResult]) -> None:
    s_sat, s_half = server
    print()
    print("targets:")
    print(
        f"  >= 10000 msgs/s stored+delivered   {s_sat.throughput:>8.0f}   "
        + ("hit" if s_sat.throughput >= 10000 else "MISS")
    )
    print(
        f"  p99 <= 25 ms at half rate          {fmt_ms(s_half.p99_ms):>8}   "
        + ("hit" if s_half.p99_ms <= 25 and s_half.lost == 0 else "MISS")
    )


# --------------------------------------------------------------------------


async def amain(args: argparse.Namespace) -> int:
    loop_name = type(asyncio.get_running_loop()).__module__.split(".")[0]
    pinned = harness.pin_self(args.loadgen_core)
    print(
        f"machine: {harness.cpu_count()} cores ({platform.processor() or platform.machine()}),"
        f" python {platform.python_version()}, load generator loop: {loop_name},"
        f" pinned to core {args.loadgen_core if pinned else 'none'};"
        + (
            " servers not pinned"
            if args.scaled_rate is not None
            else f" servers pinned to core {args.server_core}"
        )
    )
    print(
        f"customers N={args.customers}  agents M={args.agents}  window={args.window}"
        f"  body={args.body_size} B  warm={args.warm}s  measured={args.duration}s"
        f"  drain={args.drain}s"
    )
    storage = (
        "PostgreSQL (a fresh database on --database-url)"
        if args.database_url
        else f"SQLite WAL, synchronous={args.sync}"
    )
    print(
        f"madoguchi: {storage}, rate limits off, access log off,"
        f" responders off where PUT responders works;"
        f" command: {' '.join(harness.madoguchi_command())};"
        f" code {harness.code_version()}"
    )
    print()
    print(HEADER)
    all_results: list[PhaseResult] = []

    server_results: list[PhaseResult] = []
    extra_results: list[PhaseResult] = []
    if not args.skip_server and args.scaled_rate is None:
        data_dir = harness.new_data_dir("madoguchi-bench-")
        port = harness.free_port()
        main_env = (await harness.new_store(data_dir, args.database_url)).server_env() or None
        server = harness.start_madoguchi(
            port, args.server_core, data_dir, args.sync, extra_env=main_env
        )
        api = harness.Api(port)
        gen: LoadGen | None = None
        try:
            await server.wait_ready(timeout=60)
            target, agent_ids = await setup_madoguchi(
                api, args.customers, args.agents, server.pid, port
            )
            gen = LoadGen(target, args.body_size)
            await gen.open()
            await gen.warm_up()
            assigned = await assign_round_robin(api, gen, agent_ids)
            if assigned:
                print(f"  (assigned {assigned} waiting conversations round-robin)")
            profile_out = Path(args.profile) if args.profile else None
            server_results = await run_phases(args, gen, args.half_rate, profile_out)
            for extra in args.extra_rates:
                row = await gen.run_phase(
                    "extra",
                    rate=extra,
                    window=args.window,
                    warm=args.warm,
                    duration=args.duration,
                    drain=args.drain,
                )
                print_row(row)
                extra_results.append(row)
            rss = harness.rss_kib(server.pid)
            print(f"  madoguchi RSS after run: {rss / 1024:.0f} MiB; data dir {data_dir}")
        except BaseException:
            print(server.log_tail(40), file=sys.stderr)
            raise
        finally:
            if gen is not None:
                await gen.close()
            await api.close()
            server.stop()
            if not args.keep_data:
                harness.remove_dir(data_dir)
        all_results += server_results + extra_results

    if args.scaled_rate is not None:
        all_results += await run_cpu_per_message(args)
    else:
        for workers in args.processes:
            all_results.append(await run_scaled(args, workers))

    half = args.half_rate
    if half is None and server_results:
        half = server_results[1].offered_rate
    base_results: list[PhaseResult] = []
    for impl in (
        []
        if args.baseline == "none" or args.scaled_rate is not None
        else ["websockets", "uvicorn"]
        if args.baseline == "both"
        else [args.baseline]
    ):
        port = harness.free_port()
        echo = harness.start_echo_server(impl, port, args.server_core, args.agents)
        try:
            await echo.wait_ready(timeout=30)
            target = Target(
                f"echo ({impl})",
                port,
                echo.pid,
                [f"c{i}:{i % args.agents}" for i in range(args.customers)],
                [f"a{j}" for j in range(args.agents)],
            )
            gen, results = await run_target(args, target, half)
            await gen.close()
        finally:
            echo.stop()
        base_results.append(results[0])
        base_results.append(results[1])
        all_results += results

    if server_results:
        for k in range(0, len(base_results), 2):
            print_ratios(server_results, base_results[k : k + 2])
        print_targets(server_results)
        if base_results:
            share = server_results[0].throughput / base_results[0].throughput
            print(
                f"  >= 15% of bare echo throughput     {share:>8.0%}   "
                + ("hit" if share >= 0.15 else "MISS")
            )
    print()
    print(
        "done/s: messages acked to the customer AND delivered to the agent, per second,"
        " in the measured window;\nlatency: customer scheduled send -> agent receives"
        " message.created; ack99: scheduled send -> ack (p99);\nlag99: scheduled -> actually"
        " written by the load generator (p99); fan: message.created frames per message;\n"
        "srvCPU/lgCPU: CPU used by the server / the load generator, as a share of one core;\n"
        "other: CPU used by every other process plus hypervisor steal (noise; want ~0%)."
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {"args": vars(args), "results": [asdict(r) for r in all_results]},
                indent=2,
                default=str,
            )
        )
    return 0


def _local_listener(url: str, default_port: int) -> int:
    """The pid serving url when it is on this machine's loopback (else 0)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("postgresql+asyncpg", "postgresql"))
    if parts.hostname not in (harness.HOST, "localhost"):
        return 0
    return harness.listening_pid(parts.port or default_port) or 0


async def run_scaled(
    args: argparse.Namespace, workers: int, rate: float | None = None, sqlite: bool = False
) -> PhaseResult:
    """`serve --workers N` on PostgreSQL + Redis, not pinned: the saturation
    phase, or open loop at `rate`. `sqlite`: one process on the embedded
    default instead (the reference). Redis and PostgreSQL on this machine are
    measured too (their pids found by their listening ports)."""
    if not sqlite and (not args.pg_url or not args.redis_url):
        raise SystemExit("--processes needs --pg-url and --redis-url")
    data_dir = harness.new_data_dir("madoguchi-bench-scaled-")
    port = harness.free_port()
    env: dict[str, str] = {}
    extra_args: list[str] = []
    if not sqlite:
        env = {
            **(await harness.new_store(data_dir, args.pg_url)).server_env(),
            "MADOGUCHI_REDIS_URL": args.redis_url,
        }
        extra_args = ["--workers", str(workers)]
    server = harness.start_madoguchi(
        port, -1, data_dir, args.sync, extra_env=env, extra_args=extra_args
    )
    api = harness.Api(port)
    gen: LoadGen | None = None
    try:
        await server.wait_ready(timeout=90)
        await asyncio.sleep(2.0)  # every worker up, not only the first to answer
        target, agent_ids = await setup_madoguchi(
            api, args.customers, args.agents, server.pid, port
        )
        if sqlite:
            target = dataclasses.replace(target, name="sqlite x1 (reference)")
        else:
            target = dataclasses.replace(
                target,
                name=f"postgres+redis x{workers}",
                redis_pid=_local_listener(args.redis_url, 6379),
                pg_pid=_local_listener(args.pg_url, 5432),
            )
        gen = LoadGen(target, args.body_size)
        await gen.open()
        await gen.warm_up()
        await assign_round_robin(api, gen, agent_ids)
        idle = await idle_cpu(target, IDLE_SECONDS) if rate is not None else (0.0, 0.0, 0.0)
        profilers: list[subprocess.Popen[bytes]] = []

        def profile_every_process() -> None:
            # --profile with --scaled-rate: py-spy on each process of the tree
            # (it competes for the cores: read CPU figures from unprofiled runs).
            if not args.profile or rate is None:
                return
            out = Path(args.profile)
            label = "sqlite" if sqlite else f"x{workers}"
            for k, pid in enumerate(harness.process_tree(server.pid)):
                name = out.with_name(f"{out.stem}.{label}-{k}{out.suffix}")
                proc = harness.start_profiler(pid, args.duration, name)
                if proc is not None:
                    profilers.append(proc)

        row = await gen.run_phase(
            "a" if rate is None and args.max_rate is None else "rate",
            rate=rate if rate is not None else args.max_rate,
            window=args.window,
            warm=args.warm,
            duration=args.duration,
            drain=args.drain,
            on_measure_start=profile_every_process,
        )
        for proc in profilers:
            proc.wait(timeout=args.duration + 30)
        row.idle_server_cpu, row.idle_redis_cpu, row.idle_pg_cpu = idle
        print_row(row)
        return row
    except BaseException:
        print(server.log_tail(40), file=sys.stderr)
        raise
    finally:
        if gen is not None:
            await gen.close()
        await api.close()
        server.stop()
        harness.remove_dir(data_dir)


IDLE_SECONDS = 3.0


async def idle_cpu(target: Target, seconds: float) -> tuple[float, float, float]:
    """Cores used by the server tree, Redis and PostgreSQL with every socket
    open and no message sent: the fixed cost (timers, heartbeats, pings)."""

    def read() -> tuple[float, float, float]:
        tree = harness.tree_cpu_seconds
        return (
            tree(target.pid),
            tree(target.redis_pid) if target.redis_pid else 0.0,
            tree(target.pg_pid) if target.pg_pid else 0.0,
        )

    await asyncio.sleep(1.0)  # the warm-up's and assignment's tail
    t0, before = now(), read()
    await asyncio.sleep(seconds)
    t1, after = now(), read()
    span = t1 - t0
    s0, r0, p0 = before
    s1, r1, p1 = after
    return (s1 - s0) / span, (r1 - r0) / span, (p1 - p0) / span


async def run_cpu_per_message(args: argparse.Namespace) -> list[PhaseResult]:
    """`--scaled-rate R`: the same open-loop rate to one process on SQLite (the
    reference), then to `serve --workers N` on PostgreSQL + Redis for each N of
    `--processes` (in that order, e.g. 1,2,1,2 to interleave), then the CPU
    per delivered message of each and the prediction for N processes."""
    rate = float(args.scaled_rate)
    rows = [await run_scaled(args, 1, rate=rate, sqlite=True)]
    for workers in args.processes:
        rows.append(await run_scaled(args, workers, rate=rate))
    print_cpu_per_message(rows)
    return rows


def per_message_ms(cores: float, row: PhaseResult) -> float:
    """CPU ms per delivered message from a share of one core over the window."""
    return cores * row.measured_s / row.done * 1000 if row.done else float("nan")


@dataclass
class CpuPerMessage:
    """One target's CPU per delivered message, repeats pooled (sums / sums)."""

    target: str
    runs: int
    done_per_s: float
    p50_ms: float
    p99_ms: float
    server_ms: float
    redis_ms: float
    pg_ms: float
    other_cores: float
    idle_server: float  # cores with no traffic (mean over the runs)
    idle_redis: float
    idle_pg: float

    @property
    def server_redis_ms(self) -> float:
        return self.server_ms + self.redis_ms

    @property
    def all_ms(self) -> float:
        return self.server_ms + self.redis_ms + self.pg_ms

    def marginal_ms(self, gross_ms: float, idle_cores: float) -> float:
        """Per message, less the CPU the same processes use with no traffic."""
        if not self.done_per_s:
            return float("nan")
        return gross_ms - idle_cores * 1000 / self.done_per_s


def pool_cpu(rows: list[PhaseResult]) -> CpuPerMessage:
    done = sum(r.done for r in rows)
    seconds = sum(r.measured_s for r in rows)

    def ms(attr: str) -> float:
        cpu = sum(getattr(r, attr) * r.measured_s for r in rows)
        return cpu / done * 1000 if done else float("nan")

    return CpuPerMessage(
        target=rows[0].target,
        runs=len(rows),
        done_per_s=done / seconds if seconds else 0.0,
        p50_ms=max(r.p50_ms for r in rows),
        p99_ms=max(r.p99_ms for r in rows),
        server_ms=ms("server_cpu"),
        redis_ms=ms("redis_cpu"),
        pg_ms=ms("pg_cpu"),
        other_cores=sum((r.other_cpu + r.steal) * r.measured_s for r in rows) / seconds
        if seconds
        else 0.0,
        idle_server=sum(r.idle_server_cpu for r in rows) / len(rows),
        idle_redis=sum(r.idle_redis_cpu for r in rows) / len(rows),
        idle_pg=sum(r.idle_pg_cpu for r in rows) / len(rows),
    )


def print_cpu_per_message(rows: list[PhaseResult]) -> None:
    by_target: dict[str, list[PhaseResult]] = {}
    for row in rows:
        by_target.setdefault(row.target, []).append(row)
    pooled = {name: pool_cpu(group) for name, group in by_target.items()}
    print()
    print(
        "CPU per delivered message, ms, in the measured window (server: the whole"
        " process tree, master + workers; redis: redis-server; postgres: the"
        " postmaster + every backend):"
    )
    print(
        f"{'target':<24}{'runs':>5}{'done/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'server':>8}"
        f"{'redis':>7}{'postgres':>9}{'srv+redis':>10}{'all':>7}{'other':>7}"
    )
    for c in pooled.values():
        print(
            f"{c.target:<24}{c.runs:>5}{c.done_per_s:>8.0f}{fmt_ms(c.p50_ms):>8}"
            f"{fmt_ms(c.p99_ms):>8}{c.server_ms:>8.3f}{c.redis_ms:>7.3f}{c.pg_ms:>9.3f}"
            f"{c.server_redis_ms:>10.3f}{c.all_ms:>7.3f}{c.other_cores:>7.0%}"
        )
    print()
    print(
        "with no traffic (sockets open, 3 s before the phase), in cores; and the ms per"
        " message above less that fixed part (marginal):"
    )
    print(
        f"{'target':<24}{'idle srv':>9}{'redis':>7}{'postgres':>9}"
        f"{'marg srv+redis':>15}{'marg pg':>9}"
    )
    for c in pooled.values():
        print(
            f"{c.target:<24}{c.idle_server:>9.1%}{c.idle_redis:>7.1%}{c.idle_pg:>9.1%}"
            f"{c.marginal_ms(c.server_redis_ms, c.idle_server + c.idle_redis):>15.3f}"
            f"{c.marginal_ms(c.pg_ms, c.idle_pg):>9.3f}"
        )
    one = pooled.get("postgres+redis x1")
    two = pooled.get("postgres+redis x2")
    if one is None or two is None:
        return
    over = two.server_redis_ms / one.server_redis_ms
    print()
    print("ratios --workers 2 / --workers 1 (CPU per delivered message, same offered rate):")
    print(
        f"  server + Redis        {over:>6.2f}"
        f"   ({two.server_redis_ms:.3f} vs {one.server_redis_ms:.3f} ms)"
    )
    print(f"  with PostgreSQL       {two.all_ms / one.all_ms:>6.2f}")
    print(f"  target <= 1.3x        {over:>6.2f}   " + ("hit" if over <= 1.3 else "MISS"))
    print_prediction(one, two, pooled.get("sqlite x1 (reference)"))


def print_prediction(one: CpuPerMessage, two: CpuPerMessage, sqlite: CpuPerMessage | None) -> None:
    """The calculation from the measured parts (not a measurement).

    Every process receives every event on the one Redis channel (its own
    too, dropped by origin), and Redis sends each to every process: the
    per-message CPU of server + Redis is taken as linear in N,
    c(N) = a + b N, with b = c(2) - c(1) the cost of one more process, and
    PostgreSQL's per-message CPU p as flat (one insert per message, whoever
    does it)."""
    b = max(0.0, two.server_redis_ms - one.server_redis_ms)
    a = one.server_redis_ms - b
    redis_b = max(0.0, two.redis_ms - one.redis_ms)
    p = (one.pg_ms + two.pg_ms) / 2
    print()
    print("PREDICTION (a calculation from the figures above, not a measurement):")
    print(
        f"  c(N) = server+Redis ms/msg = {a:.3f} + {b:.3f} N  (b = c(2) - c(1):"
        " each process decodes every event from the one channel);"
    )
    print(
        f"  PostgreSQL p = {p:.3f} ms/msg, flat; Redis alone r(N) = {one.redis_ms - redis_b:.3f}"
        f" + {redis_b:.3f} N ms/msg on its one thread."
    )
    print(
        "  msgs/s on N cores with PostgreSQL and Redis on them too = 1000 N / (c(N) + p),"
        " capped by Redis's one thread at 1000 / r(N);"
    )
    print("  flat = at --workers 2's per-message CPU for every N: 1000 N / (c(2) + p).")
    print(
        f"{'N':>6}{'c(N) ms':>9}{'+p ms':>8}{'msgs/s':>9}{'speed-up':>10}{'flat':>8}"
        f"{'pg share':>10}{'redis cap':>11}"
    )
    base = 1000 / (one.server_redis_ms + p)
    for n in (1, 2, 4, 8, 16, 32):
        c = a + b * n
        rn = one.redis_ms - redis_b + redis_b * n
        cap = 1000 / rn if rn > 0 else float("inf")
        rate = min(1000 * n / (c + p), cap)
        flat = 1000 * n / (two.server_redis_ms + p)
        print(
            f"{n:>6}{c:>9.3f}{c + p:>8.3f}{rate:>9.0f}{rate / base:>10.2f}"
            f"{flat:>8.0f}{p / (c + p):>10.0%}{cap:>11.0f}"
        )
    if b > 0:
        print(
            f"  limit as N grows: 1000 / b = {1000 / b:.0f} msgs/s (every process"
            " decoding every other's events)"
        )
    if sqlite is not None and sqlite.all_ms > 0:
        print(
            f"  one SQLite process on one core, same CPU per message: {1000 / sqlite.all_ms:.0f}"
            " msgs/s"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--customers", "-n", type=int, default=200, help="widget clients N")
    parser.add_argument("--agents", "-m", type=int, default=10, help="agent clients M")
    parser.add_argument(
        "--window", type=int, default=2, help="saturation phase: messages in flight per customer"
    )
    parser.add_argument(
        "--max-rate",
        type=float,
        default=None,
        help="run phase (a) open loop at this total msgs/s instead of saturating",
    )
    parser.add_argument(
        "--half-rate",
        type=float,
        default=None,
        help="phase (b) total msgs/s (default: half of madoguchi's phase (a))",
    )
    parser.add_argument(
        "--extra-rates",
        type=lambda text: [float(v) for v in text.split(",") if v],
        default=[],
        help="madoguchi only: more open-loop phases at these total msgs/s, e.g. 100,300",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warm", type=float, default=2.0, help="unmeasured seconds per phase")
    parser.add_argument(
        "--drain", type=float, default=5.0, help="seconds to wait for stragglers after each phase"
    )
    parser.add_argument("--body-size", type=int, default=64, help="message body bytes")
    parser.add_argument(
        "--sync",
        default="NORMAL",
        choices=("OFF", "NORMAL", "FULL"),
        help="MADOGUCHI_SQLITE_SYNCHRONOUS",
    )
    parser.add_argument(
        "--baseline", default="both", choices=("websockets", "uvicorn", "both", "none")
    )
    parser.add_argument("--skip-server", action="store_true", help="baseline only")
    parser.add_argument(
        "--processes",
        type=lambda text: [int(v) for v in text.split(",") if v],
        default=[],
        help="also serve --workers N on PostgreSQL + Redis for each N, e.g. 1,2,4",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the pinned single process on this PostgreSQL server (a fresh database)"
        " instead of SQLite, e.g. postgresql+asyncpg://USER@127.0.0.1:5432/postgres",
    )
    parser.add_argument(
        "--scaled-rate",
        type=float,
        default=None,
        help="with --processes: offer this open-loop msgs/s to one SQLite process (the"
        " reference) and to serve --workers N on PostgreSQL + Redis for each N, and report"
        " the CPU per delivered message of each (server tree, Redis, PostgreSQL) and the"
        " prediction for N processes; no other phase, no echo baseline",
    )
    parser.add_argument("--pg-url", default=None, help="PostgreSQL server for --processes")
    parser.add_argument("--redis-url", default=None, help="Redis for --processes")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--loadgen-core", type=int, default=1)
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy raw profiles of madoguchi's phases: PATH -> PATH-stem.<phase>.txt;"
        " with --scaled-rate, of each process: PATH-stem.<sqlite|xN>-<k>.txt (k=0: the master)",
    )
    parser.add_argument("--json-out", default="", help="write all results as JSON here")
    parser.add_argument("--keep-data", action="store_true", help="keep madoguchi's data dir")
    args = parser.parse_args(argv)
    if args.scaled_rate is not None and not args.processes:
        parser.error("--scaled-rate needs --processes, e.g. --processes 1,2")
    if args.duration > 60 or args.warm > 10 or args.drain > 30 or len(args.extra_rates) > 4:
        parser.error(
            "keep runs bounded: --duration <= 60, --warm <= 10, --drain <= 30,"
            " at most 4 --extra-rates"
        )
    return args


def main() -> None:
    args = parse_args()
    harness.raise_nofile(args.customers + args.agents + 1024)
    harness.install_event_loop()
    raise SystemExit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
