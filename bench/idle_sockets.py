"""Idle widget sockets held by one server process, and the memory each one costs.

For each target in turn (the bare `websockets` server first, then uvicorn's
raw ASGI baseline, then Madoguchi), it opens `--sockets` widget WebSockets
from this process, waits for the two frames every target sends on connect
(`availability`, `status`), holds them idle for `--hold` seconds, and reads
the server's VmRSS from /proc/PID/status before and after:

    KiB per socket = (RSS with the sockets open - RSS before) / sockets held

Madoguchi's sockets use real widget sessions, created over REST before the
"before" reading (one session per `--sockets-per-session` sockets; the default,
1, is one customer per socket). Each server runs pinned to core 0, this
process to core 1; RLIMIT_NOFILE is raised to the hard limit and inherited.

    python bench/idle_sockets.py                    # 15000 sockets
    python bench/idle_sockets.py --sockets 5000 --sockets-per-session 10
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import harness
from websockets.asyncio.client import ClientConnection, connect

OPEN_TIMEOUT = 30.0  # per socket: the handshake and the two greeting frames


@dataclass
class IdleResult:
    target: str
    wanted: int
    held: int
    failed: int
    open_s: float
    open_cpu_s: float  # server CPU seconds spent while the sockets were opening
    rss_before_kib: int
    rss_after_kib: int
    still_healthy: bool

    @property
    def delta_mib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / 1024

    @property
    def cpu_ms_per_open(self) -> float:
        opened = self.wanted - self.failed
        return 1000 * self.open_cpu_s / opened if opened else 0.0

    @property
    def kib_per_socket(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.held if self.held else 0.0


async def open_idle(
    port: int,
    tokens: list[str],
    concurrency: int,
    errors: dict[str, int],
    budget: float,
    resume: bool = False,
) -> list[ClientConnection]:
    """Open one widget socket per token; keep those that got both greeting frames
    (and, with `resume`, the `resumed` frame after a `resume` from seq 0, as a
    reconnecting widget sends).

    Handshakes not started within `budget` seconds are skipped (counted as failed).
    """
    sem = asyncio.Semaphore(concurrency)
    deadline = time.monotonic() + budget
    uri = f"ws://{harness.HOST}:{port}/ws/widget?token="

    async def one(token: str) -> ClientConnection | None:
        async with sem:
            if time.monotonic() > deadline:
                errors["not started: --open-budget spent"] = (
                    errors.get("not started: --open-budget spent", 0) + 1
                )
                return None
            try:
                async with asyncio.timeout(OPEN_TIMEOUT):
                    ws = await connect(
                        uri + token,
                        compression=None,
                        proxy=None,
                        ping_interval=None,
                        open_timeout=OPEN_TIMEOUT,
                        close_timeout=1,
                    )
                    for _ in range(2):  # availability, status
                        await ws.recv()
                    if resume:
                        await ws.send('{"type": "resume", "after_seq": 0}')
                        while '"resumed"' not in str(await ws.recv()):
                            pass
                    return ws
            except Exception as exc:  # noqa: BLE001 - counted and reported
                key = type(exc).__name__ + ": " + str(exc)[:80]
                errors[key] = errors.get(key, 0) + 1
                return None

    opened = await asyncio.gather(*(one(t) for t in tokens))
    return [ws for ws in opened if ws is not None]


def count_open(sockets: list[ClientConnection]) -> int:
    from websockets.protocol import State  # noqa: PLC0415

    return sum(1 for ws in sockets if ws.state is State.OPEN)


async def healthz(port: int) -> bool:
    import httpx  # noqa: PLC0415

    try:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            return (await client.get(f"http://{harness.HOST}:{port}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def measure(
    name: str, server: harness.ServerProcess, tokens: list[str], args: argparse.Namespace
) -> IdleResult:
    await asyncio.sleep(args.settle)
    before = harness.rss_kib(server.pid)
    errors: dict[str, int] = {}
    t0 = time.monotonic()
    cpu0 = harness.cpu_seconds(server.pid)
    profiler = None
    if args.profile and name == "madoguchi":
        profiler = harness.start_profiler(server.pid, 20, Path(args.profile))
    sockets = await open_idle(
        server.port,
        tokens,
        args.concurrency,
        errors,
        args.open_budget,
        resume=args.resume and name == "madoguchi",
    )
    open_s = time.monotonic() - t0
    open_cpu = harness.cpu_seconds(server.pid) - cpu0
    try:
        await asyncio.sleep(args.hold)
        held = count_open(sockets)
        after = harness.rss_kib(server.pid)
        healthy = await healthz(server.port)
    finally:
        for ws in sockets:
            ws.transport.abort()
    if profiler is not None:
        profiler.wait(timeout=60)
    result = IdleResult(
        name,
        len(tokens),
        held,
        len(tokens) - len(sockets),
        open_s,
        open_cpu,
        before,
        after,
        healthy,
    )
    print_row(result)
    if errors:
        for key, count in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
            print(f"    {count} x {key}")
    return result


HEADER = (
    f"{'target':<22}{'wanted':>8}{'held':>8}{'failed':>8}{'open s':>8}{'CPU ms/open':>12}"
    f"{'RSS before':>12}{'RSS after':>11}{'delta MiB':>11}{'KiB/socket':>12}  healthz"
)


def print_row(r: IdleResult) -> None:
    print(
        f"{r.target:<22}{r.wanted:>8}{r.held:>8}{r.failed:>8}{r.open_s:>8.1f}"
        f"{r.cpu_ms_per_open:>12.2f}"
        f"{r.rss_before_kib / 1024:>10.0f}Mi{r.rss_after_kib / 1024:>9.0f}Mi"
        f"{r.delta_mib:>11.1f}{r.kib_per_socket:>12.1f}  {'ok' if r.still_healthy else 'FAIL'}",
        flush=True,
    )


async def run_echo(impl: str, args: argparse.Namespace) -> IdleResult:
    port = harness.free_port()
    server = harness.start_echo_server(impl, port, args.server_core, 1)
    try:
        await server.wait_ready(timeout=30)
        tokens = [f"c{i}:0" for i in range(args.sockets)]
        return await measure(f"bare {impl}", server, tokens, args)
    finally:
        server.stop(grace=15)


async def run_madoguchi(args: argparse.Namespace) -> IdleResult:
    data_dir = harness.new_data_dir("madoguchi-idle-")
    port = harness.free_port()
    server = harness.start_madoguchi(port, args.server_core, data_dir, args.sync)
    api = harness.Api(port)
    try:
        await server.wait_ready(timeout=60)
        await api.login_admin()
        _, widget_key = await api.create_web_inbox(responders_off=True)
        sessions = -(-args.sockets // args.sockets_per_session)
        t0 = time.monotonic()
        session_tokens = await api.create_sessions(
            widget_key,
            sessions,
            concurrency=16,
            progress=lambda n: print(f"  ... {n} sessions", flush=True) if n % 5000 == 0 else None,
        )
        print(
            f"  created {sessions} widget sessions in {time.monotonic() - t0:.1f}s"
            f" ({args.sockets_per_session} socket(s) per session)",
            flush=True,
        )
        tokens = [session_tokens[i % sessions] for i in range(args.sockets)]
        await api.close()
        return await measure("madoguchi", server, tokens, args)
    except BaseException:
        print(server.log_tail(40), file=sys.stderr)
        raise
    finally:
        await api.close()
        server.stop(grace=20)
        if not args.keep_data:
            harness.remove_dir(data_dir)


async def amain(args: argparse.Namespace) -> int:
    pinned = harness.pin_self(args.loadgen_core)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(
        f"machine: {harness.cpu_count()} cores, python {platform.python_version()};"
        f" RLIMIT_NOFILE soft={soft} hard={hard} (servers inherit it);"
        f" load generator pinned to core {args.loadgen_core if pinned else 'none'},"
        f" servers to core {args.server_core}"
    )
    print(
        f"sockets={args.sockets}  handshake concurrency={args.concurrency}"
        f"  hold={args.hold}s  madoguchi: SQLite WAL synchronous={args.sync},"
        f" compression off (default); code {harness.code_version()}"
    )
    if args.sockets + 200 > soft:
        print(f"  WARNING: {args.sockets} sockets need more than RLIMIT_NOFILE={soft} allows")
    print()
    print(HEADER)
    results: list[IdleResult] = []
    for impl in args.baseline:
        results.append(await run_echo(impl, args))
        gc.collect()
    mado: IdleResult | None = None
    if not args.skip_server:
        mado = await run_madoguchi(args)
    print()
    if mado is not None:
        for base in results:
            if base.kib_per_socket > 0:
                print(
                    f"madoguchi / {base.target}: {mado.kib_per_socket / base.kib_per_socket:.2f}x"
                    f" memory per socket ({mado.kib_per_socket:.1f} vs"
                    f" {base.kib_per_socket:.1f} KiB)"
                )
        first = results[0] if results else None
        print()
        print("targets:")
        print(
            f"  >= 15000 idle sockets per process   {mado.held:>8}   "
            + (
                "hit"
                if mado.held >= 15000
                else f"n/a (asked for {mado.wanted})"
                if mado.wanted < 15000
                else "MISS"
            )
        )
        if first is not None and first.kib_per_socket > 0:
            share = mado.kib_per_socket / first.kib_per_socket
            print(
                f"  <= 2x {first.target} memory/socket {share:>8.2f}x  "
                + ("hit" if share <= 2 else "MISS")
            )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sockets", type=int, default=15000)
    parser.add_argument(
        "--sockets-per-session",
        type=int,
        default=10,
        help="madoguchi: sockets sharing one widget session (tabs)",
    )
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="madoguchi: each socket also resumes (seq 0) before it counts as open",
    )
    parser.add_argument(
        "--open-budget",
        type=float,
        default=150.0,
        help="seconds allowed for opening the sockets, per target",
    )
    parser.add_argument("--profile", default="", help="py-spy raw profile of madoguchi's opening")
    parser.add_argument("--hold", type=float, default=5.0, help="idle seconds before reading RSS")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds to wait before the 'before' RSS reading"
    )
    parser.add_argument("--sync", default="NORMAL", choices=("OFF", "NORMAL", "FULL"))
    parser.add_argument(
        "--baseline",
        nargs="*",
        default=["websockets"],
        choices=("websockets", "uvicorn"),
    )
    parser.add_argument("--skip-server", action="store_true", help="baselines only")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--loadgen-core", type=int, default=1)
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args(argv)
    if (
        args.sockets < 1
        or args.sockets > 100_000
        or args.hold > 60
        or args.settle > 30
        or args.open_budget > 300
    ):
        parser.error(
            "keep runs bounded: 1 <= --sockets <= 100000, --hold <= 60, --settle <= 30,"
            " --open-budget <= 300"
        )
    args.sockets_per_session = max(1, args.sockets_per_session)
    return args


def main() -> None:
    args = parse_args()
    # The servers inherit this limit: one fd per socket plus the database and logs.
    harness.raise_nofile(1 << 20)
    harness.install_event_loop()
    raise SystemExit(asyncio.run(amain(args)))


if __name__ == "__main__":
    main()
