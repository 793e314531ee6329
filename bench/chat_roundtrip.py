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


@dataclass
class Target:
    name: str
    port: int
    pid: int
    widget_tokens: list[str]
    agent_tokens: list[str]


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

        async def mark_measure_window() -> None:
            await asyncio.sleep(max(0.0, tm0 - now()))
            marks["cpu_s0"] = harness.cpu_seconds(self.target.pid)
            marks["lg_s0"] = harness.self_cpu_seconds()
            marks["sys0"], marks["steal0"] = harness.system_cpu_seconds()
            marks["w0"] = now()
            if on_measure_start is not None:
                on_measure_start()
            await asyncio.sleep(max(0.0, tm1 - now()))
            marks["cpu_s1"] = harness.cpu_seconds(self.target.pid)
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
        other = marks["sys1"] - marks["sys0"] - server_cpu - loadgen_cpu
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
        f" servers pinned to core {args.server_core}"
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
    if not args.skip_server:
        data_dir = harness.new_data_dir("madoguchi-bench-")
        port = harness.free_port()
        main_env = (
            {"MADOGUCHI_DATABASE_URL": await fresh_database(args.database_url)}
            if args.database_url
            else None
        )
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

    for workers in args.processes:
        all_results.append(await run_scaled(args, workers))

    half = args.half_rate
    if half is None and server_results:
        half = server_results[1].offered_rate
    base_results: list[PhaseResult] = []
    for impl in (
        []
        if args.baseline == "none"
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


async def fresh_database(pg_url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    name = f"madoguchi_bench_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(pg_url.replace("postgresql+asyncpg", "postgresql"))
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(pg_url)._replace(path=f"/{name}"))


async def run_scaled(args: argparse.Namespace, workers: int) -> PhaseResult:
    """`serve --workers N` on PostgreSQL + Redis: saturation phase only."""
    if not args.pg_url or not args.redis_url:
        raise SystemExit("--processes needs --pg-url and --redis-url")
    data_dir = harness.new_data_dir("madoguchi-bench-scaled-")
    port = harness.free_port()
    env = {
        "MADOGUCHI_DATABASE_URL": await fresh_database(args.pg_url),
        "MADOGUCHI_REDIS_URL": args.redis_url,
    }
    server = harness.start_madoguchi(
        port, -1, data_dir, args.sync, extra_env=env, extra_args=["--workers", str(workers)]
    )
    api = harness.Api(port)
    gen: LoadGen | None = None
    try:
        await server.wait_ready(timeout=90)
        await asyncio.sleep(2.0)  # every worker up, not only the first to answer
        target, agent_ids = await setup_madoguchi(
            api, args.customers, args.agents, server.pid, port
        )
        target = dataclasses.replace(target, name=f"postgres+redis x{workers}")
        gen = LoadGen(target, args.body_size)
        await gen.open()
        await gen.warm_up()
        await assign_round_robin(api, gen, agent_ids)
        row = await gen.run_phase(
            "a",
            rate=args.max_rate,
            window=args.window,
            warm=args.warm,
            duration=args.duration,
            drain=args.drain,
        )
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
    parser.add_argument("--pg-url", default=None, help="PostgreSQL server for --processes")
    parser.add_argument("--redis-url", default=None, help="Redis for --processes")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--loadgen-core", type=int, default=1)
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy raw profiles of madoguchi's phases: PATH -> PATH-stem.<phase>.txt",
    )
    parser.add_argument("--json-out", default="", help="write all results as JSON here")
    parser.add_argument("--keep-data", action="store_true", help="keep madoguchi's data dir")
    args = parser.parse_args(argv)
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
